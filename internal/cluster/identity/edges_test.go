package identity

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/synth"
	"github.com/decnet/decnet/internal/cluster/ukc"
)

func obs(id string, mutate ...func(*Observation)) Observation {
	o := Observation{ID: id}
	for _, m := range mutate {
		m(&o)
	}
	return o.Normalize()
}

func ja3(v string) func(*Observation)   { return func(o *Observation) { o.JA3 = v } }
func hassh(v string) func(*Observation) { return func(o *Observation) { o.HASSH = v } }
func payload(v ...string) func(*Observation) {
	return func(o *Observation) { o.PayloadHashes = append(o.PayloadHashes, v...) }
}
func c2(v ...string) func(*Observation) {
	return func(o *Observation) { o.C2Endpoints = append(o.C2Endpoints, v...) }
}
func asn(v int64) func(*Observation) { return func(o *Observation) { o.ASN, o.HasASN = v, true } }
func cmds(p ukc.Phase, v ...string) func(*Observation) {
	return func(o *Observation) {
		if o.CommandsByPhase == nil {
			o.CommandsByPhase = map[ukc.Phase][]string{}
		}
		o.CommandsByPhase[p] = append(o.CommandsByPhase[p], v...)
	}
}
func creds(pairs ...string) func(*Observation) {
	return func(o *Observation) {
		for i := 0; i+1 < len(pairs); i += 2 {
			o.Credentials = append(o.Credentials, Credential{pairs[i], pairs[i+1]})
		}
	}
}

