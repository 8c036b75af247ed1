package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/store"
)

// Campaign is one row of campaigns: a group of identities that work
// together. The list fields are rollups over the identities of the campaign
// and of every campaign merged into it.
type Campaign struct {
	UUID             string              `json:"uuid"`
	SchemaVersion    int                 `json:"schema_version"`
	FirstSeenAt      time.Time           `json:"first_seen_at"`
	LastSeenAt       time.Time           `json:"last_seen_at"`
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
	Confidence       *float64            `json:"confidence"`
	IdentityCount    int64               `json:"identity_count"`
	ObservationCount int64               `json:"observation_count"`
	JA3Hashes        []string            `json:"ja3_hashes"`
	HASSHHashes      []string            `json:"hassh_hashes"`
	TLSCertSHA256    []string            `json:"tls_cert_sha256"`
	PayloadHashes    []string            `json:"payload_simhashes"`
	C2Endpoints      []string            `json:"c2_endpoints"`
	Fingerprints     map[string][]string `json:"fingerprints"`
	ASNs             []int64             `json:"asns"`
	Deckies          []string            `json:"deckies"`
	MergedIntoUUID   *string             `json:"merged_into_uuid"`
	Notes            string              `json:"notes"`
}

// CampaignRollup holds the fields the campaign clusterer derives from a
// campaign's identities. Digest identifies the content, so that an
// unchanged rollup is not written again.
type CampaignRollup struct {
	FirstSeenAt      time.Time
	LastSeenAt       time.Time
	IdentityCount    int64
	ObservationCount int64
	Confidence       *float64
	Fingerprints     map[string][]string
	PayloadHashes    []string
	C2Endpoints      []string
	ASNs             []int64
	Deckies          []string
	Digest           string
}

// CampaignState is the campaign clusterer's in-memory copy of a campaign
// row.
type CampaignState struct {
	UUID       string
	MergedInto string // empty when the campaign is not merged out
	Digest     string
}

// CampaignIdentity is the part of an attacker_identities row the campaign
// clusterer reads.
type CampaignIdentity struct {
	UUID             string
	MergedInto       string // empty when the identity is not merged out
	CampaignID       string // empty when not assigned
	FirstSeenAt      time.Time
	LastSeenAt       time.Time
	ObservationCount int64
	Fingerprints     map[string][]string
	PayloadHashes    []string
	C2Endpoints      []string
	ASNs             []int64
	// KD is the keystroke-rhythm centroid as 16 hex digits, or empty.
	KD        string
	UpdatedAt time.Time
}

// CampaignLogEvent is the part of a logs row the campaign clusterer reads
// to build phase timelines and session windows.
type CampaignLogEvent struct {
	ID      int64
	Time    time.Time
	Decky   string
	Kind    string
	SrcIP   string
	Session string
	Fields  map[string]string
}

// CampaignChanges is one campaign clusterer tick's writes, applied in one
// transaction.
type CampaignChanges struct {
	// Now stamps created_at and updated_at.
	Now     time.Time
	Create  []CampaignCreate
	Merges  []CampaignMerge
	Assign  []CampaignAssign
	Rollups []CampaignRollupUpdate
}

// Empty reports whether c writes nothing.
func (c *CampaignChanges) Empty() bool {
	return len(c.Create) == 0 && len(c.Merges) == 0 && len(c.Assign) == 0 && len(c.Rollups) == 0
}

// CampaignCreate inserts a new campaign with its first rollup.
type CampaignCreate struct {
	UUID   string
	Rollup CampaignRollup
}

// CampaignMerge sets or clears a campaign's merged_into_uuid.
type CampaignMerge struct {
	UUID       string
	MergedInto string // empty clears the pointer
}

// CampaignAssign sets an identity's campaign_id and records the campaign it
// had before in prior_campaign_id (cleared when Prior is empty).
type CampaignAssign struct {
	IdentityUUID string
	CampaignUUID string
	Prior        string
}

// CampaignRollupUpdate replaces a campaign's rollup.
type CampaignRollupUpdate struct {
	UUID   string
	Rollup CampaignRollup
}

