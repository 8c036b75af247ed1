package identity

import (
	"slices"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/store/sqlstore"
)

// identities is the in-memory copy of attacker_identities that the
// reconciliation needs: merge pointers, the observations linked to each
// identity and the digest of its stored rollup.
type identities struct {
	uuid     []string
	pos      map[string]int32
	merged   []int32 // merge target, or -1
	children map[int32][]int32
	digest   []string
	obsHead  []int32 // first observation slot linked to the identity, or -1
}

func newIdentities() *identities {
	return &identities{pos: map[string]int32{}, children: map[int32][]int32{}}
}

func (d *identities) add(uuid, digest string) int32 {
	if i, ok := d.pos[uuid]; ok {
		return i
	}
	i := int32(len(d.uuid))
	d.uuid = append(d.uuid, uuid)
	d.pos[uuid] = i
	d.merged = append(d.merged, -1)
	d.digest = append(d.digest, digest)
	d.obsHead = append(d.obsHead, -1)
	return i
}

func (d *identities) setMerged(i, target int32) {
	if old := d.merged[i]; old >= 0 {
		d.children[old] = slices.DeleteFunc(d.children[old], func(c int32) bool { return c == i })
		if len(d.children[old]) == 0 {
			delete(d.children, old)
		}
	}
	d.merged[i] = target
	if target >= 0 {
		d.children[target] = append(d.children[target], i)
	}
}

// resolve follows merge pointers from i for at most sqlstore.MaxMergeHops
// hops and returns the identity reached.
func (d *identities) resolve(i int32) int32 {
	for hop := 0; hop < sqlstore.MaxMergeHops && d.merged[i] >= 0 && d.merged[i] != i; hop++ {
		i = d.merged[i]
	}
	return i
}

func (d *identities) removeObs(i, slot int32, members []member) {
	if d.obsHead[i] == slot {
		d.obsHead[i] = members[slot].nextInIdentity
		return
	}
	for s := d.obsHead[i]; s >= 0; s = members[s].nextInIdentity {
		if members[s].nextInIdentity == slot {
			members[s].nextInIdentity = members[slot].nextInIdentity
			return
		}
	}
}

// plan is the database side of a reconciliation plus what commit needs to
// update memory afterwards.
type plan struct {
	changes sqlstore.IdentityChanges
	digests map[string]string
}

func (p *plan) Empty() bool { return p.changes.Empty() }

// family is the set of components and identities that one reconciliation
// must look at together. It starts from the changed components and adds,
// until nothing new appears, every identity linked from a component, every
// identity in the same merge tree, and every component holding
// observations of an added identity.
type family struct {
	comps  []int32 // component representatives
	idents []int32
}

func (c *Clusterer) expand(roots []int32) family {
	var f family
	compSeen := map[int32]bool{}
	identSeen := map[int32]bool{}
	var compQueue, identQueue []int32
	pushComp := func(r int32) {
		if !compSeen[r] {
			compSeen[r] = true
			compQueue = append(compQueue, r)
		}
	}
	pushIdent := func(i int32) {
		if !identSeen[i] {
			identSeen[i] = true
			identQueue = append(identQueue, i)
		}
	}
	for _, r := range roots {
		pushComp(r)
	}

	var buf []int32
	for len(compQueue) > 0 || len(identQueue) > 0 {
		if len(compQueue) > 0 {
			r := compQueue[0]
			compQueue = compQueue[1:]
			f.comps = append(f.comps, r)
			buf = c.idx.Members(buf[:0], r)
			for _, s := range buf {
				if lit := c.members[s].literal; lit >= 0 {
					pushIdent(lit)
				}
			}
			continue
		}
		i := identQueue[0]
		identQueue = identQueue[1:]
		f.idents = append(f.idents, i)
		// The whole merge tree: the root and everything below it.
		pushIdent(c.ident.resolve(i))
		for _, child := range c.ident.children[i] {
			pushIdent(child)
		}
		if m := c.ident.merged[i]; m >= 0 {
			pushIdent(m)
		}
		for s := c.ident.obsHead[i]; s >= 0; s = c.members[s].nextInIdentity {
			if _, live := c.idx.Slot(c.idx.ID(s)); live {
				pushComp(c.idx.Find(s))
			}
		}
	}
	return f
}