func TestHigh(t *testing.T) {
	tests := []struct {
		name string
		a, b Observation
		want float64
	}{
		{"ja3 match", obs("a", ja3("J")), obs("b", ja3("J")), 1},
		{"hassh match", obs("a", hassh("H")), obs("b", hassh("H")), 1},
		{"payload match", obs("a", payload("p")), obs("b", payload("p", "q")), 1},
		{"c2 match", obs("a", c2("c")), obs("b", c2("c")), 1},
		{"nothing shared", obs("a", ja3("J1"), payload("p")), obs("b", ja3("J2"), payload("q")), 0},
		{"both null fingerprints", obs("a"), obs("b"), 0},
		{"veto on shared c2", obs("a", ja3("J1"), hassh("H1"), c2("c")), obs("b", ja3("J2"), hassh("H2"), c2("c")), 0},
		{"veto on shared payload", obs("a", ja3("J1"), payload("p")), obs("b", ja3("J2"), payload("p")), 0},
		{"one side unknown", obs("a", ja3("J1"), hassh("H1"), c2("c")), obs("b", c2("c")), 1},
		{"both sides unknown", obs("a", c2("c")), obs("b", c2("c")), 1},
		{"slots known on different sides", obs("a", ja3("J1"), c2("c")), obs("b", hassh("H2"), c2("c")), 1},
		{"partial agreement", obs("a", ja3("J"), hassh("H1"), c2("c")), obs("b", ja3("J"), hassh("H2")), 1},
		{"one comparable slot disagrees", obs("a", ja3("J1"), hassh("H"), c2("c")), obs("b", ja3("J2"), c2("c")), 0},
		{"empty sets", obs("a", payload(), c2()), obs("b", payload(), c2()), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := High(&tt.a, &tt.b); got != tt.want {
				t.Errorf("High = %v, want %v", got, tt.want)
			}
			if got := High(&tt.b, &tt.a); got != tt.want {
				t.Errorf("High reversed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHighWithCommonFingerprint(t *testing.T) {
	common := func(k FingerprintKind, v string) bool { return v == "stock" }
	tests := []struct {
		name string
		a, b Observation
		want float64
	}{
		{"common ja3 alone", obs("a", ja3("stock")), obs("b", ja3("stock")), CommonFingerprintWeight},
		{"common ja3 plus rare hassh", obs("a", ja3("stock"), hassh("H")), obs("b", ja3("stock"), hassh("H")), 1},
		{"common ja3 does not veto shared c2", obs("a", ja3("stock"), hassh("H1"), c2("c")), obs("b", ja3("stock"), hassh("H2"), c2("c")), 1},
		{"rare match unaffected", obs("a", ja3("J")), obs("b", ja3("J")), 1},
	}
	for _, tt := range tests {
		if got := HighWith(&tt.a, &tt.b, common); got != tt.want {
			t.Errorf("%s: HighWith = %v, want %v", tt.name, got, tt.want)
		}
	}
	a, b := obs("a", ja3("stock"), cmds(ukc.Discovery, "id"), creds("u", "p"), asn(1)), obs("b", ja3("stock"), cmds(ukc.Discovery, "id"), creds("u", "p"), asn(1))
	if HasEdge(&a, &b, common) {
		t.Errorf("common fingerprint plus every weak tier linked, weight %v", WeightWith(&a, &b, common))
	}
}

func TestMedium(t *testing.T) {
	tests := []struct {
		name string
		a, b Observation
		want float64
	}{
		{"identical", obs("a", cmds(ukc.Discovery, "id", "whoami")), obs("b", cmds(ukc.Discovery, "whoami", "id", "id")), 1},
		{"partial", obs("a", cmds(ukc.Discovery, "id", "whoami", "ls")), obs("b", cmds(ukc.Discovery, "id", "whoami", "ps")), 0.5},
		{"max across phases", obs("a", cmds(ukc.Discovery, "id"), cmds(ukc.Collection, "tar")), obs("b", cmds(ukc.Discovery, "ls"), cmds(ukc.Collection, "tar")), 1},
		{"no shared phase", obs("a", cmds(ukc.Discovery, "id")), obs("b", cmds(ukc.Collection, "id")), 0},
		{"disjoint", obs("a", cmds(ukc.Discovery, "id")), obs("b", cmds(ukc.Discovery, "ls")), 0},
		{"empty", obs("a"), obs("b"), 0},
	}
	for _, tt := range tests {
		if got := Medium(&tt.a, &tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Medium = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLow(t *testing.T) {
	tests := []struct {
		name string
		a, b Observation
		want float64
	}{
		{"full", obs("a", creds("root", "toor", "admin", "admin")), obs("b", creds("admin", "admin", "root", "toor")), 1},
		{"partial", obs("a", creds("root", "toor", "admin", "admin")), obs("b", creds("root", "toor", "user", "user")), 1.0 / 3},
		{"empty", obs("a", creds("root", "toor")), obs("b"), 0},
	}
	for _, tt := range tests {
		if got := Low(&tt.a, &tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Low = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestVeryLow(t *testing.T) {
	tests := []struct {
		name string
		a, b Observation
		want float64
	}{
		{"match", obs("a", asn(64512)), obs("b", asn(64512)), 1},
		{"mismatch", obs("a", asn(64512)), obs("b", asn(64513)), 0},
		{"null", obs("a"), obs("b", asn(64512)), 0},
	}
	for _, tt := range tests {
		if got := VeryLow(&tt.a, &tt.b); got != tt.want {
			t.Errorf("%s: VeryLow = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCombinedWeight(t *testing.T) {
	high := [2]Observation{obs("a", ja3("J")), obs("b", ja3("J"))}
	medium := [2]Observation{obs("a", cmds(ukc.Discovery, "id")), obs("b", cmds(ukc.Discovery, "id"))}
	low := [2]Observation{obs("a", creds("u", "p")), obs("b", creds("u", "p"))}
	veryLow := [2]Observation{obs("a", asn(1)), obs("b", asn(1))}
	allWeak := [2]Observation{
		obs("a", cmds(ukc.Discovery, "id"), creds("u", "p"), asn(1)),
		obs("b", cmds(ukc.Discovery, "id"), creds("u", "p"), asn(1)),
	}
	highMedium := [2]Observation{obs("a", ja3("J"), cmds(ukc.Discovery, "id")), obs("b", ja3("J"), cmds(ukc.Discovery, "id"))}

	if w := Weight(&high[0], &high[1]); w < EdgeThreshold {
		t.Errorf("high alone = %v, want ≥ %v", w, EdgeThreshold)
	}
	for name, p := range map[string][2]Observation{"medium": medium, "low": low, "very low": veryLow} {
		if w := Weight(&p[0], &p[1]); w <= 0 || w >= 1 {
			t.Errorf("%s alone = %v, want in (0, 1)", name, w)
		}
	}
	if w := Weight(&allWeak[0], &allWeak[1]); w >= EdgeThreshold {
		t.Errorf("all weak tiers = %v, want < %v", w, EdgeThreshold)
	}
	if w := Weight(&highMedium[0], &highMedium[1]); w < 1 {
		t.Errorf("high plus medium = %v, want ≥ 1", w)
	}
	none := [2]Observation{obs("a"), obs("b")}
	if w := Weight(&none[0], &none[1]); w != 0 {
		t.Errorf("no signal = %v, want 0", w)
	}
}

func TestObservationHasNoTimeFields(t *testing.T) {
	typ := reflect.TypeOf(Observation{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.ToLower(f.Name)
		for _, banned := range []string{"seen", "started", "midpoint", "timestamp", "time"} {
			if strings.Contains(name, banned) {
				t.Errorf("Observation has time field %s", f.Name)
			}
		}
		if f.Type.String() == "time.Time" || f.Type.String() == "time.Duration" {
			t.Errorf("Observation field %s has type %s", f.Name, f.Type)
		}
	}
}

func TestFromSynthetic(t *testing.T) {
	a := synth.Attacker{
		ID: "att-1", ASN: 7, JA3: "J", HASSH: " H ",
		Truth: synth.Truth{Campaign: "secret"},
		Sessions: []synth.Session{
			{Phase: ukc.Discovery, Commands: []string{"id", "whoami"}, PayloadHash: "p1"},
			{Phase: ukc.Discovery, Commands: []string{"id"}, C2Callback: "c2.example"},
			{Phase: ukc.CredentialAccess, Credentials: []synth.Credential{{User: "root", Pass: "toor"}}},
			{Phase: ukc.Delivery},
		},
	}
	want := Observation{
		ID: "att-1", JA3: "J", HASSH: "H", ASN: 7, HasASN: true,
		PayloadHashes:   []string{"p1"},
		C2Endpoints:     []string{"c2.example"},
		Credentials:     []Credential{{"root", "toor"}},
		CommandsByPhase: map[ukc.Phase][]string{ukc.Discovery: {"id", "whoami"}},
	}
	if diff := cmp.Diff(want, FromSynthetic(a)); diff != "" {
		t.Errorf("FromSynthetic (-want +got):\n%s", diff)
	}
}
