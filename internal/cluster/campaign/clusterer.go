package campaign

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/store/sqlstore"
)

// Store is the part of the database the campaign clusterer uses.
// *sqlstore.Store implements it.
type Store interface {
	ScanIdentitiesForCampaigns(ctx context.Context, since time.Time, fn func(sqlstore.CampaignIdentity) error) error
	ListAttackerIPsForIdentities(ctx context.Context, identities []string) (map[string][]string, error)
	ScanLogsForCampaigns(ctx context.Context, afterID int64, limit int, fn func(sqlstore.CampaignLogEvent) error) error
	ScanCampaignStates(ctx context.Context, fn func(sqlstore.CampaignState) error) error
	ApplyCampaignChanges(ctx context.Context, c sqlstore.CampaignChanges) error
}

var _ Store = (*sqlstore.Store)(nil)

// logBatch is how many logs rows one read takes.
const logBatch = 10_000

// Options tunes a Clusterer. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// NewUUID mints campaign UUIDs; nil means random version 4 UUIDs.
	NewUUID func() string
	// Lookback is how far before the newest identity update already seen a
	// tick reads again, to catch transactions that committed after a later
	// one. Default 10 s.
	Lookback time.Duration
	// FullEvery is how often a tick reloads everything instead of reading
	// changes only. Default 1 h; negative means only on the first tick.
	FullEvery time.Duration
	// MaxLogsPerTick caps the logs rows one incremental tick reads; the
	// rest wait for the next tick. Default 200 000.
	MaxLogsPerTick int
}

// Clusterer keeps the campaign partition of every identity in memory and
// reconciles it with the campaigns table on each Tick. It must be the only
// writer of campaigns and of attacker_identities.campaign_id. It is not
// safe for concurrent use.
type Clusterer struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
	mint  func() string

	lookback  time.Duration
	fullEvery time.Duration
	maxLogs   int

	idx      *Index
	ident    map[string]*identRec
	camp     map[string]*campRec
	timeline map[string]*ipTimeline
	owner    map[string]string // source address → literal identity

	identMark time.Time
	logMark   int64
	loadedAt  time.Time
	// later holds identities found dirty while rows were read.
	later map[string]bool
}

// New returns a clusterer over st.
func New(st Store, opts Options) *Clusterer {
	c := &Clusterer{store: st, log: opts.Logger, now: opts.Now, mint: opts.NewUUID,
		lookback: opts.Lookback, fullEvery: opts.FullEvery, maxLogs: opts.MaxLogsPerTick}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.mint == nil {
		c.mint = uuid.NewString
	}
	if c.lookback <= 0 {
		c.lookback = 10 * time.Second
	}
	if c.fullEvery == 0 {
		c.fullEvery = time.Hour
	}
	if c.maxLogs <= 0 {
		c.maxLogs = 200_000
	}
	return c
}

// Result lists what a tick changed, in publish order.
type Result struct {
	Formed   []Formed
	Assigned []Assigned
	Merged   []Merged
	Unmerged []Unmerged
	// IdentityAssigned lists every identity whose effective campaign (its
	// campaign_id followed through merges) changed, for whatever reason.
	IdentityAssigned []IdentityAssigned
}

// Empty reports whether the tick changed nothing that is published.
func (r Result) Empty() bool {
	return len(r.Formed) == 0 && len(r.Assigned) == 0 && len(r.Merged) == 0 &&
		len(r.Unmerged) == 0 && len(r.IdentityAssigned) == 0
}

// Formed is the payload of campaign.formed: a new campaign, or one brought
// back by an unmerge (Resurrected), and its identities.
type Formed struct {
	CampaignUUID  string   `json:"campaign_uuid"`
	IdentityUUIDs []string `json:"identity_uuids"`
	Confidence    *float64 `json:"confidence"`
	FirstSeenAt   string   `json:"first_seen_at"`
	Resurrected   bool     `json:"resurrected,omitempty"`
}

// Assigned is the payload of campaign.identity.assigned: an identity joined
// an existing campaign, coming from PriorCampaignUUID (null for a new
// identity).
type Assigned struct {
	CampaignUUID      string  `json:"campaign_uuid"`
	IdentityUUID      string  `json:"identity_uuid"`
	PriorCampaignUUID *string `json:"prior_campaign_uuid"`
}

// Merged is the payload of campaign.merged: the loser now resolves to the
// winner. CampaignUUID repeats the winner.
type Merged struct {
	WinnerUUID   string `json:"winner_uuid"`
	LoserUUID    string `json:"loser_uuid"`
	CampaignUUID string `json:"campaign_uuid"`
}

