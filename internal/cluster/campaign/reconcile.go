package campaign

import (
	"slices"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/store/sqlstore"
)

// plan is the database side of a reconciliation plus what commit needs to
// update memory afterwards.
type plan struct {
	changes sqlstore.CampaignChanges
	digests map[string]string
}

// family is the set of components and campaigns that one reconciliation
// must look at together: the changed components, every campaign their
// identities are linked to, every campaign in the same merge tree, and
// every component holding identities of those campaigns, to a fixed point.
type family struct {
	comps []int32
	camps []string
}

func (c *Clusterer) expand(roots []int32) family {
	var f family
	compSeen := map[int32]bool{}
	campSeen := map[string]bool{}
	var compQueue []int32
	var campQueue []string
	pushComp := func(r int32) {
		if !compSeen[r] {
			compSeen[r] = true
			compQueue = append(compQueue, r)
		}
	}
	pushCamp := func(id string) {
		if id != "" && !campSeen[id] {
			campSeen[id] = true
			campQueue = append(campQueue, id)
		}
	}
	for _, r := range roots {
		pushComp(r)
	}
	var buf []int32
	for len(compQueue) > 0 || len(campQueue) > 0 {
		if len(compQueue) > 0 {
			r := compQueue[0]
			compQueue = compQueue[1:]
			f.comps = append(f.comps, r)
			buf = c.idx.Members(buf[:0], r)
			for _, s := range buf {
				tree := map[string]bool{}
				c.collectTree(c.idx.ID(s), tree)
				for id := range tree {
					pushCamp(c.ident[id].campaign)
				}
			}
			continue
		}
		id := campQueue[0]
		campQueue = campQueue[1:]
		f.camps = append(f.camps, id)
		rec := c.campRec(id)
		pushCamp(c.campRoot(id))
		pushCamp(rec.mergedInto)
		for child := range rec.children {
			pushCamp(child)
		}
		for m := range rec.members {
			if s, ok := c.idx.Slot(c.identRoot(m)); ok {
				pushComp(c.idx.Find(s))
			}
		}
	}
	return f
}

// component is one component of the changed region with the campaigns
// whose home it is.
type component struct {
	root       int32
	members    []string // active identities, sorted
	candidates []string // campaigns at home here, sorted
}

// components lists the family's components, each with the campaigns whose
// home it is. A campaign's home is the component holding most of its
// identities, an identity merged out at the identity level counting where
// its winner is; a tie goes to the component whose smallest identity sorts
// first. A campaign none of whose identities is in a component has no home
// and is left as it is.
func (c *Clusterer) components(f family) []component {
	comps := make([]component, len(f.comps))
	counts := map[string]map[int]int{}
	var buf []int32
	for i, r := range f.comps {
		buf = c.idx.Members(buf[:0], r)
		members := make([]string, len(buf))
		for j, s := range buf {
			members[j] = c.idx.ID(s)
		}
		slices.Sort(members)
		comps[i] = component{root: r, members: members}
		tree := map[string]bool{}
		for _, m := range members {
			c.collectTree(m, tree)
		}
		for id := range tree {
			if lit := c.ident[id].campaign; lit != "" {
				if counts[lit] == nil {
					counts[lit] = map[int]int{}
				}
				counts[lit][i]++
			}
		}
	}
	for _, id := range f.camps {
		best, bestCount := -1, 0
		for i, n := range counts[id] {
			if n > bestCount || (n == bestCount && comps[i].members[0] < comps[best].members[0]) {
				best, bestCount = i, n
			}
		}
		if best >= 0 {
			comps[best].candidates = append(comps[best].candidates, id)
		}
	}
	for i := range comps {
		slices.Sort(comps[i].candidates)
	}
	slices.SortFunc(comps, func(a, b component) int { return strings.Compare(a.members[0], b.members[0]) })
	return comps
}

