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

// MaxMergeHops caps how many merged_into_uuid pointers a reader follows.
// The clusterer points every loser straight at its winner, so chains are
// one hop long unless the data was written by something else.
const MaxMergeHops = 8

// Identity is one row of attacker_identities: a group of observations that
// come from the same operator. The list fields are rollups over the
// observations of the identity and of every identity merged into it.
type Identity struct {
	UUID             string              `json:"uuid"`
	SchemaVersion    int                 `json:"schema_version"`
	CampaignID       *string             `json:"campaign_id"`
	FirstSeenAt      time.Time           `json:"first_seen_at"`
	LastSeenAt       time.Time           `json:"last_seen_at"`
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
	Confidence       *float64            `json:"confidence"`
	ObservationCount int64               `json:"observation_count"`
	JA3Hashes        []string            `json:"ja3_hashes"`
	HASSHHashes      []string            `json:"hassh_hashes"`
	JA4HHashes       []string            `json:"ja4h_hashes"`
	JA4QUICHashes    []string            `json:"ja4_quic_hashes"`
	HTTPVersionsSeen []string            `json:"http_versions_seen"`
	TLSCertSHA256    []string            `json:"tls_cert_sha256"`
	Fingerprints     map[string][]string `json:"fingerprints"`
	PayloadHashes    []string            `json:"payload_simhashes"`
	C2Endpoints      []string            `json:"c2_endpoints"`
	ASNs             []int64             `json:"asns"`
	// KDDigraphSimhash is the keystroke-rhythm centroid as 16 hex digits,
	// or empty.
	KDDigraphSimhash string  `json:"kd_digraph_simhash,omitempty"`
	MergedIntoUUID   *string `json:"merged_into_uuid"`
	Notes            string  `json:"notes"`
}

// IdentityRollup holds the fields the clusterer derives from an identity's
// observations. Digest identifies the content, so that an unchanged rollup
// is not written again.
type IdentityRollup struct {
	FirstSeenAt      time.Time
	LastSeenAt       time.Time
	ObservationCount int64
	Confidence       *float64
	Fingerprints     map[string][]string
	PayloadHashes    []string
	C2Endpoints      []string
	ASNs             []int64
	Digest           string
}

// IdentityState holds the fields of an identity that the clusterer keeps
// in memory.
type IdentityState struct {
	UUID       string
	MergedInto string // empty when the identity is not merged out
	Digest     string
}

// IdentityChanges is one clusterer tick's writes, applied in one
// transaction.
type IdentityChanges struct {
	// Now stamps created_at and updated_at.
	Now     time.Time
	Create  []IdentityCreate
	Merges  []IdentityMerge
	Links   []IdentityLink
	Rollups []IdentityRollupUpdate
}

// Empty reports whether c writes nothing.
func (c *IdentityChanges) Empty() bool {
	return len(c.Create) == 0 && len(c.Merges) == 0 && len(c.Links) == 0 && len(c.Rollups) == 0
}

// IdentityCreate inserts a new identity with its first rollup.
type IdentityCreate struct {
	UUID   string
	Rollup IdentityRollup
}

// IdentityMerge sets or clears an identity's merged_into_uuid.
type IdentityMerge struct {
	UUID       string
	MergedInto string // empty clears the pointer
}

// IdentityLink sets an attacker row's identity_id.
type IdentityLink struct {
	AttackerUUID string
	IdentityUUID string
}

// IdentityRollupUpdate replaces an identity's rollup.
type IdentityRollupUpdate struct {
	UUID   string
	Rollup IdentityRollup
}

