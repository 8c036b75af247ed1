package identity

import (
	"slices"
	"strings"

	"github.com/decnet/decnet/internal/cluster/identity/unionfind"
)

// Params tunes how common fingerprints are weighted. The zero value treats
// every fingerprint as rare, which is the plain tier rule: any JA3 or HASSH
// match links.
type Params struct {
	// CommonMinPopulation is the number of observations from which
	// commonness applies. Below it the set is too small to tell a stock
	// client from one operator's own tool hopping across many addresses.
	CommonMinPopulation int
	// CommonMinCount is the number of observations that must carry a JA3
	// or HASSH value for it to count as common. 0 disables commonness.
	CommonMinCount int
}

// DefaultParams returns the production tuning: once at least 256
// observations exist, a fingerprint carried by 32 or more of them is
// common. An operator hopping across fewer than 32 addresses with a rare
// tool is still linked by it. A stock client seen from dozens of sources is
// not evidence of one operator.
func DefaultParams() Params {
	return Params{CommonMinPopulation: 256, CommonMinCount: 32}
}

// keyKind is the kind of an exact-match key in the inverted index.
type keyKind uint8

const (
	keyJA3 keyKind = iota
	keyHASSH
	keyPayload
	keyC2
)

type keyRef struct {
	kind  keyKind
	value string
}

func (k keyRef) fingerprint() bool { return k.kind == keyJA3 || k.kind == keyHASSH }

// pairwiseMax is the posting size up to which shared payload and C2 keys
// are linked by checking the veto on every pair. Larger postings use the
// grouping in linkShared, which is linear.
const pairwiseMax = 8

// noKey marks an empty fingerprint slot.
const noKey int32 = -1

// Index holds observations, the inverted indexes over their exact-match
// keys (JA3, HASSH, payload hashes, C2 endpoints) and the current
// partition into identities. It finds the same components as comparing
// every pair with Linked, without doing so: a rare JA3 or HASSH joins all
// of its carriers, and a shared payload or C2 key joins its carriers
// except where fingerprints veto it.
//
// Upsert and Remove record changes; Recompute brings the partition up to
// date, touching only the components the changes can affect. An Index is
// not safe for concurrent use.
type Index struct {
	params Params

	// Per observation slot. Slots are never reused for another ID.
	ids   []string
	slots map[string]int32
	obs   []Observation
	live  []bool
	nLive int
	fp    [][2]int32 // JA3 and HASSH key, or noKey
	keys  [][]int32  // every key of the slot, sorted

	// Per key. Postings may hold stale entries (slots that no longer carry
	// the key, or are dead); members filters them and compaction drops them.
	keyIDs  map[keyRef]int32
	keyRefs []keyRef
	posting [][]int32
	df      []int32 // live carriers
	stale   []int32
	common  []bool
	big     map[int32]struct{} // fingerprint keys with df ≥ CommonMinCount

	forest   *unionfind.Forest
	computed bool
	gateOpen bool

	// Changes since the last Recompute.
	pending     []int32
	pendingMark []bool
	oldKeys     map[int32][]int32
	nonMonotone bool

	buf    []int32
	merged []int32
}

// NewIndex returns an empty index.
func NewIndex(p Params) *Index {
	return &Index{
		params:  p,
		slots:   map[string]int32{},
		keyIDs:  map[keyRef]int32{},
		big:     map[int32]struct{}{},
		forest:  &unionfind.Forest{},
		oldKeys: map[int32][]int32{},
	}
}

// Reserve makes room for n observations in total, so that loading a large
// set does not regrow every per-observation array and map on the way.
func (x *Index) Reserve(n int) {
	if n <= len(x.ids) {
		return
	}
	extra := n - len(x.ids)
	x.ids = slices.Grow(x.ids, extra)
	x.obs = slices.Grow(x.obs, extra)
	x.live = slices.Grow(x.live, extra)
	x.fp = slices.Grow(x.fp, extra)
	x.keys = slices.Grow(x.keys, extra)
	x.pendingMark = slices.Grow(x.pendingMark, extra)
	if len(x.slots) == 0 {
		x.slots = make(map[string]int32, n)
	}
	if len(x.keyIDs) == 0 {
		x.keyIDs = make(map[keyRef]int32, n/4)
	}
}

// Params returns the tuning the index was built with.
func (x *Index) Params() Params { return x.params }

