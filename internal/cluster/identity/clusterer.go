package identity

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// Store is the part of the database the clusterer uses.
// *sqlstore.Store implements it.
type Store interface {
	ScanAttackersForClustering(ctx context.Context, since time.Time, fn func(store.Attacker) error) error
	ScanIdentityStates(ctx context.Context, fn func(sqlstore.IdentityState) error) error
	ApplyIdentityChanges(ctx context.Context, c sqlstore.IdentityChanges) error
}

var _ Store = (*sqlstore.Store)(nil)

// Options tunes a Clusterer. The zero value is usable.
type Options struct {
	// Params tunes commonness; the zero value means DefaultParams.
	Params *Params
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// NewUUID mints identity UUIDs. nil means version 7 UUIDs: random, not
	// derived from any fingerprint, and ordered by creation time, so that
	// the smallest-UUID rule keeps the oldest identity when two merge and
	// new rows land at the end of the primary key index.
	NewUUID func() string
	// Lookback is how far before the newest update already seen a tick
	// reads again, to catch ingest transactions that committed after a
	// later one. Default 10 s.
	Lookback time.Duration
	// FullEvery is how often a tick reloads everything from the database
	// instead of reading changes only; a full load also notices deleted
	// attackers rows. Default 1 h; negative means only on the first tick.
	FullEvery time.Duration
}

// Clusterer keeps the identity partition of every attackers row in memory
// and reconciles it with the attacker_identities table on each Tick. It
// must be the only writer of identities and of attackers.identity_id. It is
// not safe for concurrent use.
type Clusterer struct {
	store  Store
	log    *slog.Logger
	now    func() time.Time
	mint   func() string
	params Params

	lookback  time.Duration
	fullEvery time.Duration

	idx       *Index
	members   []member
	ident     *identities
	watermark time.Time
	loadedAt  time.Time
}

// New returns a clusterer over st.
func New(st Store, opts Options) *Clusterer {
	c := &Clusterer{
		store:     st,
		log:       opts.Logger,
		now:       opts.Now,
		mint:      opts.NewUUID,
		params:    DefaultParams(),
		lookback:  opts.Lookback,
		fullEvery: opts.FullEvery,
	}
	if opts.Params != nil {
		c.params = *opts.Params
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.mint == nil {
		c.mint = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if c.lookback <= 0 {
		c.lookback = 10 * time.Second
	}
	if c.fullEvery == 0 {
		c.fullEvery = time.Hour
	}
	return c
}

// Result lists what a tick changed, in publish order.
type Result struct {
	Formed   []Formed
	Linked   []Linked
	Merged   []Merged
	Unmerged []Unmerged
}

// Empty reports whether the tick changed nothing that is published.
func (r Result) Empty() bool {
	return len(r.Formed) == 0 && len(r.Linked) == 0 && len(r.Merged) == 0 && len(r.Unmerged) == 0
}

// Formed is the payload of identity.formed: a new identity, or one brought
// back by an unmerge (Resurrected), and its observations.
type Formed struct {
	IdentityUUID     string   `json:"identity_uuid"`
	ObservationUUIDs []string `json:"observation_uuids"`
	Resurrected      bool     `json:"resurrected,omitempty"`
}

// Linked is the payload of identity.observation.linked: an observation
// joined an existing identity.
type Linked struct {
	IdentityUUID    string `json:"identity_uuid"`
	ObservationUUID string `json:"observation_uuid"`
}

// Merged is the payload of identity.merged: the loser now resolves to the
// winner. IdentityUUID repeats the winner, so that consumers that anchor
// on an identity have one.
type Merged struct {
	WinnerUUID   string `json:"winner_uuid"`
	LoserUUID    string `json:"loser_uuid"`
	IdentityUUID string `json:"identity_uuid"`
}

// Unmerged is the payload of identity.unmerged: a merge was revoked because
// the observations no longer connect.
type Unmerged struct {
	ResurrectedUUID  string `json:"resurrected_uuid"`
	FormerWinnerUUID string `json:"former_winner_uuid"`
}

// Tick reads the attackers rows changed since the last tick (all rows on
// the first tick and on periodic full loads) and recomputes the affected
// components. It then writes in one transaction the new identities, the
// merges to set or revoke, the new links and the rollups that changed.
//
// A tick with no changes writes nothing and returns an empty Result. On a
// database error nothing is written, the in-memory state is dropped, and
// the next tick starts with a full load. A panic is recovered and returned
// as an error.
func (c *Clusterer) Tick(ctx context.Context) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.idx = nil
			err = fmt.Errorf("identity tick: panic: %v\n%s", p, debug.Stack())
		}
	}()

	now := c.now().UTC()
	full := c.idx == nil || (c.fullEvery > 0 && now.Sub(c.loadedAt) >= c.fullEvery)
	touched, err := c.load(ctx, full, now)
	if err != nil {
		c.idx = nil
		return Result{}, err
	}

	roots := c.idx.Recompute()
	roots = c.addTouched(roots, touched)
	plan, res := c.reconcile(roots, now)
	if plan.Empty() {
		return res, nil
	}
	if err := c.store.ApplyIdentityChanges(ctx, plan.changes); err != nil {
		c.idx = nil
		return Result{}, fmt.Errorf("identity tick: %w", err)
	}
	c.commit(plan)
	return res, nil
}

