package ukc

import (
	"regexp"
	"testing"
)

func TestPhaseCounts(t *testing.T) {
	counts := map[Stage]int{}
	for _, p := range Phases() {
		counts[StageOf(p)]++
	}
	want := map[Stage]int{StageIn: 9, StageThrough: 6, StageOut: 4}
	for s, n := range want {
		if counts[s] != n {
			t.Errorf("stage %s has %d phases, want %d", s, counts[s], n)
		}
	}
	if got := len(Phases()); got != 19 {
		t.Errorf("len(Phases()) = %d, want 19", got)
	}
	if got := len(ObservablePhases()); got != 15 {
		t.Errorf("len(ObservablePhases()) = %d, want 15", got)
	}
}

func TestObservable(t *testing.T) {
	tests := []struct {
		phase Phase
		want  bool
	}{
		{Reconnaissance, false},
		{ResourceDevelopment, false},
		{Weaponization, false},
		{SocialEngineering, false},
		{Delivery, true},
		{Exploitation, true},
		{Pivoting, true},
		{Objectives, true},
		{Phase("lunch"), false},
	}
	for _, tt := range tests {
		if got := tt.phase.Observable(); got != tt.want {
			t.Errorf("%q.Observable() = %v, want %v", tt.phase, got, tt.want)
		}
	}
}

func TestStageOf(t *testing.T) {
	tests := []struct {
		phase Phase
		want  Stage
	}{
		{Delivery, StageIn},
		{CommandAndControl, StageIn},
		{Discovery, StageThrough},
		{LateralMovement, StageThrough},
		{Exfiltration, StageOut},
		{Objectives, StageOut},
		{Phase("unknown"), StageOut},
	}
	for _, tt := range tests {
		if got := StageOf(tt.phase); got != tt.want {
			t.Errorf("StageOf(%q) = %q, want %q", tt.phase, got, tt.want)
		}
	}
}

func TestTacticIDsWellFormed(t *testing.T) {
	re := regexp.MustCompile(`^TA\d{4}$`)
	if got := len(Tactics()); got != 18 {
		t.Errorf("len(Tactics()) = %d, want 18", got)
	}
	for _, tac := range Tactics() {
		if !re.MatchString(tac) {
			t.Errorf("tactic %q does not match %s", tac, re)
		}
		p, ok := PhaseForTactic(tac)
		if !ok || !p.Valid() {
			t.Errorf("PhaseForTactic(%q) = %q, %v; want a valid phase", tac, p, ok)
		}
	}
}

// lossy lists the phases that do not round-trip through a tactic: two
// pre-target phases that still have a tactic, and five with none.
var lossy = map[Phase]string{
	Reconnaissance:      "TA0043",
	ResourceDevelopment: "TA0042",
	Weaponization:       "",
	SocialEngineering:   "",
	Exploitation:        "",
	Pivoting:            "",
	Objectives:          "",
}

func TestInverseMapPinned(t *testing.T) {
	for p, want := range lossy {
		got, ok := TacticForPhase(p)
		if ok != (want != "") || got != want {
			t.Errorf("TacticForPhase(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
}

func TestObservableRoundTrip(t *testing.T) {
	n := 0
	for _, p := range ObservablePhases() {
		if _, skip := lossy[p]; skip {
			continue
		}
		n++
		tac, ok := TacticForPhase(p)
		if !ok {
			t.Errorf("TacticForPhase(%q) found nothing", p)
			continue
		}
		back, ok := PhaseForTactic(tac)
		if !ok || back != p {
			t.Errorf("PhaseForTactic(TacticForPhase(%q) = %q) = %q, want %q", p, tac, back, p)
		}
	}
	if n != 12 {
		t.Errorf("round-tripped %d phases, want 12", n)
	}
}

func TestEnterpriseWinsInverse(t *testing.T) {
	tests := map[Phase]string{Collection: "TA0009", Discovery: "TA0007", Impact: "TA0040"}
	for p, want := range tests {
		if got, _ := TacticForPhase(p); got != want {
			t.Errorf("TacticForPhase(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestForwardValuesInObservableOrLossy(t *testing.T) {
	for _, tac := range Tactics() {
		p, _ := PhaseForTactic(tac)
		_, isLossy := lossy[p]
		if !p.Observable() && !isLossy {
			t.Errorf("tactic %s maps to %q, which is neither observable nor lossy", tac, p)
		}
	}
}

func TestUnknownTactic(t *testing.T) {
	if p, ok := PhaseForTactic("TA9999"); ok {
		t.Errorf("PhaseForTactic(TA9999) = %q, want none", p)
	}
}

func TestCheckTactics(t *testing.T) {
	known := map[string]bool{}
	for _, tac := range EnterpriseTactics() {
		known[tac] = true
	}
	delete(known, "TA0011")
	missing := CheckTactics(func(t string) bool { return known[t] })
	if len(missing) != 1 || missing[0] != "TA0011" {
		t.Errorf("CheckTactics = %v, want [TA0011]", missing)
	}
	for _, tac := range EnterpriseTactics() {
		if tac == "TA0100" || tac == "TA0102" || tac == "TA0105" || tac == "TA0106" {
			t.Errorf("EnterpriseTactics contains ICS tactic %s", tac)
		}
	}
}