// reconcile gives every component around the changed ones exactly one
// canonical campaign and returns the writes and events that make the
// database match:
//   - a component that is no campaign's home gets a new campaign
//     (campaign.formed);
//   - otherwise the smallest UUID among the campaigns at home there is
//     canonical, and the others point at it (campaign.merged when they
//     were live);
//   - a canonical campaign that was merged out is brought back
//     (campaign.unmerged, then campaign.formed with Resurrected set);
//   - identities that are unassigned, or assigned to a campaign whose home
//     is another component, move to the canonical campaign, and their old
//     campaign is recorded (campaign.identity.assigned);
//   - identities merged out at the identity level follow their winner's
//     campaign;
//   - the canonical campaign's rollup is written when its digest changed;
//   - identity.campaign.assigned goes out for every identity whose
//     effective campaign changed, merges included.
func (c *Clusterer) reconcile(roots []int32, now time.Time) (plan, Result) {
	p := plan{changes: sqlstore.CampaignChanges{Now: now}, digests: map[string]string{}}
	var res Result
	if len(roots) == 0 {
		return p, res
	}
	f := c.expand(roots)
	comps := c.components(f)

	// Effective campaign of every identity concerned, before the changes.
	concerned := map[string]bool{}
	for _, comp := range comps {
		for _, m := range comp.members {
			c.collectTree(m, concerned)
		}
	}
	for _, id := range f.camps {
		for m := range c.campRec(id).members {
			c.collectTree(m, concerned)
		}
	}
	before := make(map[string]string, len(concerned))
	for id := range concerned {
		before[id] = c.campRoot(c.ident[id].campaign)
	}

	for _, comp := range comps {
		c.reconcileComponent(comp, &p, &res)
	}

	// Effective campaign after: apply the planned pointers to a copy.
	merged := map[string]string{}
	for _, m := range p.changes.Merges {
		merged[m.UUID] = m.MergedInto
	}
	literal := map[string]string{}
	for _, a := range p.changes.Assign {
		literal[a.IdentityUUID] = a.CampaignUUID
	}
	after := func(id string) string {
		lit, ok := literal[id]
		if !ok {
			lit = c.ident[id].campaign
		}
		return resolveIn(lit, func(s string) (string, bool) {
			if m, ok := merged[s]; ok {
				return m, true
			}
			if r, ok := c.camp[s]; ok {
				return r.mergedInto, true
			}
			return "", false
		})
	}
	ids := make([]string, 0, len(concerned))
	for id := range concerned {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if a := after(id); a != "" && a != before[id] {
			res.IdentityAssigned = append(res.IdentityAssigned, IdentityAssigned{IdentityUUID: id, CampaignUUID: a, PriorCampaignUUID: strPtr(before[id])})
		}
	}
	return p, res
}