// component is one component of the changed region with the identities
// whose home it is.
type component struct {
	root       int32
	slots      []int32 // members, sorted by observation ID
	candidates []int32 // identities at home here, sorted by UUID
}

// homeStat counts one identity's observations in one component.
type homeStat struct {
	n     int
	first time.Time // earliest first_seen among them
}

// better reports whether h makes a better home than o: more observations,
// then the earlier first observation, which is where the identity started.
func (h homeStat) better(o homeStat) bool {
	if h.n != o.n {
		return h.n > o.n
	}
	return h.first.Before(o.first)
}

// components lists the family's components, each with the identities whose
// home it is. An identity's home is the component holding most of its
// linked observations. A tie goes to the component holding its earliest
// observation, then to the component whose smallest observation ID sorts
// first.
func (c *Clusterer) components(f family) []component {
	comps := make([]component, len(f.comps))
	stats := map[int32]map[int]homeStat{}
	for i, r := range f.comps {
		slots := c.idx.Members(nil, r)
		slices.SortFunc(slots, func(a, b int32) int { return strings.Compare(c.idx.ID(a), c.idx.ID(b)) })
		comps[i] = component{root: r, slots: slots}
		for _, s := range slots {
			lit := c.members[s].literal
			if lit < 0 {
				continue
			}
			if stats[lit] == nil {
				stats[lit] = map[int]homeStat{}
			}
			st, seen := stats[lit][i]
			st.n++
			if first := c.members[s].firstSeen; !seen || first.Before(st.first) {
				st.first = first
			}
			stats[lit][i] = st
		}
	}

	for _, id := range f.idents {
		best := -1
		for i, st := range stats[id] {
			if best < 0 || st.better(stats[id][best]) ||
				(!stats[id][best].better(st) && c.idx.ID(comps[i].slots[0]) < c.idx.ID(comps[best].slots[0])) {
				best = i
			}
		}
		if best >= 0 {
			comps[best].candidates = append(comps[best].candidates, id)
		}
	}

	for i := range comps {
		slices.SortFunc(comps[i].candidates, func(a, b int32) int { return strings.Compare(c.ident.uuid[a], c.ident.uuid[b]) })
	}
	slices.SortFunc(comps, func(a, b component) int {
		return strings.Compare(c.idx.ID(a.slots[0]), c.idx.ID(b.slots[0]))
	})
	return comps
}

// reconcile gives every component around the changed ones exactly one
// canonical identity and returns the writes and events that make the
// database match:
//   - a component that is no identity's home gets a new identity
//     (identity.formed);
//   - otherwise the smallest UUID among the identities at home there is
//     canonical, and the others point at it (identity.merged when they
//     were live);
//   - a canonical identity that was merged out is brought back
//     (identity.unmerged, then identity.formed with Resurrected set);
//   - an identity that moves from one winner to another is reported as
//     unmerged from the old one and merged into the new one;
//   - observations that are unlinked, or linked to an identity whose home
//     is another component, are linked to the canonical identity
//     (identity.observation.linked);
//   - the canonical identity's rollup is written when its digest changed.
//
// Observations linked to an identity merged into the canonical one keep
// that link, and readers follow the merge pointer. Every pointer written
// goes straight to the canonical identity, which compresses longer chains.
func (c *Clusterer) reconcile(roots []int32, now time.Time) (plan, Result) {
	p := plan{changes: sqlstore.IdentityChanges{Now: now}, digests: map[string]string{}}
	var res Result
	if len(roots) == 0 {
		return p, res
	}
	for _, comp := range c.components(c.expand(roots)) {
		c.reconcileComponent(comp, &p, &res)
	}
	return p, res
}