// ScanIdentitiesForCampaigns calls fn for every identity whose updated_at
// is at or after since (every identity when since is zero), merged-out
// ones included, oldest update first.
func (s *Store) ScanIdentitiesForCampaigns(ctx context.Context, since time.Time, fn func(CampaignIdentity) error) error {
	q := `SELECT uuid, COALESCE(merged_into_uuid, ''), COALESCE(campaign_id, ''), first_seen_at, last_seen_at,
		observation_count, fingerprints, payload_simhashes, c2_endpoints, asns, kd_digraph_simhash, updated_at
		FROM attacker_identities`
	var args []any
	if !since.IsZero() {
		q += ` WHERE updated_at >= ?`
		args = append(args, FormatTime(since))
	}
	q += ` ORDER BY updated_at, uuid`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: scan identities for campaigns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                       CampaignIdentity
			first, last, updated     string
			fps, payloads, c2s, asns sql.NullString
			kd                       []byte
		)
		if err := rows.Scan(&id.UUID, &id.MergedInto, &id.CampaignID, &first, &last, &id.ObservationCount,
			&fps, &payloads, &c2s, &asns, &kd, &updated); err != nil {
			return fmt.Errorf("store: scan identities for campaigns: %w", err)
		}
		for _, t := range []struct {
			text sql.NullString
			into any
		}{{fps, &id.Fingerprints}, {payloads, &id.PayloadHashes}, {c2s, &id.C2Endpoints}, {asns, &id.ASNs}} {
			if t.text.Valid && t.text.String != "" {
				if err := json.Unmarshal([]byte(t.text.String), t.into); err != nil {
					return fmt.Errorf("store: identity %s: decode %q: %w", id.UUID, truncate(t.text.String, 64), err)
				}
			}
		}
		if len(kd) == 8 {
			id.KD = hex.EncodeToString(kd)
		}
		for _, t := range []struct {
			text string
			into *time.Time
		}{{first, &id.FirstSeenAt}, {last, &id.LastSeenAt}, {updated, &id.UpdatedAt}} {
			if *t.into, err = ParseTime(t.text); err != nil {
				return err
			}
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan identities for campaigns: %w", err)
	}
	return nil
}

// maxInList caps the values bound in one IN (...) list.
const maxInList = 500

// ListAttackerIPsForIdentities returns, for each given identity, the source
// addresses of the attacker rows linked to it directly.
func (s *Store) ListAttackerIPsForIdentities(ctx context.Context, identities []string) (map[string][]string, error) {
	out := map[string][]string{}
	for start := 0; start < len(identities); start += maxInList {
		chunk := identities[start:min(start+maxInList, len(identities))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := `SELECT identity_id, ip FROM attackers WHERE identity_id IN (?` + strings.Repeat(",?", len(chunk)-1) + `) ORDER BY identity_id, ip`
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: list attacker addresses of identities: %w", err)
		}
		for rows.Next() {
			var id, ip string
			if err := rows.Scan(&id, &ip); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: list attacker addresses of identities: %w", err)
			}
			out[id] = append(out[id], ip)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: list attacker addresses of identities: %w", err)
		}
	}
	return out, nil
}

// ScanLogsForCampaigns calls fn for up to limit logs rows with an id above
// afterID that have a source address, in id order.
func (s *Store) ScanLogsForCampaigns(ctx context.Context, afterID int64, limit int, fn func(CampaignLogEvent) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, decky, kind, src_ip, session, fields FROM logs
		WHERE id > ? AND src_ip != '' ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return fmt.Errorf("store: scan logs for campaigns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e          CampaignLogEvent
			at, fields string
		)
		if err := rows.Scan(&e.ID, &at, &e.Decky, &e.Kind, &e.SrcIP, &e.Session, &fields); err != nil {
			return fmt.Errorf("store: scan logs for campaigns: %w", err)
		}
		if e.Time, err = ParseTime(at); err != nil {
			return err
		}
		if fields != "" && fields != "{}" {
			// A row whose fields do not decode still has a time and a decky.
			_ = json.Unmarshal([]byte(fields), &e.Fields)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan logs for campaigns: %w", err)
	}
	return nil
}