// Len returns the number of live observations.
func (x *Index) Len() int { return x.nLive }

// Slot returns the slot of an observation ID.
func (x *Index) Slot(id string) (int32, bool) {
	s, ok := x.slots[id]
	if !ok || !x.live[s] {
		return 0, false
	}
	return s, true
}

// ID returns the observation ID of a slot.
func (x *Index) ID(slot int32) string { return x.ids[slot] }

// Observation returns the observation stored in a slot.
func (x *Index) Observation(slot int32) *Observation { return &x.obs[slot] }

// Upsert adds o or replaces the observation with the same ID. It returns
// false when the stored observation already equals o.
func (x *Index) Upsert(o Observation) bool {
	o = o.Normalize()
	s, ok := x.slots[o.ID]
	if ok && x.live[s] && x.obs[s].Equal(&o) {
		return false
	}
	if !ok {
		s = int32(len(x.ids))
		x.ids = append(x.ids, o.ID)
		x.slots[o.ID] = s
		x.obs = append(x.obs, Observation{})
		x.live = append(x.live, false)
		x.fp = append(x.fp, [2]int32{noKey, noKey})
		x.keys = append(x.keys, nil)
		x.pendingMark = append(x.pendingMark, false)
		x.forest.Grow(len(x.ids))
	}

	fp, keys := x.intern(&o)
	if x.live[s] {
		x.saveOld(s)
		if fp != x.fp[s] || !subset(x.keys[s], keys) {
			x.nonMonotone = true
		}
		x.swapKeys(s, x.keys[s], keys)
	} else {
		x.live[s] = true
		x.nLive++
		x.swapKeys(s, nil, keys)
	}
	x.obs[s] = o
	x.fp[s] = fp
	x.keys[s] = keys
	x.markPending(s)
	return true
}

// Remove drops the observation with the given ID. It returns false when
// the ID is unknown.
func (x *Index) Remove(id string) bool {
	s, ok := x.slots[id]
	if !ok || !x.live[s] {
		return false
	}
	x.saveOld(s)
	x.swapKeys(s, x.keys[s], nil)
	x.live[s] = false
	x.nLive--
	x.keys[s] = nil
	x.fp[s] = [2]int32{noKey, noKey}
	x.obs[s] = Observation{ID: id}
	x.nonMonotone = true
	x.markPending(s)
	return true
}

func (x *Index) saveOld(s int32) {
	if _, saved := x.oldKeys[s]; !saved {
		x.oldKeys[s] = x.keys[s]
	}
}

func (x *Index) markPending(s int32) {
	if !x.pendingMark[s] {
		x.pendingMark[s] = true
		x.pending = append(x.pending, s)
	}
}

// intern returns the fingerprint keys and all keys of o, creating keys on
// first sight.
func (x *Index) intern(o *Observation) ([2]int32, []int32) {
	fp := [2]int32{noKey, noKey}
	keys := make([]int32, 0, 2+len(o.PayloadHashes)+len(o.C2Endpoints))
	if o.JA3 != "" {
		fp[0] = x.key(keyRef{keyJA3, o.JA3})
		keys = append(keys, fp[0])
	}
	if o.HASSH != "" {
		fp[1] = x.key(keyRef{keyHASSH, o.HASSH})
		keys = append(keys, fp[1])
	}
	for _, v := range o.PayloadHashes {
		keys = append(keys, x.key(keyRef{keyPayload, v}))
	}
	for _, v := range o.C2Endpoints {
		keys = append(keys, x.key(keyRef{keyC2, v}))
	}
	slices.Sort(keys)
	return fp, slices.Compact(keys)
}

func (x *Index) key(r keyRef) int32 {
	if k, ok := x.keyIDs[r]; ok {
		return k
	}
	k := int32(len(x.keyRefs))
	x.keyIDs[r] = k
	x.keyRefs = append(x.keyRefs, r)
	x.posting = append(x.posting, nil)
	x.df = append(x.df, 0)
	x.stale = append(x.stale, 0)
	x.common = append(x.common, false)
	return k
}

// swapKeys moves slot s from the postings of old to those of new; both are
// sorted.
func (x *Index) swapKeys(s int32, old, new []int32) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || (i < len(old) && old[i] < new[j]):
			k := old[i]
			x.df[k]--
			x.stale[k]++
			x.trackBig(k)
			if x.stale[k] > 8 && x.stale[k] > x.df[k] {
				x.compact(k)
			}
			i++
		case i == len(old) || new[j] < old[i]:
			k := new[j]
			x.posting[k] = append(x.posting[k], s)
			x.df[k]++
			x.trackBig(k)
			j++
		default:
			i++
			j++
		}
	}
}