// Unmerged is the payload of campaign.unmerged: a merge was revoked because
// the identities no longer connect.
type Unmerged struct {
	ResurrectedUUID  string `json:"resurrected_uuid"`
	FormerWinnerUUID string `json:"former_winner_uuid"`
}

// IdentityAssigned is the payload of identity.campaign.assigned.
type IdentityAssigned struct {
	IdentityUUID      string  `json:"identity_uuid"`
	CampaignUUID      string  `json:"campaign_uuid"`
	PriorCampaignUUID *string `json:"prior_campaign_uuid"`
}

// Tick reads the identities changed since the last tick and the logs
// stored since then (everything on the first tick and on periodic full
// loads), recomputes the affected components and writes, in one
// transaction, the campaigns to create, the merges to set or revoke, the
// identity assignments and the rollups that changed.
//
// A tick with no changes writes nothing and returns an empty Result. On a
// database error nothing is written, the in-memory state is dropped, and
// the next tick starts with a full load. A panic is recovered and returned
// as an error.
func (c *Clusterer) Tick(ctx context.Context) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.idx = nil
			err = fmt.Errorf("campaign tick: panic: %v\n%s", p, debug.Stack())
		}
	}()

	now := c.now().UTC()
	full := c.idx == nil || (c.fullEvery > 0 && now.Sub(c.loadedAt) >= c.fullEvery)
	dirty, err := c.load(ctx, full, now)
	if err != nil {
		c.idx = nil
		return Result{}, err
	}

	touched := c.refresh(dirty)
	roots := c.idx.Recompute()
	roots = c.addTouched(roots, touched)
	p, res := c.reconcile(roots, now)
	if p.changes.Empty() {
		return res, nil
	}
	if err := c.store.ApplyCampaignChanges(ctx, p.changes); err != nil {
		c.idx = nil
		return Result{}, fmt.Errorf("campaign tick: %w", err)
	}
	c.commit(p)
	return res, nil
}