// ScanCampaignStates calls fn for every campaign, merged-out ones
// included, oldest first.
func (s *Store) ScanCampaignStates(ctx context.Context, fn func(CampaignState) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid, COALESCE(merged_into_uuid, ''), rollup_digest
		FROM campaigns ORDER BY created_at, uuid`)
	if err != nil {
		return fmt.Errorf("store: scan campaigns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st CampaignState
		if err := rows.Scan(&st.UUID, &st.MergedInto, &st.Digest); err != nil {
			return fmt.Errorf("store: scan campaigns: %w", err)
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan campaigns: %w", err)
	}
	return nil
}

// ApplyCampaignChanges writes one tick in one transaction, in this order:
// new campaigns, merge pointers, identity assignments, rollups. Nothing is
// written when any step fails. Assigning an identity does not change its
// updated_at: that column tracks the identity's own evidence.
func (s *Store) ApplyCampaignChanges(ctx context.Context, c CampaignChanges) error {
	if c.Empty() {
		return nil
	}
	now := FormatTime(c.Now)
	if c.Now.IsZero() {
		now = FormatTime(s.Now())
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: apply campaign changes: %w", err)
	}
	defer tx.Rollback()

	if len(c.Create) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO campaigns (uuid, schema_version, created_at, updated_at, `+campRollupColumns+`)
			VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: create campaigns: %w", err)
		}
		defer stmt.Close()
		for _, cr := range c.Create {
			if _, err := stmt.ExecContext(ctx, append([]any{cr.UUID, now, now}, campRollupArgs(cr.Rollup)...)...); err != nil {
				return fmt.Errorf("store: create campaign %s: %w", cr.UUID, err)
			}
		}
	}
	if err := campExec(ctx, tx, `UPDATE campaigns SET merged_into_uuid = ?, updated_at = ? WHERE uuid = ?`, len(c.Merges), func(i int) []any {
		var target any
		if c.Merges[i].MergedInto != "" {
			target = c.Merges[i].MergedInto
		}
		return []any{target, now, c.Merges[i].UUID}
	}, "merge campaign"); err != nil {
		return err
	}
	if err := campExec(ctx, tx, `UPDATE attacker_identities SET campaign_id = ?, prior_campaign_id = ? WHERE uuid = ?`, len(c.Assign), func(i int) []any {
		a := c.Assign[i]
		var prior any
		if a.Prior != "" {
			prior = a.Prior
		}
		return []any{a.CampaignUUID, prior, a.IdentityUUID}
	}, "assign identity"); err != nil {
		return err
	}
	sets := strings.Split(campRollupColumns, ",")
	for i, col := range sets {
		sets[i] = strings.TrimSpace(col) + " = ?"
	}
	if err := campExec(ctx, tx, `UPDATE campaigns SET `+strings.Join(sets, ", ")+`, updated_at = ? WHERE uuid = ?`, len(c.Rollups), func(i int) []any {
		return append(campRollupArgs(c.Rollups[i].Rollup), now, c.Rollups[i].UUID)
	}, "update campaign rollup"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: apply campaign changes: commit: %w", err)
	}
	return nil
}

// campExec runs one prepared statement n times with args(i) and requires
// every run to touch a row.
func campExec(ctx context.Context, tx *sql.Tx, query string, n int, args func(i int) []any, what string) error {
	if n == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer stmt.Close()
	for i := range n {
		a := args(i)
		res, err := stmt.ExecContext(ctx, a...)
		if err != nil {
			return fmt.Errorf("store: %s %v: %w", what, a[len(a)-1], err)
		}
		if rows, _ := res.RowsAffected(); rows == 0 {
			return fmt.Errorf("store: %s %v: %w", what, a[len(a)-1], errNotFound)
		}
	}
	return nil
}

// campRollupColumns are the columns a rollup writes, in the order of
// campRollupArgs.
const campRollupColumns = `first_seen_at, last_seen_at, identity_count, observation_count, confidence,
	ja3_hashes, hassh_hashes, tls_cert_sha256, payload_simhashes, c2_endpoints, fingerprints, asns, deckies, rollup_digest`

func campRollupArgs(r CampaignRollup) []any {
	args := []any{FormatTime(r.FirstSeenAt), FormatTime(r.LastSeenAt), r.IdentityCount, r.ObservationCount, r.Confidence}
	for _, kind := range []string{store.FPJA3, store.FPHASSH, "tls_cert_sha256"} {
		args = append(args, identJSONList(r.Fingerprints[kind]))
	}
	var fps, asns any
	if len(r.Fingerprints) > 0 {
		fps = mustJSON(r.Fingerprints)
	}
	if len(r.ASNs) > 0 {
		asns = mustJSON(r.ASNs)
	}
	return append(args, identJSONList(r.PayloadHashes), identJSONList(r.C2Endpoints), fps, asns, identJSONList(r.Deckies), r.Digest)
}

const campColumns = `uuid, schema_version, first_seen_at, last_seen_at, created_at, updated_at, confidence,
	identity_count, observation_count, ja3_hashes, hassh_hashes, tls_cert_sha256, payload_simhashes,
	c2_endpoints, fingerprints, asns, deckies, merged_into_uuid, notes`

func campScan(r scanner) (Campaign, error) {
	var (
		c                               Campaign
		first, last, created, updated   string
		confidence                      sql.NullFloat64
		ja3, hassh, cert, payloads, c2s sql.NullString
		fps, asns, deckies, merged      sql.NullString
	)
	err := r.Scan(&c.UUID, &c.SchemaVersion, &first, &last, &created, &updated, &confidence,
		&c.IdentityCount, &c.ObservationCount, &ja3, &hassh, &cert, &payloads, &c2s, &fps, &asns, &deckies, &merged, &c.Notes)
	if err == sql.ErrNoRows {
		return c, err
	}
	if err != nil {
		return c, fmt.Errorf("store: scan campaign: %w", err)
	}
	if confidence.Valid {
		c.Confidence = &confidence.Float64
	}
	if merged.Valid {
		c.MergedIntoUUID = &merged.String
	}
	for _, t := range []struct {
		text sql.NullString
		into any
	}{
		{ja3, &c.JA3Hashes}, {hassh, &c.HASSHHashes}, {cert, &c.TLSCertSHA256}, {payloads, &c.PayloadHashes},
		{c2s, &c.C2Endpoints}, {fps, &c.Fingerprints}, {asns, &c.ASNs}, {deckies, &c.Deckies},
	} {
		if !t.text.Valid {
			continue
		}
		if err := json.Unmarshal([]byte(t.text.String), t.into); err != nil {
			return c, fmt.Errorf("store: campaign %s: decode %q: %w", c.UUID, truncate(t.text.String, 64), err)
		}
	}
	for _, t := range []struct {
		text string
		into *time.Time
	}{{first, &c.FirstSeenAt}, {last, &c.LastSeenAt}, {created, &c.CreatedAt}, {updated, &c.UpdatedAt}} {
		if *t.into, err = ParseTime(t.text); err != nil {
			return c, err
		}
	}
	return c, nil
}

// ListCampaigns returns one page of active campaigns (not merged out), most
// recently updated first, and the number of active campaigns.
func (s *Store) ListCampaigns(ctx context.Context, p store.Page) ([]Campaign, int, error) {
	return listPage(ctx, s, "campaigns",
		`SELECT COUNT(*) FROM campaigns WHERE merged_into_uuid IS NULL`,
		`SELECT `+campColumns+` FROM campaigns
		WHERE merged_into_uuid IS NULL ORDER BY updated_at DESC, uuid LIMIT ? OFFSET ?`, nil, p, campScan)
}

// GetCampaign returns the campaign uuid resolves to: the row itself, or the
// row at the end of its merge chain. Chains longer than MaxMergeHops stop
// at the last row reached. An unknown uuid returns store.ErrNotFound.
func (s *Store) GetCampaign(ctx context.Context, uuid string) (Campaign, error) {
	return followMerges(ctx, uuid, s.getCampaignRow, func(c Campaign) string {
		if c.MergedIntoUUID == nil || *c.MergedIntoUUID == c.UUID {
			return ""
		}
		return *c.MergedIntoUUID
	})
}

func (s *Store) getCampaignRow(ctx context.Context, uuid string) (Campaign, error) {
	c, err := campScan(s.db.QueryRowContext(ctx, `SELECT `+campColumns+` FROM campaigns WHERE uuid = ?`, uuid))
	if err == sql.ErrNoRows {
		return Campaign{}, fmt.Errorf("campaign %s: %w", uuid, errNotFound)
	}
	return c, err
}

// campTree selects the campaigns whose merge chain ends at the first
// argument. See mergeTree.
var campTree = mergeTree("campaigns")

// ListIdentitiesForCampaign returns one page of the active identities that
// belong to the campaign uuid resolves to, including those still linked to
// campaigns merged into it, most recently updated first, and their number.
// An unknown uuid returns store.ErrNotFound.
func (s *Store) ListIdentitiesForCampaign(ctx context.Context, uuid string, p store.Page) ([]Identity, int, error) {
	winner, err := s.GetCampaign(ctx, uuid)
	if err != nil {
		return nil, 0, err
	}
	where := ` WHERE campaign_id IN (SELECT uuid FROM tree) AND merged_into_uuid IS NULL`
	return listPage(ctx, s, "identities of campaign "+winner.UUID,
		campTree+` SELECT COUNT(*) FROM attacker_identities`+where,
		campTree+` SELECT `+identColumns+` FROM attacker_identities`+where+`
		ORDER BY updated_at DESC, uuid LIMIT ? OFFSET ?`, []any{winner.UUID}, p, identScan)
}
