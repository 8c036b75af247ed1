package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/decnet/decnet/internal/cluster/identity/unionfind"
)

// MaxPosting is the number of identities above which a shared payload
// hash, C2 endpoint or keystroke half no longer proposes every pair that
// carries it for scoring.
//
// NOTE: above the cap, identities whose payload and C2 sets are identical
// are still linked (through the set digest), and pairs that also share a
// rarer key are still scored through that key. A pair whose only common
// value is one carried by more than MaxPosting identities is not scored.
// Such a value (a stock botnet payload) would otherwise cost a number of
// comparisons that grows with the square of its carriers.
const MaxPosting = 512

// stamp is one identity's handoff endpoint on a decky: the time of its last
// outgoing or first incoming phase there.
type stamp struct {
	t    int64 // Unix nanoseconds
	slot int32
}

func compareStamp(a, b stamp) int {
	if a.t != b.t {
		if a.t < b.t {
			return -1
		}
		return 1
	}
	return int(a.slot) - int(b.slot)
}

// Index holds identity features, inverted indexes over the keys that can
// propose an edge, and the current partition into campaigns. It finds the
// same components as scoring every pair with Score, without doing so: an
// edge needs a handoff, shared infrastructure, or (with neither) keystroke
// centroids at Hamming distance 1 or less, and each of those has an index:
//   - payload hashes and C2 endpoints, and the digest of the whole set;
//   - per decky, the sorted times of outgoing and incoming handoff phases,
//     searched within HandoffWindow;
//   - the two 32-bit halves of the keystroke centroid (two centroids at
//     distance 1 or less agree on at least one half).
//
// Upsert and Remove record changes; Recompute brings the partition up to
// date, resetting only the components that held changed identities and
// rescoring their members' candidates. An Index is not safe for
// concurrent use.
type Index struct {
	ids   []string
	slots map[string]int32
	feats []Features
	live  []bool
	nLive int

	digest   []string
	byDigest map[string][]int32
	infra    map[string][]int32
	outs     map[string][]stamp
	ins      map[string][]stamp
	kd       [2]map[uint32][]int32

	forest *unionfind.Forest
	// Per component representative: the summed weight of the edges that
	// joined it and their number.
	treeSum []float64
	treeN   []int32

	pending     []int32
	pendingMark []bool
	buf         []int32
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		slots:    map[string]int32{},
		byDigest: map[string][]int32{},
		infra:    map[string][]int32{},
		outs:     map[string][]stamp{},
		ins:      map[string][]stamp{},
		kd:       [2]map[uint32][]int32{{}, {}},
		forest:   &unionfind.Forest{},
	}
}

// Len returns the number of live identities.
func (x *Index) Len() int { return x.nLive }

// Slot returns the slot of a live identity ID.
func (x *Index) Slot(id string) (int32, bool) {
	s, ok := x.slots[id]
	if !ok || !x.live[s] {
		return 0, false
	}
	return s, true
}

// ID returns the identity ID of a slot.
func (x *Index) ID(slot int32) string { return x.ids[slot] }

// Features returns the features stored in a slot.
func (x *Index) Features(slot int32) *Features { return &x.feats[slot] }

// Upsert adds f or replaces the identity with the same ID. It returns false
// when the stored features already equal f.
func (x *Index) Upsert(f Features) bool {
	f = f.Normalize()
	s, ok := x.slots[f.ID]
	if ok && x.live[s] && x.feats[s].Equal(&f) {
		return false
	}
	if !ok {
		s = int32(len(x.ids))
		x.ids = append(x.ids, f.ID)
		x.slots[f.ID] = s
		x.feats = append(x.feats, Features{})
		x.live = append(x.live, false)
		x.digest = append(x.digest, "")
		x.pendingMark = append(x.pendingMark, false)
		x.treeSum = append(x.treeSum, 0)
		x.treeN = append(x.treeN, 0)
		x.forest.Grow(len(x.ids))
	}
	if x.live[s] {
		x.unindex(s)
	} else {
		x.live[s] = true
		x.nLive++
	}
	x.feats[s] = f
	x.index(s)
	x.markPending(s)
	return true
}

// Remove drops the identity with the given ID. It returns false when the
// ID is unknown.
func (x *Index) Remove(id string) bool {
	s, ok := x.Slot(id)
	if !ok {
		return false
	}
	x.unindex(s)
	x.live[s] = false
	x.nLive--
	x.feats[s] = Features{ID: id}
	x.markPending(s)
	return true
}

