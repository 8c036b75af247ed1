package identity

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/metrics"
	"github.com/decnet/decnet/internal/cluster/synth"
)

const scenarioDir = "../testdata/scenarios"

// naiveComponents is the reference kernel: compare every pair with HasEdge
// and union the linked ones. Fingerprints are common when the set has at
// least CommonMinPopulation observations and CommonMinCount carry them.
func naiveComponents(in []Observation, p Params) map[string]string {
	list := make([]Observation, len(in))
	for i, o := range in {
		list[i] = o.Normalize()
	}
	count := map[string]int{}
	for _, o := range list {
		if o.JA3 != "" {
			count["j"+o.JA3]++
		}
		if o.HASSH != "" {
			count["h"+o.HASSH]++
		}
	}
	gate := p.CommonMinCount > 0 && len(list) >= p.CommonMinPopulation
	common := func(k FingerprintKind, v string) bool {
		prefix := "j"
		if k == KindHASSH {
			prefix = "h"
		}
		return gate && count[prefix+v] >= p.CommonMinCount
	}

	parent := make([]int, len(list))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	for i := range list {
		for j := i + 1; j < len(list); j++ {
			if HasEdge(&list[i], &list[j], common) {
				parent[find(i)] = find(j)
			}
		}
	}
	minID := map[int]string{}
	for i, o := range list {
		r := find(i)
		if cur, ok := minID[r]; !ok || o.ID < cur {
			minID[r] = o.ID
		}
	}
	out := map[string]string{}
	for i, o := range list {
		out[o.ID] = "cc-" + minID[find(i)]
	}
	return out
}

// randomObservation draws from small value pools so that fingerprints,
// payloads and C2 hosts collide often, vetoes happen and some fingerprints
// become common.
func randomObservation(rng *rand.Rand, id string) Observation {
	o := Observation{ID: id}
	pick := func(prefix string, n int, pNull float64) string {
		if rng.Float64() < pNull {
			return ""
		}
		// Skewed: low values are much more frequent.
		return fmt.Sprintf("%s%d", prefix, int(float64(n)*rng.Float64()*rng.Float64()))
	}
	o.JA3 = pick("j", 40, 0.4)
	o.HASSH = pick("h", 40, 0.4)
	for range rng.IntN(3) {
		if v := pick("p", 60, 0.3); v != "" {
			o.PayloadHashes = append(o.PayloadHashes, v)
		}
	}
	for range rng.IntN(2) {
		if v := pick("c", 60, 0.3); v != "" {
			o.C2Endpoints = append(o.C2Endpoints, v)
		}
	}
	if rng.IntN(2) == 0 {
		o.ASN, o.HasASN = int64(rng.IntN(5)), true
	}
	return o.Normalize()
}

func randomSet(seed uint64, n int) []Observation {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]Observation, n)
	for i := range out {
		out[i] = randomObservation(rng, fmt.Sprintf("o%04d", i))
	}
	return out
}

var propertyParams = []Params{
	{},
	{CommonMinPopulation: 50, CommonMinCount: 6},
	{CommonMinPopulation: 1000, CommonMinCount: 6}, // gate never opens
}

func TestComponentsMatchPairwise(t *testing.T) {
	for seed := range uint64(6) {
		for _, p := range propertyParams {
			set := randomSet(seed, 120+int(seed)*40)
			got := Components(set, p)
			want := naiveComponents(set, p)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d params %+v: indexed and pairwise partitions differ (-pairwise +indexed):\n%s", seed, p, diff)
			}
		}
	}
}