// ScanAttackersForClustering calls fn for every attacker row whose
// updated_at is at or after since (every row when since is zero), oldest
// update first. The deckies, services and event count are not read. A JSON
// column that does not decode is logged and read as empty, so one damaged
// row cannot stop clustering.
func (s *Store) ScanAttackersForClustering(ctx context.Context, since time.Time, fn func(store.Attacker) error) error {
	q := `SELECT uuid, ip, first_seen, last_seen, commands, fingerprints, fingerprint_history,
		payload_hashes, c2_endpoints, asn, identity_id, updated_at FROM attackers`
	var args []any
	if !since.IsZero() {
		q += ` WHERE updated_at >= ?`
		args = append(args, FormatTime(since))
	}
	q += ` ORDER BY updated_at, uuid`

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: scan attackers for clustering: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		a, bad, err := identScanClusterAttacker(rows)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			s.log.Warn("attacker row has malformed JSON; reading it as empty", "attacker", a.UUID, "columns", bad)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan attackers for clustering: %w", err)
	}
	return nil
}

// identScanClusterAttacker reads one row of ScanAttackersForClustering and
// returns the names of the JSON columns that did not decode.
func identScanClusterAttacker(r scanner) (store.Attacker, []string, error) {
	var (
		a                                 store.Attacker
		first, last, updated              string
		commands, fps, fph, payloads, c2s string
		asn                               sql.NullInt64
		identity                          sql.NullString
		bad                               []string
	)
	if err := r.Scan(&a.UUID, &a.IP, &first, &last, &commands, &fps, &fph, &payloads, &c2s, &asn, &identity, &updated); err != nil {
		return a, nil, fmt.Errorf("store: scan attacker: %w", err)
	}
	if !identDecode(commands, &a.Commands) {
		bad = append(bad, "commands")
	}
	if !identDecode(fps, &a.Fingerprints) {
		bad = append(bad, "fingerprints")
	}
	if !identDecode(fph, &a.FingerprintHistory) {
		bad = append(bad, "fingerprint_history")
	}
	if !identDecode(payloads, &a.PayloadHashes) {
		bad = append(bad, "payload_hashes")
	}
	if !identDecode(c2s, &a.C2Endpoints) {
		bad = append(bad, "c2_endpoints")
	}
	if asn.Valid {
		v := asn.Int64
		a.ASN = &v
	}
	if identity.Valid && identity.String != "" {
		v := identity.String
		a.IdentityID = &v
	}
	var err error
	if a.FirstSeen, err = ParseTime(first); err != nil {
		return a, bad, err
	}
	if a.LastSeen, err = ParseTime(last); err != nil {
		return a, bad, err
	}
	if a.UpdatedAt, err = ParseTime(updated); err != nil {
		return a, bad, err
	}
	return a, bad, nil
}

// identDecode decodes a JSON column into dst and reports whether it
// decoded. dst is left untouched on failure and for empty values.
func identDecode[T any](text string, dst *T) bool {
	if text == "" || text == "[]" || text == "{}" {
		return true
	}
	var v T
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return false
	}
	*dst = v
	return true
}

// ScanIdentityStates calls fn for every identity, merged-out ones included,
// oldest first.
func (s *Store) ScanIdentityStates(ctx context.Context, fn func(IdentityState) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid, COALESCE(merged_into_uuid, ''), rollup_digest
		FROM attacker_identities ORDER BY created_at, uuid`)
	if err != nil {
		return fmt.Errorf("store: scan identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st IdentityState
		if err := rows.Scan(&st.UUID, &st.MergedInto, &st.Digest); err != nil {
			return fmt.Errorf("store: scan identities: %w", err)
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan identities: %w", err)
	}
	return nil
}

// ApplyIdentityChanges writes one tick in one transaction, in this order:
// new identities, merge pointers, attacker links, rollups. Nothing is
// written when any step fails.
func (s *Store) ApplyIdentityChanges(ctx context.Context, c IdentityChanges) error {
	if c.Empty() {
		return nil
	}
	now := FormatTime(c.Now)
	if c.Now.IsZero() {
		now = FormatTime(s.Now())
	}

	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: apply identity changes: %w", err)
	}
	defer conn.Close()
	// A tick touches index pages all over attacker_identities and
	// attackers, so a larger page cache saves rereading them. The pragma is
	// set on the connection before the transaction starts.
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -65536`); err != nil {
		return fmt.Errorf("store: apply identity changes: set cache size: %w", err)
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: apply identity changes: %w", err)
	}
	defer tx.Rollback()
	ctx = statementContext(ctx)

	if err := identCreate(ctx, tx, c.Create, now); err != nil {
		return err
	}
	if err := identMerge(ctx, tx, c.Merges, now); err != nil {
		return err
	}
	if err := identLink(ctx, tx, c.Links); err != nil {
		return err
	}
	if err := identRollups(ctx, tx, c.Rollups, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: apply identity changes: commit: %w", err)
	}
	return nil
}