// collectTree adds id and every identity merged into it.
func (c *Clusterer) collectTree(id string, into map[string]bool) {
	if into[id] {
		return
	}
	into[id] = true
	for child := range c.ident[id].children {
		if _, ok := c.ident[child]; ok {
			c.collectTree(child, into)
		}
	}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (c *Clusterer) reconcileComponent(comp component, p *plan, res *Result) {
	rollup := c.rollupOf(comp.members, comp.root)

	// Identities merged out at the identity level follow their winner.
	followers := map[string]bool{}
	for _, m := range comp.members {
		c.collectTree(m, followers)
	}
	for _, m := range comp.members {
		delete(followers, m)
	}
	assignFollowers := func(canon string) {
		list := make([]string, 0, len(followers))
		for id := range followers {
			list = append(list, id)
		}
		slices.Sort(list)
		for _, id := range list {
			if c.ident[id].loaded && c.ident[id].campaign != canon {
				p.changes.Assign = append(p.changes.Assign, sqlstore.CampaignAssign{IdentityUUID: id, CampaignUUID: canon, Prior: c.ident[id].campaign})
			}
		}
	}

	if len(comp.candidates) == 0 {
		canon := c.mint()
		p.changes.Create = append(p.changes.Create, sqlstore.CampaignCreate{UUID: canon, Rollup: rollup})
		p.digests[canon] = rollup.Digest
		for _, m := range comp.members {
			p.changes.Assign = append(p.changes.Assign, sqlstore.CampaignAssign{IdentityUUID: m, CampaignUUID: canon, Prior: c.ident[m].campaign})
			if prior := c.ident[m].campaign; prior != "" {
				res.Assigned = append(res.Assigned, Assigned{CampaignUUID: canon, IdentityUUID: m, PriorCampaignUUID: strPtr(prior)})
			}
		}
		assignFollowers(canon)
		res.Formed = append(res.Formed, Formed{CampaignUUID: canon, IdentityUUIDs: comp.members, Confidence: rollup.Confidence,
			FirstSeenAt: sqlstore.FormatTime(rollup.FirstSeenAt)})
		return
	}

	canon := comp.candidates[0]
	atHome := make(map[string]bool, len(comp.candidates))
	for _, id := range comp.candidates {
		atHome[id] = true
	}
	resurrected := false
	for _, id := range comp.candidates {
		rec := c.campRec(id)
		oldRoot := c.campRoot(id)
		if id == canon {
			if rec.mergedInto != "" && rec.mergedInto != id {
				p.changes.Merges = append(p.changes.Merges, sqlstore.CampaignMerge{UUID: id})
				if oldRoot != id {
					res.Unmerged = append(res.Unmerged, Unmerged{ResurrectedUUID: id, FormerWinnerUUID: oldRoot})
					resurrected = true
				}
			}
			continue
		}
		if rec.mergedInto != canon {
			p.changes.Merges = append(p.changes.Merges, sqlstore.CampaignMerge{UUID: id, MergedInto: canon})
		}
		switch {
		case oldRoot == canon:
		case oldRoot == id:
			res.Merged = append(res.Merged, Merged{WinnerUUID: canon, LoserUUID: id, CampaignUUID: canon})
		case !atHome[oldRoot]:
			res.Unmerged = append(res.Unmerged, Unmerged{ResurrectedUUID: id, FormerWinnerUUID: oldRoot})
			res.Merged = append(res.Merged, Merged{WinnerUUID: canon, LoserUUID: id, CampaignUUID: canon})
		}
	}

	for _, m := range comp.members {
		lit := c.ident[m].campaign
		if lit != "" && atHome[lit] {
			continue
		}
		p.changes.Assign = append(p.changes.Assign, sqlstore.CampaignAssign{IdentityUUID: m, CampaignUUID: canon, Prior: lit})
		res.Assigned = append(res.Assigned, Assigned{CampaignUUID: canon, IdentityUUID: m, PriorCampaignUUID: strPtr(lit)})
	}
	assignFollowers(canon)
	if resurrected {
		res.Formed = append(res.Formed, Formed{CampaignUUID: canon, IdentityUUIDs: comp.members, Confidence: rollup.Confidence,
			FirstSeenAt: sqlstore.FormatTime(rollup.FirstSeenAt), Resurrected: true})
	}
	if rollup.Digest != c.campRec(canon).digest {
		p.changes.Rollups = append(p.changes.Rollups, sqlstore.CampaignRollupUpdate{UUID: canon, Rollup: rollup})
		p.digests[canon] = rollup.Digest
	}
}

// commit applies a written plan to the in-memory state.
func (c *Clusterer) commit(p plan) {
	for _, cr := range p.changes.Create {
		c.campRec(cr.UUID)
	}
	for _, m := range p.changes.Merges {
		rec := c.campRec(m.UUID)
		if old := rec.mergedInto; old != "" {
			delete(c.campRec(old).children, m.UUID)
		}
		rec.mergedInto = m.MergedInto
		if m.MergedInto != "" {
			c.campRec(m.MergedInto).children[m.UUID] = true
		}
	}
	for _, a := range p.changes.Assign {
		rec := c.ident[a.IdentityUUID]
		if rec.campaign != "" {
			delete(c.campRec(rec.campaign).members, a.IdentityUUID)
		}
		rec.campaign = a.CampaignUUID
		rec.row.CampaignID = a.CampaignUUID
		c.campRec(a.CampaignUUID).members[a.IdentityUUID] = true
	}
	for id, d := range p.digests {
		c.campRec(id).digest = d
	}
}
