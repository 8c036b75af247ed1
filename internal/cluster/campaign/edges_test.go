package campaign

import (
	"math"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

func at(h float64) time.Time { return base.Add(time.Duration(h * float64(time.Hour))) }

func phases(decky string, first ukc.Phase, firstAt float64, last ukc.Phase, lastAt float64) Features {
	return Features{Deckies: []string{decky}, Phases: map[string]DeckyPhases{
		decky: {FirstPhase: first, FirstSeen: at(firstAt), LastPhase: last, LastSeen: at(lastAt)},
	}}
}

func windows(spans ...[2]float64) Features {
	var f Features
	for _, s := range spans {
		f.Windows = append(f.Windows, Window{at(s[0]), at(s[1])})
	}
	return f.Normalize()
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestHandoff(t *testing.T) {
	out := phases("d1", ukc.Exploitation, 0, ukc.CommandAndControl, 1)
	for _, tc := range []struct {
		name string
		in   Features
		want float64
	}{
		{"clean handoff", phases("d1", ukc.Discovery, 5, ukc.LateralMovement, 6), 1},
		{"gap of exactly 24 h", phases("d1", ukc.LateralMovement, 25, ukc.LateralMovement, 25), 1},
		{"gap of zero", phases("d1", ukc.Discovery, 1, ukc.Discovery, 1), 1},
		{"outside the window", phases("d1", ukc.Discovery, 25.01, ukc.Discovery, 26), 0},
		{"negative gap", phases("d1", ukc.Discovery, 0.5, ukc.Discovery, 2), 0},
		{"other decky", phases("d2", ukc.Discovery, 5, ukc.Discovery, 6), 0},
		{"phase mismatch", phases("d1", ukc.Execution, 5, ukc.Discovery, 6), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := out.Normalize(), tc.in.Normalize()
			if got := Handoff(&a, &b); got != tc.want {
				t.Errorf("Handoff(out, in) = %v, want %v", got, tc.want)
			}
			if got := Handoff(&b, &a); got != tc.want {
				t.Errorf("Handoff(in, out) = %v, want %v (symmetric)", got, tc.want)
			}
			for _, d := range []time.Duration{90 * 24 * time.Hour, -time.Hour * 1000} {
				sa, sb := a.Shift(d), b.Shift(d)
				if got := Handoff(&sa, &sb); got != tc.want {
					t.Errorf("Handoff shifted by %v = %v, want %v", d, got, tc.want)
				}
			}
		})
	}
}

func TestSharedInfra(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Features
		want float64
	}{
		{"full", Features{PayloadHashes: []string{"p"}, C2Endpoints: []string{"c"}}, Features{PayloadHashes: []string{"p"}, C2Endpoints: []string{"c"}}, 1},
		{"half", Features{PayloadHashes: []string{"p"}}, Features{PayloadHashes: []string{"p"}, C2Endpoints: []string{"c"}}, 0.5},
		{"none", Features{PayloadHashes: []string{"p"}}, Features{C2Endpoints: []string{"c"}}, 0},
		{"empty", Features{}, Features{}, 0},
		{"one side empty", Features{PayloadHashes: []string{"p"}}, Features{}, 0},
		{"value in both lists", Features{PayloadHashes: []string{"x"}, C2Endpoints: []string{"x"}}, Features{C2Endpoints: []string{"x"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.a.Normalize(), tc.b.Normalize()
			if got := SharedInfra(&a, &b); !near(got, tc.want) {
				t.Errorf("SharedInfra = %v, want %v", got, tc.want)
			}
			if got := SharedInfra(&b, &a); !near(got, tc.want) {
				t.Errorf("SharedInfra reversed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTemporal(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Features
		want float64
	}{
		{"full", windows([2]float64{0, 2}), windows([2]float64{0, 2}), 1},
		{"partial", windows([2]float64{0, 2}), windows([2]float64{1, 3}), 0.5},
		{"disjoint", windows([2]float64{0, 1}), windows([2]float64{2, 3}), 0},
		{"empty", windows(), windows([2]float64{0, 1}), 0},
		{"contained is full", windows([2]float64{0, 10}), windows([2]float64{2, 3}), 1},
		{"overlapping windows counted once", windows([2]float64{0, 2}, [2]float64{1, 3}), windows([2]float64{0, 3}), 1},
		{"instants only", windows([2]float64{1, 1}), windows([2]float64{1, 1}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporal(&tc.a, &tc.b); !near(got, tc.want) {
				t.Errorf("Temporal(a, b) = %v, want %v", got, tc.want)
			}
			if got := Temporal(&tc.b, &tc.a); !near(got, tc.want) {
				t.Errorf("Temporal(b, a) = %v, want %v (symmetric)", got, tc.want)
			}
			sa, sb := tc.a.Shift(90*24*time.Hour), tc.b.Shift(90*24*time.Hour)
			if got := Temporal(&sa, &sb); !near(got, tc.want) {
				t.Errorf("Temporal shifted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCohort(t *testing.T) {
	a := Features{ASNs: []int64{1}, Deckies: []string{"d1"}}.Normalize()
	b := Features{ASNs: []int64{1}, Deckies: []string{"d2"}}.Normalize()
	c := Features{ASNs: []int64{2}, Tools: []string{"t"}}.Normalize()
	if got := Cohort(&a, &b); !near(got, 1.0/3) {
		t.Errorf("Cohort ASN overlap = %v, want 1/3", got)
	}
	if got := Cohort(&a, &c); got != 0 {
		t.Errorf("Cohort disjoint = %v, want 0", got)
	}
	if e := Score(&a, &a); e.Cohort != 1 || e.Linked() {
		t.Errorf("identical cohort alone = %+v linked %v, want cohort 1 and no edge", e, e.Linked())
	}
}

func TestKeystroke(t *testing.T) {
	kd := func(v uint64) Features { return Features{KD: v, HasKD: true} }
	for _, tc := range []struct {
		name string
		a, b Features
		want float64
	}{
		{"identical", kd(0xABCD), kd(0xABCD), 1},
		{"distance 4", kd(0), kd(0xF), 0.5},
		{"distance 8", kd(0), kd(0xFF), 0},
		{"missing", kd(1), Features{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Keystroke(&tc.a, &tc.b); !near(got, tc.want) {
				t.Errorf("Keystroke = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	handoff := func() (Features, Features) {
		return phases("d1", ukc.Persistence, 0, ukc.Persistence, 1).Normalize(), phases("d1", ukc.Discovery, 2, ukc.Discovery, 3).Normalize()
	}
	typing := func(a, b Features) (Features, Features) {
		a.KD, a.HasKD, b.KD, b.HasKD = 7, true, 7, true
		return a, b
	}
	overlap := func(a, b Features) (Features, Features) {
		a.Windows = windows([2]float64{100, 101}).Windows
		b.Windows = windows([2]float64{100, 101}).Windows
		return a, b
	}
	for _, tc := range []struct {
		name string
		pair func() (Features, Features)
		want bool
	}{
		{"handoff alone", handoff, true},
		{"full shared infra alone", func() (Features, Features) {
			return Features{C2Endpoints: []string{"c"}}, Features{C2Endpoints: []string{"c"}}
		}, true},
		{"typing alone", func() (Features, Features) { return typing(Features{}, Features{}) }, false},
		{"temporal alone", func() (Features, Features) { return overlap(Features{}, Features{}) }, false},
		{"typing and full temporal", func() (Features, Features) { return overlap(typing(Features{}, Features{})) }, true},
		{"decky and ASN cohort", func() (Features, Features) {
			f := Features{ASNs: []int64{5}, Deckies: []string{"d1", "d2"}}
			return f, f
		}, false},
		{"nothing", func() (Features, Features) { return Features{}, Features{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.pair()
			a, b = a.Normalize(), b.Normalize()
			e := Score(&a, &b)
			if e.Linked() != tc.want {
				t.Errorf("%+v weight %v linked = %v, want %v", e, e.Weight(), e.Linked(), tc.want)
			}
			sa, sb := a.Shift(90*24*time.Hour), b.Shift(90*24*time.Hour)
			if w := Weight(&sa, &sb); !near(w, e.Weight()) {
				t.Errorf("combined weight shifted = %v, want %v", w, e.Weight())
			}
			if w := Weight(&b, &a); !near(w, e.Weight()) {
				t.Errorf("combined weight reversed = %v, want %v", w, e.Weight())
			}
		})
	}
}

func TestFromSyntheticSortsByTime(t *testing.T) {
	c := generate(t, "slow_burn.yaml", 0)
	for _, a := range c.Attackers {
		f := FromSynthetic(a)
		for d, p := range f.Phases {
			if p.LastSeen.Before(p.FirstSeen) {
				t.Errorf("%s on %s: last %v before first %v", a.ID, d, p.LastSeen, p.FirstSeen)
			}
		}
		for i := 1; i < len(f.Windows); i++ {
			if f.Windows[i].Start.Before(f.Windows[i-1].End) {
				t.Errorf("%s: windows not merged and sorted: %v", a.ID, f.Windows)
			}
		}
	}
}
