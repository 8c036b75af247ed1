// Package ukc is the Unified Kill Chain vocabulary used by attacker
// clustering: 19 phases in three stages, the subset a honeypot can observe,
// and the mapping between MITRE ATT&CK tactic IDs and phases.
package ukc

// Phase is one Unified Kill Chain phase. The value is the snake_case name.
type Phase string

// The 19 phases, grouped by stage in kill-chain order.
const (
	// Stage "in": getting a foothold.
	Reconnaissance      Phase = "reconnaissance"
	ResourceDevelopment Phase = "resource_development"
	Weaponization       Phase = "weaponization"
	Delivery            Phase = "delivery"
	SocialEngineering   Phase = "social_engineering"
	Exploitation        Phase = "exploitation"
	Persistence         Phase = "persistence"
	DefenseEvasion      Phase = "defense_evasion"
	CommandAndControl   Phase = "command_and_control"

	// Stage "through": propagating inside the network.
	Pivoting            Phase = "pivoting"
	Discovery           Phase = "discovery"
	PrivilegeEscalation Phase = "privilege_escalation"
	Execution           Phase = "execution"
	CredentialAccess    Phase = "credential_access"
	LateralMovement     Phase = "lateral_movement"

	// Stage "out": acting on objectives.
	Collection   Phase = "collection"
	Exfiltration Phase = "exfiltration"
	Impact       Phase = "impact"
	Objectives   Phase = "objectives"
)

// Stage is one of the three Unified Kill Chain stages.
type Stage string

// The three stages.
const (
	StageIn      Stage = "in"
	StageThrough Stage = "through"
	StageOut     Stage = "out"
)

var phases = []Phase{
	Reconnaissance, ResourceDevelopment, Weaponization, Delivery, SocialEngineering,
	Exploitation, Persistence, DefenseEvasion, CommandAndControl,
	Pivoting, Discovery, PrivilegeEscalation, Execution, CredentialAccess, LateralMovement,
	Collection, Exfiltration, Impact, Objectives,
}

var stageIn = map[Phase]bool{
	Reconnaissance: true, ResourceDevelopment: true, Weaponization: true, Delivery: true,
	SocialEngineering: true, Exploitation: true, Persistence: true, DefenseEvasion: true,
	CommandAndControl: true,
}

var stageThrough = map[Phase]bool{
	Pivoting: true, Discovery: true, PrivilegeEscalation: true, Execution: true,
	CredentialAccess: true, LateralMovement: true,
}

// unobservable lists the phases that happen before any decky is touched, so
// a honeypot records no events for them.
var unobservable = map[Phase]bool{
	Reconnaissance: true, ResourceDevelopment: true, Weaponization: true, SocialEngineering: true,
}

// Phases returns all 19 phases in kill-chain order.
func Phases() []Phase {
	return append([]Phase(nil), phases...)
}

// Parse returns the phase named s and whether s is one of the 19 values.
func Parse(s string) (Phase, bool) {
	p := Phase(s)
	for _, q := range phases {
		if q == p {
			return p, true
		}
	}
	return "", false
}

// Valid reports whether p is one of the 19 phases.
func (p Phase) Valid() bool {
	_, ok := Parse(string(p))
	return ok
}

// Observable reports whether a honeypot can see events of phase p: every
// valid phase except reconnaissance, resource_development, weaponization and
// social_engineering.
func (p Phase) Observable() bool {
	return p.Valid() && !unobservable[p]
}

// ObservablePhases returns the 15 observable phases in kill-chain order.
func ObservablePhases() []Phase {
	var out []Phase
	for _, p := range phases {
		if p.Observable() {
			out = append(out, p)
		}
	}
	return out
}

// StageOf returns the stage of p. Any phase outside the "in" and "through"
// sets, including an invalid one, is reported as StageOut.
func StageOf(p Phase) Stage {
	switch {
	case stageIn[p]:
		return StageIn
	case stageThrough[p]:
		return StageThrough
	default:
		return StageOut
	}
}