// load reads identity rows and logs into memory and returns the identities
// whose features or rollup inputs may have changed.
func (c *Clusterer) load(ctx context.Context, full bool, now time.Time) (map[string]bool, error) {
	since := time.Time{}
	if full {
		c.idx = NewIndex()
		c.ident = map[string]*identRec{}
		c.camp = map[string]*campRec{}
		c.timeline = map[string]*ipTimeline{}
		c.owner = map[string]string{}
		c.identMark, c.logMark, c.loadedAt = time.Time{}, 0, now
		err := c.store.ScanCampaignStates(ctx, func(st sqlstore.CampaignState) error {
			c.campRec(st.UUID).digest = st.Digest
			c.camp[st.UUID].mergedInto = st.MergedInto
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("campaign tick: load campaigns: %w", err)
		}
		for id, r := range c.camp {
			if r.mergedInto != "" && r.mergedInto != id {
				c.campRec(r.mergedInto).children[id] = true
			}
		}
	} else if !c.identMark.IsZero() {
		since = c.identMark.Add(-c.lookback)
	}

	dirty := map[string]bool{}
	var changed []string
	err := c.store.ScanIdentitiesForCampaigns(ctx, since, func(row sqlstore.CampaignIdentity) error {
		if row.UpdatedAt.After(c.identMark) {
			c.identMark = row.UpdatedAt
		}
		if c.ingestIdentity(row) {
			changed = append(changed, row.UUID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("campaign tick: read identities: %w", err)
	}
	if len(changed) > 0 {
		ips, err := c.store.ListAttackerIPsForIdentities(ctx, changed)
		if err != nil {
			return nil, fmt.Errorf("campaign tick: read attacker addresses: %w", err)
		}
		for _, id := range changed {
			c.setIPs(id, ips[id])
			c.markDirty(dirty, id)
		}
	}

	budget := c.maxLogs
	if full {
		budget = -1
	}
	for budget != 0 {
		n := 0
		err := c.store.ScanLogsForCampaigns(ctx, c.logMark, logBatch, func(e sqlstore.CampaignLogEvent) error {
			n++
			c.logMark = e.ID
			t := c.timeline[e.SrcIP]
			if t == nil {
				t = &ipTimeline{sessions: map[string]Window{}}
				c.timeline[e.SrcIP] = t
			}
			t.add(e)
			if id, ok := c.owner[e.SrcIP]; ok {
				c.markDirty(dirty, id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("campaign tick: read logs: %w", err)
		}
		if budget > 0 {
			budget = max(0, budget-n)
		}
		if n < logBatch {
			break
		}
	}
	c.log.Debug("campaign tick read", "identities", len(changed), "dirty", len(dirty), "full", full)
	return dirty, nil
}

// markDirty marks an identity and the identity its merge chain ends at.
func (c *Clusterer) markDirty(dirty map[string]bool, id string) {
	dirty[id] = true
	dirty[c.identRoot(id)] = true
}

func (c *Clusterer) campRec(id string) *campRec {
	r, ok := c.camp[id]
	if !ok {
		r = &campRec{children: map[string]bool{}, members: map[string]bool{}}
		c.camp[id] = r
	}
	return r
}

// ingestIdentity stores one identity row and reports whether anything the
// clusterer reads changed.
func (c *Clusterer) ingestIdentity(row sqlstore.CampaignIdentity) bool {
	rec, ok := c.ident[row.UUID]
	if ok && rec.loaded && sameIdentity(&rec.row, &row) {
		return false
	}
	if !ok || !rec.loaded {
		if !ok {
			rec = &identRec{children: map[string]bool{}}
			c.ident[row.UUID] = rec
		}
		rec.loaded = true
		rec.campaign = row.CampaignID
		if row.CampaignID != "" {
			c.campRec(row.CampaignID).members[row.UUID] = true
		}
	} else if old := rec.row.MergedInto; old != row.MergedInto && old != "" {
		if p, ok := c.ident[old]; ok {
			delete(p.children, row.UUID)
			c.markDirtyLater(old)
		}
	}
	if row.MergedInto != "" && row.MergedInto != row.UUID {
		p, ok := c.ident[row.MergedInto]
		if !ok {
			p = &identRec{children: map[string]bool{}, row: sqlstore.CampaignIdentity{UUID: row.MergedInto}}
			c.ident[row.MergedInto] = p
		}
		p.children[row.UUID] = true
	}
	rec.row = row
	return true
}

// markDirtyLater records an identity whose features depend on a change seen
// while reading rows; refresh picks it up.
func (c *Clusterer) markDirtyLater(id string) {
	if c.later == nil {
		c.later = map[string]bool{}
	}
	c.later[id] = true
}

func sameIdentity(a, b *sqlstore.CampaignIdentity) bool {
	return a.MergedInto == b.MergedInto && a.FirstSeenAt.Equal(b.FirstSeenAt) && a.LastSeenAt.Equal(b.LastSeenAt) &&
		a.ObservationCount == b.ObservationCount && a.KD == b.KD && slices.Equal(a.PayloadHashes, b.PayloadHashes) &&
		slices.Equal(a.C2Endpoints, b.C2Endpoints) && slices.Equal(a.ASNs, b.ASNs) &&
		digestOf(a.Fingerprints) == digestOf(b.Fingerprints)
}

func (c *Clusterer) setIPs(id string, ips []string) {
	rec := c.ident[id]
	for _, ip := range rec.ips {
		if c.owner[ip] == id {
			delete(c.owner, ip)
		}
	}
	rec.ips = ips
	for _, ip := range ips {
		c.owner[ip] = id
	}
}

// refresh recomputes the features of every dirty active identity and
// returns their slots.
func (c *Clusterer) refresh(dirty map[string]bool) []int32 {
	for id := range c.later {
		c.markDirty(dirty, id)
	}
	c.later = nil
	ids := make([]string, 0, len(dirty))
	for id := range dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var touched []int32
	for _, id := range ids {
		rec, ok := c.ident[id]
		if !ok || !rec.loaded {
			continue // known only as a merge target not read yet
		}
		if !rec.active() {
			c.idx.Remove(id)
			continue
		}
		c.idx.Upsert(c.features(id))
		if s, ok := c.idx.Slot(id); ok {
			touched = append(touched, s)
		}
	}
	return touched
}

// features merges an active identity's own row with the timelines of the
// source addresses linked to it and to every identity merged into it.
func (c *Clusterer) features(id string) Features {
	rec := c.ident[id]
	parts := []Features{rowFeatures(&rec.row)}
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 && len(seen) <= 1+64*maxSetItems {
		cur := queue[0]
		queue = queue[1:]
		r := c.ident[cur]
		for _, ip := range r.ips {
			if t, ok := c.timeline[ip]; ok {
				parts = append(parts, t.features())
			}
		}
		for child := range r.children {
			if !seen[child] {
				seen[child] = true
				queue = append(queue, child)
			}
		}
	}
	return Merge(id, parts...)
}

func (c *Clusterer) addTouched(roots, touched []int32) []int32 {
	seen := make(map[int32]bool, len(roots))
	for _, r := range roots {
		seen[r] = true
	}
	for _, s := range touched {
		if r := c.idx.Find(s); !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	return roots
}