func (x *Index) markPending(s int32) {
	if !x.pendingMark[s] {
		x.pendingMark[s] = true
		x.pending = append(x.pending, s)
	}
}

func infraDigest(f *Features) string {
	if len(f.PayloadHashes)+len(f.C2Endpoints) == 0 {
		return ""
	}
	h := sha256.New()
	for _, v := range infraSet(f) {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (x *Index) index(s int32) {
	f := &x.feats[s]
	if d := infraDigest(f); d != "" {
		x.digest[s] = d
		x.byDigest[d] = append(x.byDigest[d], s)
	}
	for _, k := range infraSet(f) {
		x.infra[k] = append(x.infra[k], s)
	}
	for d, p := range f.Phases {
		if handoffOut[p.LastPhase] {
			x.outs[d] = insertStamp(x.outs[d], stamp{p.LastSeen.UnixNano(), s})
		}
		if handoffIn[p.FirstPhase] {
			x.ins[d] = insertStamp(x.ins[d], stamp{p.FirstSeen.UnixNano(), s})
		}
	}
	if f.HasKD {
		for h, v := range kdHalves(f.KD) {
			x.kd[h][v] = append(x.kd[h][v], s)
		}
	}
}

func (x *Index) unindex(s int32) {
	f := &x.feats[s]
	if d := x.digest[s]; d != "" {
		x.byDigest[d] = removeSlot(x.byDigest[d], s)
		if len(x.byDigest[d]) == 0 {
			delete(x.byDigest, d)
		}
		x.digest[s] = ""
	}
	for _, k := range infraSet(f) {
		x.infra[k] = removeSlot(x.infra[k], s)
		if len(x.infra[k]) == 0 {
			delete(x.infra, k)
		}
	}
	for d, p := range f.Phases {
		if handoffOut[p.LastPhase] {
			x.outs[d] = deleteStamp(x.outs[d], stamp{p.LastSeen.UnixNano(), s})
			if len(x.outs[d]) == 0 {
				delete(x.outs, d)
			}
		}
		if handoffIn[p.FirstPhase] {
			x.ins[d] = deleteStamp(x.ins[d], stamp{p.FirstSeen.UnixNano(), s})
			if len(x.ins[d]) == 0 {
				delete(x.ins, d)
			}
		}
	}
	if f.HasKD {
		for h, v := range kdHalves(f.KD) {
			x.kd[h][v] = removeSlot(x.kd[h][v], s)
			if len(x.kd[h][v]) == 0 {
				delete(x.kd[h], v)
			}
		}
	}
}

func kdHalves(v uint64) [2]uint32 { return [2]uint32{uint32(v >> 32), uint32(v)} }

func removeSlot(list []int32, s int32) []int32 {
	if i := slices.Index(list, s); i >= 0 {
		last := len(list) - 1
		list[i] = list[last]
		return list[:last]
	}
	return list
}

func insertStamp(list []stamp, st stamp) []stamp {
	i, _ := slices.BinarySearchFunc(list, st, compareStamp)
	return slices.Insert(list, i, st)
}

func deleteStamp(list []stamp, st stamp) []stamp {
	if i, ok := slices.BinarySearchFunc(list, st, compareStamp); ok {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// candidates calls fn for every identity that may share an edge with s.
// ordered is false for candidates that are not proposed symmetrically (the
// digest group's representative), which must be scored from either side.
// A candidate may be proposed more than once.
func (x *Index) candidates(s int32, fn func(t int32, ordered bool)) {
	f := &x.feats[s]
	if d := x.digest[s]; d != "" {
		for _, t := range x.byDigest[d] {
			if t != s {
				fn(t, false)
				break
			}
		}
	}
	for _, k := range infraSet(f) {
		if list := x.infra[k]; len(list) <= MaxPosting {
			for _, t := range list {
				fn(t, true)
			}
		}
	}
	window := int64(HandoffWindow)
	for d, p := range f.Phases {
		if handoffOut[p.LastPhase] {
			t0 := p.LastSeen.UnixNano()
			scanStamps(x.ins[d], t0, t0+window, fn)
		}
		if handoffIn[p.FirstPhase] {
			t0 := p.FirstSeen.UnixNano()
			scanStamps(x.outs[d], t0-window, t0, fn)
		}
	}
	if f.HasKD {
		for h, v := range kdHalves(f.KD) {
			if list := x.kd[h][v]; len(list) <= MaxPosting {
				for _, t := range list {
					fn(t, true)
				}
			}
		}
	}
}

// scanStamps calls fn for the stamps with from ≤ t ≤ to.
func scanStamps(list []stamp, from, to int64, fn func(int32, bool)) {
	i, _ := slices.BinarySearchFunc(list, stamp{from, -1 << 31}, compareStamp)
	for ; i < len(list) && list[i].t <= to; i++ {
		fn(list[i].slot, true)
	}
}

// Recompute brings the partition up to date with the changes since the
// last call and returns the representatives of every component that may
// have changed: those holding a changed identity, and those they joined.
// The first call after a batch of Upserts is the from-scratch pass.
func (x *Index) Recompute() []int32 {
	if len(x.pending) == 0 {
		return nil
	}

	// The old components of every changed identity are reset whole. The
	// rest of the partition stays, and edges into it are found again from
	// the reset side.
	var affected []int32
	inAffected := make(map[int32]bool, len(x.pending))
	for _, s := range x.pending {
		if inAffected[s] {
			continue
		}
		x.buf = x.forest.AppendMembers(x.buf[:0], s)
		for _, m := range x.buf {
			if !inAffected[m] {
				inAffected[m] = true
				affected = append(affected, m)
			}
		}
	}
	for _, s := range x.pending {
		x.pendingMark[s] = false
	}
	x.pending = x.pending[:0]
	x.forest.Reset(affected)
	for _, s := range affected {
		x.treeSum[s], x.treeN[s] = 0, 0
	}
	slices.Sort(affected)

	for _, s := range affected {
		if !x.live[s] {
			continue
		}
		x.candidates(s, func(t int32, ordered bool) {
			if t == s || (ordered && t < s && inAffected[t]) {
				return
			}
			x.link(s, t)
		})
	}

	seen := map[int32]bool{}
	var roots []int32
	for _, s := range affected {
		if r := x.forest.Find(s); !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	return roots
}

// link scores s and t and joins their components when the pair is an edge.
func (x *Index) link(s, t int32) {
	rs, rt := x.forest.Find(s), x.forest.Find(t)
	if rs == rt {
		return
	}
	e := Score(&x.feats[s], &x.feats[t])
	if !e.Linked() {
		return
	}
	sum := x.treeSum[rs] + x.treeSum[rt] + e.Weight()
	n := x.treeN[rs] + x.treeN[rt] + 1
	r, _ := x.forest.Union(s, t)
	x.treeSum[r], x.treeN[r] = sum, n
}

// Find returns the representative slot of a slot's component.
func (x *Index) Find(slot int32) int32 { return x.forest.Find(slot) }

// Members appends the slots of the component of slot to dst.
func (x *Index) Members(dst []int32, slot int32) []int32 {
	return x.forest.AppendMembers(dst, slot)
}

// Confidence returns the mean weight of the edges that joined slot's
// component, divided by MaxWeight, or false for a singleton. Which edges
// join a component can depend on the order of the changes, so two indexes
// with the same partition may differ slightly here.
func (x *Index) Confidence(slot int32) (float64, bool) {
	r := x.forest.Find(slot)
	if x.treeN[r] == 0 {
		return 0, false
	}
	c := x.treeSum[r] / float64(x.treeN[r]) / MaxWeight
	return float64(int64(c*1e6+0.5)) / 1e6, true
}

// Labels returns the current partition as a map from identity ID to a
// campaign label: "cmp-" followed by the smallest member ID, so that labels
// do not depend on input order. Call Recompute first.
func (x *Index) Labels() map[string]string {
	minID := map[int32]string{}
	for s, id := range x.ids {
		if !x.live[s] {
			continue
		}
		r := x.forest.Find(int32(s))
		if cur, ok := minID[r]; !ok || strings.Compare(id, cur) < 0 {
			minID[r] = id
		}
	}
	out := make(map[string]string, x.nLive)
	for s, id := range x.ids {
		if x.live[s] {
			out[id] = "cmp-" + minID[x.forest.Find(int32(s))]
		}
	}
	return out
}

// Cluster groups a batch of identities from scratch and returns each
// identity's campaign label (see Index.Labels). Features with the same ID
// replace earlier ones.
func Cluster(fs []Features) map[string]string {
	x := NewIndex()
	for _, f := range fs {
		x.Upsert(f)
	}
	x.Recompute()
	return x.Labels()
}