// identRollupColumns are the columns a rollup writes, in the order of
// identRollupArgs.
const identRollupColumns = `first_seen_at, last_seen_at, observation_count, confidence,
	ja3_hashes, hassh_hashes, ja4h_hashes, ja4_quic_hashes, http_versions_seen, tls_cert_sha256,
	fingerprints, payload_simhashes, c2_endpoints, asns, rollup_digest`

func identRollupArgs(r IdentityRollup) []any {
	args := []any{FormatTime(r.FirstSeenAt), FormatTime(r.LastSeenAt), r.ObservationCount, r.Confidence}
	for _, kind := range []string{store.FPJA3, store.FPHASSH, "ja4h", "ja4_quic", "http_version", "tls_cert_sha256"} {
		args = append(args, identJSONList(r.Fingerprints[kind]))
	}
	var fps any
	if len(r.Fingerprints) > 0 {
		fps = mustJSON(r.Fingerprints)
	}
	var asns any
	if len(r.ASNs) > 0 {
		asns = mustJSON(r.ASNs)
	}
	return append(args, fps, identJSONList(r.PayloadHashes), identJSONList(r.C2Endpoints), asns, r.Digest)
}

// identJSONList renders a list column: NULL when empty, so that "no
// values" is distinguishable from a bug that wrote "[]".
func identJSONList(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return mustJSON(v)
}

// identCreateChunk is how many identities one INSERT writes: 64 rows of
// 19 values stay far below SQLite's limit on bound parameters, and one
// statement per chunk instead of per row saves the per-statement cost.
const identCreateChunk = 64

func identCreate(ctx context.Context, tx *sql.Tx, list []IdentityCreate, now string) error {
	const row = `(?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	const head = `INSERT INTO attacker_identities (uuid, schema_version, created_at, updated_at, ` + identRollupColumns + `) VALUES `

	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, identCreateChunk*19)
	for start := 0; start < len(list); start += identCreateChunk {
		chunk := list[start:min(start+identCreateChunk, len(list))]
		args = args[:0]
		for _, c := range chunk {
			args = append(args, c.UUID, now, now)
			args = append(args, identRollupArgs(c.Rollup)...)
		}

		var err error
		if len(chunk) == identCreateChunk {
			if full == nil {
				full, err = tx.PrepareContext(ctx, head+repeatJoin(row, identCreateChunk))
				if err != nil {
					return fmt.Errorf("store: create identities: %w", err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, head+repeatJoin(row, len(chunk)), args...)
		}
		if err != nil {
			return fmt.Errorf("store: create %d identities from %s: %w", len(chunk), chunk[0].UUID, err)
		}
	}
	return nil
}

// repeatJoin returns n copies of s joined by commas.
func repeatJoin(s string, n int) string {
	var b strings.Builder
	b.Grow(n * (len(s) + 1))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

func identMerge(ctx context.Context, tx *sql.Tx, list []IdentityMerge, now string) error {
	if len(list) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE attacker_identities SET merged_into_uuid = ?, updated_at = ? WHERE uuid = ?`)
	if err != nil {
		return fmt.Errorf("store: merge identities: %w", err)
	}
	defer stmt.Close()
	for _, m := range list {
		var target any
		if m.MergedInto != "" {
			target = m.MergedInto
		}
		res, err := stmt.ExecContext(ctx, target, now, m.UUID)
		if err != nil {
			return fmt.Errorf("store: merge identity %s into %q: %w", m.UUID, m.MergedInto, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: merge identity %s: %w", m.UUID, errNotFound)
		}
	}
	return nil
}

