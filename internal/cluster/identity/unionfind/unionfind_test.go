package unionfind

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func sets(f *Forest) map[int32][]int32 {
	out := map[int32][]int32{}
	for i := int32(0); int(i) < f.Len(); i++ {
		r := f.Find(i)
		out[r] = append(out[r], i)
	}
	return out
}

func TestUnionAndMembers(t *testing.T) {
	f := New(6)
	if _, merged := f.Union(0, 1); !merged {
		t.Error("Union(0, 1) reported no merge")
	}
	f.Union(2, 3)
	f.Union(1, 3)
	if _, merged := f.Union(0, 2); merged {
		t.Error("Union(0, 2) merged sets that were already one")
	}
	if !f.Same(0, 3) || f.Same(0, 4) {
		t.Errorf("Same(0,3)=%v Same(0,4)=%v, want true false", f.Same(0, 3), f.Same(0, 4))
	}
	got := f.AppendMembers(nil, 2)
	slices.Sort(got)
	if !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Errorf("members of 2 = %v, want [0 1 2 3]", got)
	}
	if f.Size(1) != 4 || f.Size(5) != 1 {
		t.Errorf("sizes = %d %d, want 4 1", f.Size(1), f.Size(5))
	}
}

func TestResetWholeSet(t *testing.T) {
	f := New(5)
	f.Union(0, 1)
	f.Union(1, 2)
	f.Union(3, 4)
	f.Reset(f.AppendMembers(nil, 0))
	for i := int32(0); i < 3; i++ {
		if f.Size(i) != 1 {
			t.Errorf("element %d has set size %d after reset, want 1", i, f.Size(i))
		}
	}
	if !f.Same(3, 4) {
		t.Error("reset split an untouched set")
	}
}

func TestMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200
	f := New(n)
	label := make([]int, n)
	for i := range label {
		label[i] = i
	}
	for range 150 {
		x, y := int32(rng.IntN(n)), int32(rng.IntN(n))
		f.Union(x, y)
		from, to := label[y], label[x]
		for i := range label {
			if label[i] == from {
				label[i] = to
			}
		}
	}
	for r, members := range sets(f) {
		for _, m := range members {
			if label[m] != label[r] {
				t.Fatalf("element %d is with %d in the forest but not in the naive labels", m, r)
			}
		}
		got := f.AppendMembers(nil, r)
		slices.Sort(got)
		if !slices.Equal(got, members) {
			t.Fatalf("member list of %d = %v, want %v", r, got, members)
		}
	}
}
