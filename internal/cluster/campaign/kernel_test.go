package campaign

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

// naiveCluster is the reference kernel: score every pair and union the
// linked ones.
func naiveCluster(in []Features) map[string]string {
	fs := make([]Features, len(in))
	for i, f := range in {
		fs[i] = f.Normalize()
	}
	parent := make([]int, len(fs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	for i := range fs {
		for j := i + 1; j < len(fs); j++ {
			if Score(&fs[i], &fs[j]).Linked() {
				parent[find(i)] = find(j)
			}
		}
	}
	minID := map[int]string{}
	for i, f := range fs {
		r := find(i)
		if cur, ok := minID[r]; !ok || f.ID < cur {
			minID[r] = f.ID
		}
	}
	out := map[string]string{}
	for i, f := range fs {
		out[f.ID] = "cmp-" + minID[find(i)]
	}
	return out
}

var (
	phasePool = []ukc.Phase{ukc.Persistence, ukc.CommandAndControl, ukc.Discovery, ukc.LateralMovement, ukc.Execution, ukc.Delivery}
	base      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// randomFeatures draws from small pools so that every edge family fires
// often: shared payloads and C2 hosts, handoffs on few deckies, nearby
// keystroke centroids and overlapping windows.
func randomFeatures(rng *rand.Rand, id string) Features {
	f := Features{ID: id, ASNs: []int64{int64(rng.IntN(6))}}
	for range rng.IntN(3) {
		f.PayloadHashes = append(f.PayloadHashes, fmt.Sprintf("p%d", rng.IntN(25)))
	}
	for range rng.IntN(2) {
		f.C2Endpoints = append(f.C2Endpoints, fmt.Sprintf("c%d", rng.IntN(25)))
	}
	for range 1 + rng.IntN(3) {
		d := fmt.Sprintf("d%d", rng.IntN(8))
		at := base.Add(time.Duration(rng.IntN(96)) * time.Hour)
		f.Observe(d, phasePool[rng.IntN(len(phasePool))], at)
		f.Observe(d, phasePool[rng.IntN(len(phasePool))], at.Add(time.Duration(rng.IntN(3))*time.Hour))
		f.Windows = append(f.Windows, Window{at, at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)})
	}
	if rng.IntN(2) == 0 {
		f.KD, f.HasKD = uint64(0xF0F0)^(1<<rng.IntN(64))^(1<<rng.IntN(64)), true
	}
	return f.Normalize()
}

func randomSet(seed uint64, n int) []Features {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]Features, n)
	for i := range out {
		out[i] = randomFeatures(rng, fmt.Sprintf("i%04d", i))
	}
	return out
}

func TestClusterMatchesPairwise(t *testing.T) {
	for seed := range uint64(20) {
		fs := randomSet(seed, 150)
		if diff := cmp.Diff(Cluster(fs), naiveCluster(fs)); diff != "" {
			t.Errorf("seed %d: indexed kernel differs from the pairwise reference (-got +want):\n%s", seed, diff)
		}
	}
}

func TestClusterOrderIndependent(t *testing.T) {
	fs := randomSet(3, 200)
	want := Cluster(fs)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 {
		shuffled := append([]Features(nil), fs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if diff := cmp.Diff(Cluster(shuffled), want); diff != "" {
			t.Errorf("permutation %d changed the partition (-got +want):\n%s", i, diff)
		}
	}
}

func TestClusterTimeShiftInvariant(t *testing.T) {
	fs := randomSet(5, 200)
	want := Cluster(fs)
	for _, d := range []time.Duration{90 * 24 * time.Hour, -17 * time.Hour, 3650 * 24 * time.Hour} {
		shifted := make([]Features, len(fs))
		for i, f := range fs {
			shifted[i] = f.Shift(d)
		}
		if diff := cmp.Diff(Cluster(shifted), want); diff != "" {
			t.Errorf("shift %v changed the partition (-got +want):\n%s", d, diff)
		}
	}
}

func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		x := NewIndex()
		cur := map[string]Features{}
		for step := range 40 {
			// Upsert, replace or remove a handful of identities.
			for range 1 + rng.IntN(6) {
				id := fmt.Sprintf("i%03d", rng.IntN(120))
				if _, ok := cur[id]; ok && rng.IntN(4) == 0 {
					x.Remove(id)
					delete(cur, id)
					continue
				}
				f := randomFeatures(rng, id)
				x.Upsert(f)
				cur[id] = f
			}
			x.Recompute()
			var all []Features
			for _, f := range cur {
				all = append(all, f)
			}
			if diff := cmp.Diff(x.Labels(), naiveCluster(all)); diff != "" {
				t.Fatalf("seed %d step %d: incremental partition differs (-got +want):\n%s", seed, step, diff)
			}
		}
	}
}

func TestRecomputeReportsOnlyChangedComponents(t *testing.T) {
	x := NewIndex()
	a := Features{ID: "a", C2Endpoints: []string{"c2.one"}}
	b := Features{ID: "b", C2Endpoints: []string{"c2.one"}}
	c := Features{ID: "c", C2Endpoints: []string{"c2.two"}}
	for _, f := range []Features{a, b, c} {
		x.Upsert(f)
	}
	if roots := x.Recompute(); len(roots) != 2 {
		t.Fatalf("first recompute roots = %v, want 2 components", roots)
	}
	if x.Upsert(c) {
		t.Errorf("Upsert of unchanged features reported a change")
	}
	if roots := x.Recompute(); roots != nil {
		t.Errorf("recompute with no change = %v, want nil", roots)
	}
	c.C2Endpoints = []string{"c2.one"}
	x.Upsert(c)
	roots := x.Recompute()
	if len(roots) != 1 {
		t.Errorf("roots after joining c = %v, want 1", roots)
	}
	if l := x.Labels(); l["c"] != "cmp-a" {
		t.Errorf("labels = %v, want c in cmp-a", l)
	}
}