func (x *Index) trackBig(k int32) {
	if !x.keyRefs[k].fingerprint() || x.params.CommonMinCount <= 0 {
		return
	}
	if int(x.df[k]) >= x.params.CommonMinCount {
		x.big[k] = struct{}{}
	} else {
		delete(x.big, k)
	}
}

// compact rewrites a posting without stale or duplicate entries.
func (x *Index) compact(k int32) {
	p := x.posting[k][:0]
	seen := map[int32]bool{}
	for _, s := range x.posting[k] {
		if x.carries(s, k) && !seen[s] {
			seen[s] = true
			p = append(p, s)
		}
	}
	x.posting[k] = slices.Clip(p)
	x.stale[k] = 0
}

func (x *Index) carries(s, k int32) bool {
	if !x.live[s] {
		return false
	}
	_, found := slices.BinarySearch(x.keys[s], k)
	return found
}

func subset(small, big []int32) bool {
	for _, k := range small {
		if _, ok := slices.BinarySearch(big, k); !ok {
			return false
		}
	}
	return true
}

// gate reports whether the set is large enough for commonness to apply.
func (x *Index) gate() bool {
	return x.params.CommonMinCount > 0 && x.nLive >= x.params.CommonMinPopulation
}

func (x *Index) isCommon(k int32) bool {
	return x.keyRefs[k].fingerprint() && x.gate() && int(x.df[k]) >= x.params.CommonMinCount
}

// Common reports whether a fingerprint value is common in the current set.
// It has the CommonFunc signature.
func (x *Index) Common(kind FingerprintKind, value string) bool {
	kk := keyJA3
	if kind == KindHASSH {
		kk = keyHASSH
	}
	k, ok := x.keyIDs[keyRef{kk, value}]
	return ok && x.isCommon(k)
}

// Recompute brings the partition up to date with every change since the
// last call and returns the representative slots of the components that
// changed (new, grown, merged or rebuilt), in ascending order. The first
// call computes every component.
//
// Additions that only add evidence merge components in place. A change
// that can remove an edge rebuilds the components around it. Such changes
// are a changed fingerprint, a dropped key, a removed observation and a
// fingerprint that becomes common. The rebuilt set is every component
// holding a changed observation or a carrier of a key it had or has. Edges
// never cross that set's boundary, so the rebuild gives the same
// partition as starting over.
func (x *Index) Recompute() []int32 {
	var roots []int32
	if !x.computed {
		roots = x.full()
	} else if len(x.pending) > 0 {
		roots = x.incremental()
	}
	for _, s := range x.pending {
		x.pendingMark[s] = false
	}
	x.pending = x.pending[:0]
	clear(x.oldKeys)
	x.nonMonotone = false
	return roots
}

func (x *Index) full() []int32 {
	x.forest = unionfind.New(len(x.ids))
	x.gateOpen = x.gate()
	for k := range x.keyRefs {
		x.common[k] = x.isCommon(int32(k))
	}
	for k := range x.keyRefs {
		x.linkKey(int32(k), nil)
	}
	x.computed = true

	var roots []int32
	for s := range x.ids {
		if x.live[s] && x.forest.Find(int32(s)) == int32(s) {
			roots = append(roots, int32(s))
		}
	}
	x.merged = x.merged[:0]
	return roots
}

func (x *Index) incremental() []int32 {
	touched := map[int32]bool{}
	for _, s := range x.pending {
		for _, k := range x.keys[s] {
			touched[k] = true
		}
		for _, k := range x.oldKeys[s] {
			touched[k] = true
		}
	}
	if gate := x.gate(); gate != x.gateOpen {
		for k := range x.big {
			touched[k] = true
		}
		for k := range x.keyRefs {
			if x.common[k] {
				touched[int32(k)] = true
			}
		}
		x.gateOpen = gate
	}

	// commonBefore holds the status of touched keys from the last
	// partition; a key common before and after has no edges to rebuild.
	commonBefore := map[int32]bool{}
	for k := range touched {
		if !x.keyRefs[k].fingerprint() {
			continue
		}
		commonBefore[k] = x.common[k]
		if now := x.isCommon(k); now != x.common[k] {
			x.common[k] = now
			if now {
				x.nonMonotone = true
			}
		}
	}
	keys := sortedKeys(touched)

	if !x.nonMonotone {
		return x.grow(keys)
	}
	return x.rebuild(keys, commonBefore)
}