// load reads attackers rows into the index and returns the slots whose
// rollup inputs or identity link changed without a change to their
// clustering evidence.
func (c *Clusterer) load(ctx context.Context, full bool, now time.Time) ([]int32, error) {
	since := time.Time{}
	if full {
		c.idx = NewIndex(c.params)
		c.members = nil
		c.ident = newIdentities()
		c.watermark = time.Time{}
		c.loadedAt = now
		var states []sqlstore.IdentityState
		err := c.store.ScanIdentityStates(ctx, func(st sqlstore.IdentityState) error {
			states = append(states, st)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("identity tick: load identities: %w", err)
		}
		for _, st := range states {
			c.ident.add(st.UUID, st.Digest)
		}
		for _, st := range states {
			if target, ok := c.ident.pos[st.MergedInto]; ok && st.MergedInto != st.UUID {
				c.ident.setMerged(c.ident.pos[st.UUID], target)
			}
		}
	} else if !c.watermark.IsZero() {
		since = c.watermark.Add(-c.lookback)
	}

	// The store reads and decodes rows on its own goroutine while this one
	// indexes them, so the two halves of the work overlap on two cores.
	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	attackers := make(chan store.Attacker, 256)
	scanned := make(chan error, 1)
	go func() {
		defer close(attackers)
		scanned <- c.store.ScanAttackersForClustering(scanCtx, since, func(a store.Attacker) error {
			select {
			case attackers <- a:
				return nil
			case <-scanCtx.Done():
				return scanCtx.Err()
			}
		})
	}()

	var touched []int32
	rows := 0
	for a := range attackers {
		rows++
		if a.UpdatedAt.After(c.watermark) {
			c.watermark = a.UpdatedAt
		}
		if a.UUID == "" {
			continue
		}
		if slot, changed := c.ingest(a); changed {
			touched = append(touched, slot)
		}
	}
	if err := <-scanned; err != nil {
		return nil, fmt.Errorf("identity tick: read attackers: %w", err)
	}
	c.log.Debug("identity tick read attackers", "rows", rows, "full", full)
	return touched, nil
}

// ingest stores one attackers row. It returns the slot and whether its
// rollup inputs or identity link changed.
func (c *Clusterer) ingest(a store.Attacker) (int32, bool) {
	c.idx.Upsert(FromAttacker(a))
	slot, _ := c.idx.Slot(a.UUID)
	for int(slot) >= len(c.members) {
		c.members = append(c.members, member{literal: -1, nextInIdentity: -1})
	}

	m := memberFromAttacker(a)
	cur := &c.members[slot]
	changed := !cur.sameData(&m)
	cur.firstSeen, cur.lastSeen, cur.fingerprints = m.firstSeen, m.lastSeen, m.fingerprints

	literal := int32(-1)
	if a.IdentityID != nil {
		id, ok := c.ident.pos[*a.IdentityID]
		if !ok {
			c.log.Warn("attacker linked to an unknown identity; relinking", "attacker", a.UUID, "identity", *a.IdentityID)
		} else {
			literal = id
		}
	}
	if literal != cur.literal {
		c.setLiteral(slot, literal)
		changed = true
	}
	return slot, changed
}

func (c *Clusterer) setLiteral(slot, identity int32) {
	m := &c.members[slot]
	if m.literal >= 0 {
		c.ident.removeObs(m.literal, slot, c.members)
	}
	m.literal = identity
	m.nextInIdentity = -1
	if identity >= 0 {
		m.nextInIdentity = c.ident.obsHead[identity]
		c.ident.obsHead[identity] = slot
	}
}

func (c *Clusterer) addTouched(roots, touched []int32) []int32 {
	if len(touched) == 0 {
		return roots
	}
	seen := make(map[int32]bool, len(roots))
	for _, r := range roots {
		seen[r] = true
	}
	for _, s := range touched {
		if _, live := c.idx.Slot(c.idx.ID(s)); !live {
			continue
		}
		if r := c.idx.Find(s); !seen[r] {
			seen[r] = true
			roots = append(roots, r)
		}
	}
	return roots
}

// AlgorithmEnv names the environment variable that selects the identity
// clustering algorithm.
const AlgorithmEnv = "DECNET_CLUSTERER_TYPE"

// AlgorithmConnectedComponents is the only algorithm, and the default:
// identities are the connected components of the edge graph.
const AlgorithmConnectedComponents = "connected_components"

// ParseAlgorithm checks a DECNET_CLUSTERER_TYPE value. It is trimmed and
// lower-cased; empty means the default.
func ParseAlgorithm(v string) (string, error) {
	switch a := strings.ToLower(strings.TrimSpace(v)); a {
	case "", AlgorithmConnectedComponents:
		return AlgorithmConnectedComponents, nil
	default:
		return "", fmt.Errorf("unknown clusterer type %q in %s: use %s", v, AlgorithmEnv, AlgorithmConnectedComponents)
	}
}