func TestComponentsBasics(t *testing.T) {
	tests := []struct {
		name string
		in   []Observation
		want map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"singletons", []Observation{obs("a", ja3("1")), obs("b", ja3("2"))}, map[string]string{"a": "cc-a", "b": "cc-b"}},
		{"ja3 match", []Observation{obs("a", ja3("J")), obs("b", ja3("J"))}, map[string]string{"a": "cc-a", "b": "cc-a"}},
		{"unfingerprinted", []Observation{obs("a"), obs("b"), obs("c")}, map[string]string{"a": "cc-a", "b": "cc-b", "c": "cc-c"}},
		{
			"transitive ja3 then payload",
			[]Observation{obs("a", ja3("J")), obs("b", ja3("J"), payload("p")), obs("c", payload("p"))},
			map[string]string{"a": "cc-a", "b": "cc-a", "c": "cc-a"},
		},
		{
			"veto keeps tools apart",
			[]Observation{obs("a", ja3("J1"), hassh("H1"), c2("c")), obs("b", ja3("J2"), hassh("H2"), c2("c"))},
			map[string]string{"a": "cc-a", "b": "cc-b"},
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Components(tt.in, Params{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestComponentsPermutationInvariant(t *testing.T) {
	set := randomSet(11, 300)
	p := Params{CommonMinPopulation: 50, CommonMinCount: 6}
	want := Components(set, p)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 5 {
		shuffled := append([]Observation(nil), set...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if diff := cmp.Diff(want, Components(shuffled, p)); diff != "" {
			t.Fatalf("shuffled input changed the partition (-original +shuffled):\n%s", diff)
		}
	}
}

// TestIncrementalMatchesFull applies random batches of inserts, updates
// and removals and checks after each Recompute that the partition equals a
// from-scratch computation over the same observations.
func TestIncrementalMatchesFull(t *testing.T) {
	for _, p := range propertyParams {
		for seed := range uint64(4) {
			rng := rand.New(rand.NewPCG(seed, 5))
			x := NewIndex(p)
			current := map[string]Observation{}
			next := 0
			for step := range 40 {
				for range 1 + rng.IntN(12) {
					switch r := rng.IntN(10); {
					case r < 6 || len(current) == 0:
						id := fmt.Sprintf("o%04d", next)
						next++
						o := randomObservation(rng, id)
						current[id] = o
						x.Upsert(o)
					case r < 9:
						id := fmt.Sprintf("o%04d", rng.IntN(next))
						if _, ok := current[id]; !ok {
							continue
						}
						o := randomObservation(rng, id)
						current[id] = o
						x.Upsert(o)
					default:
						id := fmt.Sprintf("o%04d", rng.IntN(next))
						delete(current, id)
						x.Remove(id)
					}
				}
				x.Recompute()
				var all []Observation
				for _, o := range current {
					all = append(all, o)
				}
				if diff := cmp.Diff(Components(all, p), x.Labels()); diff != "" {
					t.Fatalf("params %+v seed %d step %d: incremental differs from full (-full +incremental):\n%s", p, seed, step, diff)
				}
			}
		}
	}
}

func TestRecomputeReportsChangedComponents(t *testing.T) {
	x := NewIndex(Params{})
	x.Upsert(obs("a", ja3("J")))
	x.Upsert(obs("b", ja3("K")))
	x.Upsert(obs("c", c2("z")))
	if roots := x.Recompute(); len(roots) != 3 {
		t.Fatalf("first Recompute returned %d roots, want 3", len(roots))
	}
	if roots := x.Recompute(); len(roots) != 0 {
		t.Errorf("Recompute without changes returned %v", roots)
	}
	if x.Upsert(obs("a", ja3("J"))) {
		t.Error("Upsert of an unchanged observation reported a change")
	}
	x.Upsert(obs("d", ja3("J")))
	roots := x.Recompute()
	a, _ := x.Slot("a")
	if len(roots) != 1 || roots[0] != x.Find(a) {
		t.Errorf("roots after adding d = %v, want only the component of a", roots)
	}
	if got := len(x.Members(nil, a)); got != 2 {
		t.Errorf("component of a has %d members, want 2", got)
	}
}

// scoreScenario clusters every seed of a scenario at the identity level
// and checks the floors.
func scoreScenario(t *testing.T, file string, p Params, seeds int, project func(synth.Attacker) Observation) []metrics.Scores {
	t.Helper()
	path := filepath.Join(scenarioDir, file)
	doc, err := synth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []metrics.Scores
	for seed := range uint64(seeds) {
		corpus, err := synth.Generate(doc, seed)
		if err != nil {
			t.Fatal(err)
		}
		var list []Observation
		for _, a := range corpus.Attackers {
			list = append(list, project(a))
		}
		pred := Components(list, p)
		truth, err := corpus.TruthLabels(synth.LevelIdentity)
		if err != nil {
			t.Fatal(err)
		}
		s, err := metrics.Score(pred, truth)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

var scenarioFiles = []string{
	"lone_wolf.yaml", "shared_wordlist.yaml", "vpn_hopping.yaml", "paused_campaign.yaml",
	"multi_operator.yaml", "slow_burn.yaml", "noise_floor.yaml", "stock_client.yaml",
}

func TestScenarioFloors(t *testing.T) {
	projections := map[string]func(synth.Attacker) Observation{
		"synthetic":    FromSynthetic,
		"attacker row": func(a synth.Attacker) Observation { return FromAttacker(a.Record()) },
	}
	for _, file := range scenarioFiles {
		floors, err := synth.LoadFloors(synth.ExpectedPath(filepath.Join(scenarioDir, file)))
		if err != nil {
			t.Fatal(err)
		}
		for name, project := range projections {
			for seed, s := range scoreScenario(t, file, DefaultParams(), 10, project) {
				if fails := floors.Check(s); len(fails) > 0 {
					t.Errorf("%s (%s projection) seed %d: %v", file, name, seed, fails)
				}
			}
		}
	}
}

// TestStockClientNeedsCommonness shows what the commonness weighting buys:
// with every fingerprint treated as rare, the stock-client bots collapse
// into two giant identities.
func TestStockClientNeedsCommonness(t *testing.T) {
	for seed, s := range scoreScenario(t, "stock_client.yaml", Params{}, 3, FromSynthetic) {
		if s.SingletonRecall > 0.1 || s.Homogeneity > 0.9 {
			t.Errorf("seed %d without commonness: %+v, want singleton recall near 0 and homogeneity below 0.9", seed, s)
		}
	}
}

// TestSmallSetsFollowPlainTiers checks that below the population gate the
// default tuning gives exactly the plain tier rule.
func TestSmallSetsFollowPlainTiers(t *testing.T) {
	set := randomSet(21, DefaultParams().CommonMinPopulation-1)
	if diff := cmp.Diff(naiveComponents(set, Params{}), Components(set, DefaultParams())); diff != "" {
		t.Errorf("default params differ from plain tiers below the gate:\n%s", diff)
	}
}

func TestMultiOperatorTwoIdentities(t *testing.T) {
	doc, err := synth.Load(filepath.Join(scenarioDir, "multi_operator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := synth.Generate(doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	var list []Observation
	for _, a := range corpus.Attackers {
		list = append(list, FromSynthetic(a))
	}
	distinct := map[string]bool{}
	for _, l := range Components(list, DefaultParams()) {
		distinct[l] = true
	}
	if len(distinct) != 2 {
		t.Errorf("multi_operator gave %d identities, want 2", len(distinct))
	}
}

// TestWeakSignalsNeverFuse builds pairs that share every weak signal
// (commands, credentials, ASN) and nothing strong.
func TestWeakSignalsNeverFuse(t *testing.T) {
	for _, file := range []string{"shared_wordlist.yaml"} {
		for seed, s := range scoreScenario(t, file, DefaultParams(), 10, FromSynthetic) {
			if s.Homogeneity < 1 {
				t.Errorf("%s seed %d: homogeneity %v, want 1", file, seed, s.Homogeneity)
			}
		}
	}
	a := obs("a", cmds("discovery", "id"), creds("u", "p"), asn(1), ja3("J1"))
	b := obs("b", cmds("discovery", "id"), creds("u", "p"), asn(1), ja3("J2"))
	if got := Components([]Observation{a, b}, Params{}); got["a"] == got["b"] {
		t.Error("weak signals fused two observations")
	}
}

func TestTimeShiftInvariant(t *testing.T) {
	for _, file := range []string{"slow_burn.yaml", "noise_floor.yaml"} {
		doc, err := synth.Load(filepath.Join(scenarioDir, file))
		if err != nil {
			t.Fatal(err)
		}
		corpus, err := synth.Generate(doc, 4)
		if err != nil {
			t.Fatal(err)
		}
		project := func(c *synth.Corpus) map[string]string {
			var list []Observation
			for _, a := range c.Attackers {
				list = append(list, FromAttacker(a.Record()))
			}
			return Components(list, DefaultParams())
		}
		if diff := cmp.Diff(project(corpus), project(corpus.Shift(90*24*time.Hour))); diff != "" {
			t.Errorf("%s: a 90-day shift changed the partition (-original +shifted):\n%s", file, diff)
		}
	}
}
