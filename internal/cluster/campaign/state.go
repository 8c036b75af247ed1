package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// maxSessionsPerIP caps the sessions whose windows are kept per source
// address; later sessions of a busier source are not added.
const maxSessionsPerIP = 4096

// identRec is the clusterer's copy of one identity row.
type identRec struct {
	row      sqlstore.CampaignIdentity
	loaded   bool // false for a merge target named by another row only
	ips      []string
	children map[string]bool // identities merged into this one
	// campaign is the literal campaign_id after the last committed tick.
	campaign string
}

func (r *identRec) active() bool { return r.row.MergedInto == "" || r.row.MergedInto == r.row.UUID }

// campRec is what the clusterer keeps about one campaign row.
type campRec struct {
	mergedInto string
	digest     string
	children   map[string]bool
	members    map[string]bool // identities whose literal campaign_id is this one
}

// ipTimeline accumulates the logged events of one source address: the
// phase timeline per decky, the deckies touched and the session windows.
type ipTimeline struct {
	f        Features
	sessions map[string]Window
}

func (t *ipTimeline) add(e sqlstore.CampaignLogEvent) {
	if e.Decky != "" && !slices.Contains(t.f.Deckies, e.Decky) && len(t.f.Deckies) < maxDeckies {
		t.f.Deckies = append(t.f.Deckies, e.Decky)
	}
	if p, ok := ClassifyEvent(e.Kind, e.Fields); ok {
		t.f.Observe(e.Decky, p, e.Time)
	}
	if e.Session == "" {
		return
	}
	key := e.Decky + "\x00" + e.Session
	w, ok := t.sessions[key]
	if !ok {
		if len(t.sessions) >= maxSessionsPerIP {
			return
		}
		t.sessions[key] = Window{Start: e.Time, End: e.Time}
		return
	}
	if e.Time.Before(w.Start) {
		w.Start = e.Time
	}
	if e.Time.After(w.End) {
		w.End = e.Time
	}
	t.sessions[key] = w
}

func (t *ipTimeline) features() Features {
	f := t.f
	f.Windows = make([]Window, 0, len(t.sessions))
	for _, w := range t.sessions {
		f.Windows = append(f.Windows, w)
	}
	return f
}

// rowFeatures projects what an identity row carries itself: ASNs, tools
// (its JA3 and HASSH values), payload hashes, C2 endpoints and the
// keystroke centroid.
func rowFeatures(r *sqlstore.CampaignIdentity) Features {
	f := Features{ID: r.UUID, ASNs: r.ASNs, PayloadHashes: r.PayloadHashes, C2Endpoints: r.C2Endpoints}
	for _, kind := range []string{store.FPJA3, store.FPHASSH} {
		f.Tools = append(f.Tools, r.Fingerprints[kind]...)
	}
	if len(r.KD) == 16 {
		if v, err := strconv.ParseUint(r.KD, 16, 64); err == nil {
			f.KD, f.HasKD = v, true
		}
	}
	return f
}

// rollup is a campaign's derived fields over its active identities.
func (c *Clusterer) rollupOf(members []string, root int32) sqlstore.CampaignRollup {
	r := sqlstore.CampaignRollup{IdentityCount: int64(len(members))}
	fps := map[string][]string{}
	var payloads, c2s, deckies []string
	var asns []int64
	for i, id := range members {
		rec := c.ident[id]
		row := &rec.row
		if i == 0 || row.FirstSeenAt.Before(r.FirstSeenAt) {
			r.FirstSeenAt = row.FirstSeenAt
		}
		if i == 0 || row.LastSeenAt.After(r.LastSeenAt) {
			r.LastSeenAt = row.LastSeenAt
		}
		r.ObservationCount += row.ObservationCount
		for kind, list := range row.Fingerprints {
			fps[kind] = append(fps[kind], list...)
		}
		if s, ok := c.idx.Slot(id); ok {
			f := c.idx.Features(s)
			payloads = append(payloads, f.PayloadHashes...)
			c2s = append(c2s, f.C2Endpoints...)
			deckies = append(deckies, f.Deckies...)
			asns = append(asns, f.ASNs...)
		}
	}
	for kind, list := range fps {
		if list = normalizeSet(list); len(list) > 0 {
			fps[kind] = list
		} else {
			delete(fps, kind)
		}
	}
	if len(fps) > 0 {
		r.Fingerprints = fps
	}
	r.PayloadHashes = normalizeSet(payloads)
	r.C2Endpoints = normalizeSet(c2s)
	r.Deckies = normalizeSet(deckies)
	r.ASNs = normalizeInts(asns)
	if conf, ok := c.idx.Confidence(root); ok {
		r.Confidence = &conf
	}
	r.Digest = rollupDigest(r)
	return r
}

func rollupDigest(r sqlstore.CampaignRollup) string {
	conf := ""
	if r.Confidence != nil {
		conf = strconv.FormatFloat(*r.Confidence, 'f', 6, 64)
	}
	return digestOf(sqlstore.FormatTime(r.FirstSeenAt), sqlstore.FormatTime(r.LastSeenAt), r.IdentityCount,
		r.ObservationCount, conf, r.Fingerprints, r.PayloadHashes, r.C2Endpoints, r.ASNs, r.Deckies)
}

// resolveIn follows merge pointers in m from id for at most
// sqlstore.MaxMergeHops hops.
func resolveIn(id string, next func(string) (string, bool)) string {
	for hop := 0; hop < sqlstore.MaxMergeHops; hop++ {
		n, ok := next(id)
		if !ok || n == "" || n == id {
			break
		}
		id = n
	}
	return id
}

func (c *Clusterer) campRoot(id string) string {
	if id == "" {
		return ""
	}
	return resolveIn(id, func(s string) (string, bool) {
		r, ok := c.camp[s]
		if !ok {
			return "", false
		}
		return r.mergedInto, true
	})
}

func (c *Clusterer) identRoot(id string) string {
	return resolveIn(id, func(s string) (string, bool) {
		r, ok := c.ident[s]
		if !ok {
			return "", false
		}
		return r.row.MergedInto, true
	})
}

func digestOf(parts ...any) string {
	body, _ := json.Marshal(parts)
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}