// identLink points attackers rows at their identities in one statement:
// the pairs travel as one JSON array, which costs SQLite one parse instead
// of a statement round trip per row.
func identLink(ctx context.Context, tx *sql.Tx, list []IdentityLink) error {
	if len(list) == 0 {
		return nil
	}
	pairs := make([][2]string, len(list))
	distinct := make(map[string]struct{}, len(list))
	for i, l := range list {
		pairs[i] = [2]string{l.AttackerUUID, l.IdentityUUID}
		distinct[l.AttackerUUID] = struct{}{}
	}

	// updated_at belongs to the ingester: linking is not new activity.
	res, err := tx.ExecContext(ctx, `UPDATE attackers SET identity_id = j.value ->> 1
		FROM json_each(?) AS j WHERE attackers.uuid = j.value ->> 0`, mustJSON(pairs))
	if err != nil {
		return fmt.Errorf("store: link %d attackers to identities: %w", len(list), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: link %d attackers to identities: %w", len(list), err)
	}
	if int(n) != len(distinct) {
		return fmt.Errorf("store: link attackers %s: %w", missingAttackers(ctx, tx, list), errNotFound)
	}
	return nil
}

// missingAttackers names up to five attackers of list that have no row,
// for the error of a link that updated fewer rows than it named.
func missingAttackers(ctx context.Context, tx *sql.Tx, list []IdentityLink) string {
	ids := make([]string, len(list))
	for i, l := range list {
		ids[i] = l.AttackerUUID
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT value FROM json_each(?)
		WHERE value NOT IN (SELECT uuid FROM attackers) LIMIT 5`, mustJSON(ids))
	if err != nil {
		return fmt.Sprintf("(lookup failed: %v)", err)
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			missing = append(missing, id)
		}
	}
	return strings.Join(missing, ", ")
}

func identRollups(ctx context.Context, tx *sql.Tx, list []IdentityRollupUpdate, now string) error {
	if len(list) == 0 {
		return nil
	}
	sets := strings.Split(identRollupColumns, ",")
	for i, c := range sets {
		sets[i] = strings.TrimSpace(c) + " = ?"
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE attacker_identities SET `+strings.Join(sets, ", ")+`, updated_at = ? WHERE uuid = ?`)
	if err != nil {
		return fmt.Errorf("store: update identity rollups: %w", err)
	}
	defer stmt.Close()
	for _, u := range list {
		args := append(identRollupArgs(u.Rollup), now, u.UUID)
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("store: update identity %s rollup: %w", u.UUID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: update identity %s rollup: %w", u.UUID, errNotFound)
		}
	}
	return nil
}

const identColumns = `uuid, schema_version, campaign_id, first_seen_at, last_seen_at, created_at, updated_at,
	confidence, observation_count, ja3_hashes, hassh_hashes, ja4h_hashes, ja4_quic_hashes,
	http_versions_seen, tls_cert_sha256, fingerprints, payload_simhashes, c2_endpoints, asns,
	kd_digraph_simhash, merged_into_uuid, notes`

func identScan(r scanner) (Identity, error) {
	var (
		id                                 Identity
		campaign, merged                   sql.NullString
		first, last, created, updated      string
		confidence                         sql.NullFloat64
		ja3, hassh, ja4h, ja4q, http, cert sql.NullString
		fps, payloads, c2s, asns           sql.NullString
		kd                                 []byte
	)
	err := r.Scan(&id.UUID, &id.SchemaVersion, &campaign, &first, &last, &created, &updated,
		&confidence, &id.ObservationCount, &ja3, &hassh, &ja4h, &ja4q, &http, &cert, &fps,
		&payloads, &c2s, &asns, &kd, &merged, &id.Notes)
	if err == sql.ErrNoRows {
		return id, err
	}
	if err != nil {
		return id, fmt.Errorf("store: scan identity: %w", err)
	}

	if campaign.Valid {
		id.CampaignID = &campaign.String
	}
	if merged.Valid {
		id.MergedIntoUUID = &merged.String
	}
	if confidence.Valid {
		id.Confidence = &confidence.Float64
	}
	if len(kd) > 0 {
		id.KDDigraphSimhash = hex.EncodeToString(kd)
	}
	for _, t := range []struct {
		text sql.NullString
		into any
	}{
		{ja3, &id.JA3Hashes}, {hassh, &id.HASSHHashes}, {ja4h, &id.JA4HHashes}, {ja4q, &id.JA4QUICHashes},
		{http, &id.HTTPVersionsSeen}, {cert, &id.TLSCertSHA256}, {fps, &id.Fingerprints},
		{payloads, &id.PayloadHashes}, {c2s, &id.C2Endpoints}, {asns, &id.ASNs},
	} {
		if !t.text.Valid {
			continue
		}
		if err := json.Unmarshal([]byte(t.text.String), t.into); err != nil {
			return id, fmt.Errorf("store: identity %s: decode %q: %w", id.UUID, truncate(t.text.String, 64), err)
		}
	}
	for _, t := range []struct {
		text string
		into *time.Time
	}{{first, &id.FirstSeenAt}, {last, &id.LastSeenAt}, {created, &id.CreatedAt}, {updated, &id.UpdatedAt}} {
		if *t.into, err = ParseTime(t.text); err != nil {
			return id, err
		}
	}
	return id, nil
}

// ListIdentities returns one page of active identities (not merged out),
// most recently updated first, and the number of active identities.
func (s *Store) ListIdentities(ctx context.Context, p store.Page) ([]Identity, int, error) {
	return listPage(ctx, s, "identities",
		`SELECT COUNT(*) FROM attacker_identities WHERE merged_into_uuid IS NULL`,
		`SELECT `+identColumns+` FROM attacker_identities
		WHERE merged_into_uuid IS NULL ORDER BY updated_at DESC, uuid LIMIT ? OFFSET ?`, nil, p, identScan)
}

// GetIdentity returns the identity uuid resolves to: the row itself, or the
// row at the end of its merge chain. Chains longer than MaxMergeHops stop at
// the last row reached. An unknown uuid returns store.ErrNotFound.
func (s *Store) GetIdentity(ctx context.Context, uuid string) (Identity, error) {
	return followMerges(ctx, uuid, s.getIdentityRow, func(id Identity) string {
		if id.MergedIntoUUID == nil || *id.MergedIntoUUID == id.UUID {
			return ""
		}
		return *id.MergedIntoUUID
	})
}

func (s *Store) getIdentityRow(ctx context.Context, uuid string) (Identity, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+identColumns+` FROM attacker_identities WHERE uuid = ?`, uuid)
	id, err := identScan(row)
	if err == sql.ErrNoRows {
		return Identity{}, fmt.Errorf("identity %s: %w", uuid, errNotFound)
	}
	return id, err
}

// identTree selects the identities whose merge chain ends at the first
// argument. See mergeTree.
var identTree = mergeTree("attacker_identities")

// ListObservationsForIdentity returns one page of the attacker rows that
// belong to the identity uuid resolves to, including the rows still linked
// to identities merged into it, most recent activity first, and their
// number. An unknown uuid returns store.ErrNotFound.
func (s *Store) ListObservationsForIdentity(ctx context.Context, uuid string, p store.Page) ([]store.Attacker, int, error) {
	winner, err := s.GetIdentity(ctx, uuid)
	if err != nil {
		return nil, 0, err
	}
	return listPage(ctx, s, "observations of identity "+winner.UUID,
		identTree+` SELECT COUNT(*) FROM attackers WHERE identity_id IN (SELECT uuid FROM tree)`,
		identTree+` SELECT `+attackerColumns+` FROM attackers
		WHERE identity_id IN (SELECT uuid FROM tree) ORDER BY last_seen DESC, uuid LIMIT ? OFFSET ?`,
		[]any{winner.UUID}, p, scanAttacker)
}