// grow adds edges for the touched keys to the current forest. It is only
// correct when no edge has disappeared.
func (x *Index) grow(keys []int32) []int32 {
	x.merged = x.merged[:0]
	for _, k := range keys {
		x.linkKey(k, nil)
	}
	seen := map[int32]bool{}
	var roots []int32
	add := func(s int32) {
		if r := x.forest.Find(s); x.live[r] && !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	for _, s := range x.pending {
		if x.live[s] {
			add(s)
		}
	}
	for _, s := range x.merged {
		add(s)
	}
	slices.Sort(roots)
	return roots
}

// rebuild recomputes the components around the pending changes from
// scratch.
func (x *Index) rebuild(keys []int32, commonBefore map[int32]bool) []int32 {
	scope := map[int32]bool{}
	addComp := func(s int32) { scope[x.forest.Find(s)] = true }
	for _, s := range x.pending {
		addComp(s)
	}
	for _, k := range keys {
		if x.keyRefs[k].fingerprint() && x.common[k] && commonBefore[k] {
			continue
		}
		for _, s := range x.posting[k] {
			if x.live[s] {
				addComp(s)
			}
		}
	}

	var members []int32
	for r := range scope {
		members = x.forest.AppendMembers(members, r)
	}
	slices.Sort(members)
	inScope := make(map[int32]bool, len(members))
	for _, s := range members {
		inScope[s] = true
	}
	x.forest.Reset(members)

	scopeKeys := map[int32]bool{}
	for _, s := range members {
		for _, k := range x.keys[s] {
			scopeKeys[k] = true
		}
	}
	for _, k := range sortedKeys(scopeKeys) {
		x.linkKey(k, inScope)
	}

	seen := map[int32]bool{}
	var roots []int32
	for _, s := range members {
		if !x.live[s] {
			continue
		}
		if r := x.forest.Find(s); !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	slices.Sort(roots)
	return roots
}

func sortedKeys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// linkKey unions the live carriers of key k (only those in scope when
// scope is not nil) that the key links.
func (x *Index) linkKey(k int32, scope map[int32]bool) {
	if x.keyRefs[k].fingerprint() && x.common[k] {
		return
	}
	members := x.buf[:0]
	for _, s := range x.posting[k] {
		if x.carries(s, k) && (scope == nil || scope[s]) {
			members = append(members, s)
		}
	}
	x.buf = members
	if len(members) < 2 {
		return
	}
	union := func(a, b int32) {
		if r, merged := x.forest.Union(a, b); merged {
			x.merged = append(x.merged, r)
		}
	}
	if x.keyRefs[k].fingerprint() {
		for _, s := range members[1:] {
			union(members[0], s)
		}
		return
	}
	x.linkShared(members, union)
}

// vetoedSlots is Vetoed on interned fingerprint keys.
func (x *Index) vetoedSlots(a, b int32) bool {
	fa, fb := x.fp[a], x.fp[b]
	comparable, agree := false, false
	for i := range 2 {
		if fa[i] != noKey && fb[i] != noKey {
			comparable = true
			agree = agree || fa[i] == fb[i]
		}
	}
	return comparable && !agree
}

// linkShared unions the carriers of one payload or C2 key that the
// fingerprint veto allows. A pair is allowed when no fingerprint slot is
// known on both sides, or when some slot agrees. So, grouping the carriers
// by which slots they know:
//   - a carrier with no fingerprint at all is allowed with everyone, and
//     then the whole posting is one component;
//   - carriers with the same JA3, or the same HASSH, are allowed together;
//   - a carrier with only a JA3 is allowed with every carrier that has only
//     a HASSH, so if both kinds exist they all join.
//
// Small postings are checked pair by pair instead.
func (x *Index) linkShared(members []int32, union func(a, b int32)) {
	if len(members) <= pairwiseMax {
		for i, a := range members {
			for _, b := range members[i+1:] {
				if !x.vetoedSlots(a, b) {
					union(a, b)
				}
			}
		}
		return
	}

	bare, onlyJA3, onlyHASSH := noKey, noKey, noKey
	byJA3 := map[int32]int32{}
	byHASSH := map[int32]int32{}
	for _, s := range members {
		j, h := x.fp[s][0], x.fp[s][1]
		switch {
		case j == noKey && h == noKey:
			if bare == noKey {
				bare = s
			}
			continue
		case h == noKey:
			if onlyJA3 == noKey {
				onlyJA3 = s
			}
		case j == noKey:
			if onlyHASSH == noKey {
				onlyHASSH = s
			}
		}
		if j != noKey {
			if first, ok := byJA3[j]; ok {
				union(first, s)
			} else {
				byJA3[j] = s
			}
		}
		if h != noKey {
			if first, ok := byHASSH[h]; ok {
				union(first, s)
			} else {
				byHASSH[h] = s
			}
		}
	}

	switch {
	case bare != noKey:
		for _, s := range members {
			union(bare, s)
		}
	case onlyJA3 != noKey && onlyHASSH != noKey:
		for _, s := range members {
			j, h := x.fp[s][0], x.fp[s][1]
			if h == noKey {
				union(onlyHASSH, s)
			} else if j == noKey {
				union(onlyJA3, s)
			}
		}
	}
}

// Find returns the representative slot of a slot's component.
func (x *Index) Find(slot int32) int32 { return x.forest.Find(slot) }

// Members appends the slots of the component of slot to dst.
func (x *Index) Members(dst []int32, slot int32) []int32 {
	return x.forest.AppendMembers(dst, slot)
}

// Labels returns the current partition as a map from observation ID to a
// component label: "cc-" followed by the smallest member ID, so that labels
// do not depend on input order. Call Recompute first.
func (x *Index) Labels() map[string]string {
	minID := map[int32]string{}
	for s, id := range x.ids {
		if !x.live[s] {
			continue
		}
		r := x.forest.Find(int32(s))
		if cur, ok := minID[r]; !ok || id < cur {
			minID[r] = id
		}
	}
	out := make(map[string]string, x.nLive)
	for s, id := range x.ids {
		if x.live[s] {
			out[id] = "cc-" + minID[x.forest.Find(int32(s))]
		}
	}
	return out
}

// Components clusters a batch of observations from scratch and returns
// each observation's component label (see Index.Labels). Observations with
// the same ID replace earlier ones.
func Components(obs []Observation, p Params) map[string]string {
	x := NewIndex(p)
	x.Reserve(len(obs))
	for _, o := range obs {
		x.Upsert(o)
	}
	x.Recompute()
	return x.Labels()
}

// treeWeight returns the summed WeightWith of the edges of a spanning
// forest of members (one or more whole components) and the number of those
// edges. The forest is picked in a fixed order, so that the result depends
// only on the members and their evidence. Members are sorted by ID and keys
// by kind and value, and each key links as it does for the partition.
func (x *Index) treeWeight(members []int32) (float64, int) {
	if len(members) < 2 {
		return 0, 0
	}
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b int32) int { return strings.Compare(x.ids[a], x.ids[b]) })
	local := make(map[int32]int32, len(sorted))
	for i, s := range sorted {
		local[s] = int32(i)
	}

	byKey := map[int32][]int32{}
	for _, s := range sorted {
		for _, k := range x.keys[s] {
			byKey[k] = append(byKey[k], s)
		}
	}
	keys := make([]int32, 0, len(byKey))
	for k, carriers := range byKey {
		if len(carriers) > 1 && !(x.keyRefs[k].fingerprint() && x.common[k]) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b int32) int {
		ra, rb := x.keyRefs[a], x.keyRefs[b]
		if ra.kind != rb.kind {
			return int(ra.kind) - int(rb.kind)
		}
		return strings.Compare(ra.value, rb.value)
	})

	forest := unionfind.New(len(sorted))
	sum, n := 0.0, 0
	union := func(a, b int32) {
		if _, merged := forest.Union(local[a], local[b]); merged {
			sum += WeightWith(&x.obs[a], &x.obs[b], x.Common)
			n++
		}
	}
	for _, k := range keys {
		carriers := byKey[k]
		if x.keyRefs[k].fingerprint() {
			for _, s := range carriers[1:] {
				union(carriers[0], s)
			}
			continue
		}
		x.linkShared(carriers, union)
	}
	return sum, n
}
