package ukc

// tacticMapping is one ATT&CK tactic and the phase it maps to. The order is
// the declaration order that decides the inverse map: when several tactics
// map to one phase, the first one wins, so an Enterprise tactic is preferred
// over an ICS one.
type tacticMapping struct {
	tactic string
	phase  Phase
	ics    bool
}

var tactics = []tacticMapping{
	// ATT&CK Enterprise.
	{"TA0043", Reconnaissance, false},
	{"TA0042", ResourceDevelopment, false},
	{"TA0001", Delivery, false},
	{"TA0002", Execution, false},
	{"TA0003", Persistence, false},
	{"TA0004", PrivilegeEscalation, false},
	{"TA0005", DefenseEvasion, false},
	{"TA0006", CredentialAccess, false},
	{"TA0007", Discovery, false},
	{"TA0008", LateralMovement, false},
	{"TA0009", Collection, false},
	{"TA0011", CommandAndControl, false},
	{"TA0010", Exfiltration, false},
	{"TA0040", Impact, false},
	// ATT&CK for ICS.
	{"TA0100", Collection, true},
	{"TA0102", Discovery, true},
	{"TA0105", Impact, true},
	{"TA0106", Impact, true},
}

// PhaseForTactic maps an ATT&CK tactic ID such as "TA0007" to its phase. An
// unknown tactic returns false.
func PhaseForTactic(tactic string) (Phase, bool) {
	for _, m := range tactics {
		if m.tactic == tactic {
			return m.phase, true
		}
	}
	return "", false
}

// TacticForPhase maps a phase to the first ATT&CK tactic declared for it.
// Phases with no tactic (weaponization, social_engineering, exploitation,
// pivoting, objectives) return false.
func TacticForPhase(p Phase) (string, bool) {
	for _, m := range tactics {
		if m.phase == p {
			return m.tactic, true
		}
	}
	return "", false
}

// Tactics returns every mapped tactic ID in declaration order.
func Tactics() []string {
	out := make([]string, 0, len(tactics))
	for _, m := range tactics {
		out = append(out, m.tactic)
	}
	return out
}

// EnterpriseTactics returns the mapped ATT&CK Enterprise tactic IDs. A
// caller that loads an ATT&CK bundle checks that each one exists in it; the
// ICS IDs are exempt from that check.
func EnterpriseTactics() []string {
	var out []string
	for _, m := range tactics {
		if !m.ics {
			out = append(out, m.tactic)
		}
	}
	return out
}

// CheckTactics returns the Enterprise tactic IDs that known does not
// contain. A non-empty result should stop startup, because phases derived
// from a missing tactic would be silently dropped.
func CheckTactics(known func(tactic string) bool) []string {
	var missing []string
	for _, t := range EnterpriseTactics() {
		if !known(t) {
			missing = append(missing, t)
		}
	}
	return missing
}