func (c *Clusterer) reconcileComponent(comp component, p *plan, res *Result) {
	ids := make([]string, len(comp.slots))
	for i, s := range comp.slots {
		ids[i] = c.idx.ID(s)
	}
	rollup := c.rollupOf(comp.slots, []int32{comp.root})

	if len(comp.candidates) == 0 {
		canon := c.mint()
		p.changes.Create = append(p.changes.Create, sqlstore.IdentityCreate{UUID: canon, Rollup: rollup})
		p.digests[canon] = rollup.Digest
		for _, id := range ids {
			p.changes.Links = append(p.changes.Links, sqlstore.IdentityLink{AttackerUUID: id, IdentityUUID: canon})
		}
		res.Formed = append(res.Formed, Formed{IdentityUUID: canon, ObservationUUIDs: ids})
		return
	}

	canon := comp.candidates[0] // smallest UUID
	canonUUID := c.ident.uuid[canon]
	atHome := make(map[int32]bool, len(comp.candidates))
	for _, i := range comp.candidates {
		atHome[i] = true
	}

	resurrected := false
	for _, i := range comp.candidates {
		oldRoot := c.ident.resolve(i)
		uuid := c.ident.uuid[i]
		if i == canon {
			if c.ident.merged[i] >= 0 {
				p.changes.Merges = append(p.changes.Merges, sqlstore.IdentityMerge{UUID: uuid})
				if oldRoot != i {
					res.Unmerged = append(res.Unmerged, Unmerged{ResurrectedUUID: uuid, FormerWinnerUUID: c.ident.uuid[oldRoot]})
					resurrected = true
				}
			}
			continue
		}
		if c.ident.merged[i] != canon {
			p.changes.Merges = append(p.changes.Merges, sqlstore.IdentityMerge{UUID: uuid, MergedInto: canonUUID})
		}
		switch {
		case oldRoot == canon:
		case oldRoot == i:
			res.Merged = append(res.Merged, Merged{WinnerUUID: canonUUID, LoserUUID: uuid, IdentityUUID: canonUUID})
		case !atHome[oldRoot]:
			res.Unmerged = append(res.Unmerged, Unmerged{ResurrectedUUID: uuid, FormerWinnerUUID: c.ident.uuid[oldRoot]})
			res.Merged = append(res.Merged, Merged{WinnerUUID: canonUUID, LoserUUID: uuid, IdentityUUID: canonUUID})
		}
	}

	for i, s := range comp.slots {
		if lit := c.members[s].literal; lit >= 0 && atHome[lit] {
			continue
		}
		p.changes.Links = append(p.changes.Links, sqlstore.IdentityLink{AttackerUUID: ids[i], IdentityUUID: canonUUID})
		res.Linked = append(res.Linked, Linked{IdentityUUID: canonUUID, ObservationUUID: ids[i]})
	}
	if resurrected {
		res.Formed = append(res.Formed, Formed{IdentityUUID: canonUUID, ObservationUUIDs: ids, Resurrected: true})
	}
	if rollup.Digest != c.ident.digest[canon] {
		p.changes.Rollups = append(p.changes.Rollups, sqlstore.IdentityRollupUpdate{UUID: canonUUID, Rollup: rollup})
		p.digests[canonUUID] = rollup.Digest
	}
}

// commit applies a written plan to the in-memory state.
func (c *Clusterer) commit(p plan) {
	for _, cr := range p.changes.Create {
		c.ident.add(cr.UUID, cr.Rollup.Digest)
	}
	for _, m := range p.changes.Merges {
		target := int32(-1)
		if m.MergedInto != "" {
			target = c.ident.pos[m.MergedInto]
		}
		c.ident.setMerged(c.ident.pos[m.UUID], target)
	}
	for _, l := range p.changes.Links {
		slot, ok := c.idx.Slot(l.AttackerUUID)
		if ok {
			c.setLiteral(slot, c.ident.pos[l.IdentityUUID])
		}
	}
	for uuid, d := range p.digests {
		c.ident.digest[c.ident.pos[uuid]] = d
	}
}
