package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/store"
)

// Canary token states.
const (
	CanaryPlanted = "planted"
	CanaryFailed  = "failed"
	CanaryRevoked = "revoked"
)

// Canary trigger protocols.
const (
	CanaryProtoHTTP = "http"
	CanaryProtoDNS  = "dns"
)

// maxCanaryError caps the last_error text kept on a token.
const maxCanaryError = 512

// CanaryBlob is one row of canary_blobs: an uploaded file's metadata. The
// bytes live in the blob store under SHA256.
type CanaryBlob struct {
	UUID        string    `json:"uuid"`
	SHA256      string    `json:"sha256"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	UploadedBy  string    `json:"uploaded_by"`
	UploadedAt  time.Time `json:"uploaded_at"`
	// TokenCount is the number of tokens of any state built from the blob.
	TokenCount int `json:"token_count"`
}

// CanaryToken is one row of canary_tokens. Empty strings stand for NULL
// columns. CallbackToken is the slug in lowercase.
type CanaryToken struct {
	UUID          string
	Kind          string
	DeckyName     string
	TopologyID    string
	BlobUUID      string
	Instrumenter  string
	Generator     string
	PlacementPath string
	CallbackToken string
	SecretSeed    string
	// HTTPBase, DNSZone and Persona are the context the artifact was built
	// with; regenerating from them reproduces the planted bytes.
	HTTPBase string
	DNSZone  string
	Persona  string
	// FileMode is the permission bits the file was planted with.
	FileMode int
	// ContentSHA256 is the digest of the bytes written into the decky.
	ContentSHA256   string
	CreatedAt       time.Time
	PlacedAt        *time.Time
	LastTriggeredAt *time.Time
	// TriggerCount counts trigger rows; HitCount counts every callback,
	// including those folded into a trigger as repeats.
	TriggerCount     int64
	HitCount         int64
	CreatedBy        string
	State            string
	LastError        string
	Baseline         bool
	FingerprintNonce string
}

// CanaryTokenFilter narrows token listings; zero fields do not filter.
type CanaryTokenFilter struct {
	DeckyName  string
	State      string
	Kind       string
	TopologyID string
	Generator  string
}

// CanaryTrigger is one row of canary_triggers. HTTP fields are empty for
// DNS triggers and the other way round.
type CanaryTrigger struct {
	UUID       string
	TokenUUID  string
	OccurredAt time.Time
	LastHitAt  time.Time
	Protocol   string
	// SrcIP is the address the callback is attributed to.
	SrcIP string
	// PeerAddr is the socket address (ip:port) the request came from.
	PeerAddr string
	// ForwardedFor is the X-Forwarded-For chain as received, kept as
	// evidence whether or not it was trusted.
	ForwardedFor []string
	Method       string
	UserAgent    string
	RequestPath  string
	RequestQuery string
	Headers      map[string][]string
	// DNSQName is the query name as received, letter case included.
	DNSQName     string
	DNSQType     uint16
	DNSQClass    uint16
	DNSTransport string
	ResolverAddr string
	DedupeKey    string
	HitCount     int64
	// Echo marks a repeat of an earlier trigger with the same dedupe key
	// that came after the dedupe window; EchoOf names the first trigger.
	Echo       bool
	EchoOf     string
	AttackerID string
}

// CanaryHit is one callback as a receiver saw it, before it is matched to
// a token.
type CanaryHit struct {
	Slug string
	Time time.Time
	// Trigger carries the request fields; UUID, TokenUUID, OccurredAt,
	// LastHitAt, HitCount, Echo, EchoOf and AttackerID are set by
	// RecordCanaryHits. DedupeKey is the receiver's key for repeats of the
	// same callback; the token uuid is prefixed to it on storage.
	Trigger CanaryTrigger
}

// CanaryHitResult reports what RecordCanaryHits did with one hit of a
// planted token.
type CanaryHitResult struct {
	// Index is the hit's position in the input.
	Index int
	Token CanaryToken
	// Trigger is the row the hit was stored in.
	Trigger CanaryTrigger
	// Merged is true when the hit was folded into an existing trigger
	// inside the dedupe window instead of making a new row.
	Merged bool
}

const canaryBlobColumns = `b.uuid, b.sha256, b.filename, b.content_type, b.size_bytes, b.uploaded_by, b.uploaded_at,
	(SELECT COUNT(*) FROM canary_tokens t WHERE t.blob_uuid = b.uuid)`

// UpsertCanaryBlob stores a blob row unless one with the same sha256
// exists, and returns the stored row. created is false when the row
// existed; its uuid, filename and uploader are then the first upload's.
func (s *Store) UpsertCanaryBlob(ctx context.Context, b CanaryBlob) (CanaryBlob, bool, error) {
	if b.SHA256 == "" {
		return CanaryBlob{}, false, errors.New("store: upsert canary blob: sha256 is empty")
	}
	if b.UUID == "" {
		b.UUID = uuid.NewString()
	}
	if b.UploadedAt.IsZero() {
		b.UploadedAt = s.Now()
	}

	res, err := s.db.ExecContext(ctx, `INSERT INTO canary_blobs
		(uuid, sha256, filename, content_type, size_bytes, uploaded_by, uploaded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
		b.UUID, strings.ToLower(b.SHA256), b.Filename, b.ContentType, b.SizeBytes, b.UploadedBy, FormatTime(b.UploadedAt))
	if err != nil {
		return CanaryBlob{}, false, fmt.Errorf("store: upsert canary blob %s: %w", b.SHA256, err)
	}
	n, _ := res.RowsAffected()

	stored, err := s.GetCanaryBlobBySHA256(ctx, b.SHA256)
	if err != nil {
		return CanaryBlob{}, false, err
	}
	return stored, n == 1, nil
}

// GetCanaryBlob returns the blob with the given uuid.
func (s *Store) GetCanaryBlob(ctx context.Context, id string) (CanaryBlob, error) {
	return s.getCanaryBlob(ctx, s.db, "b.uuid = ?", id)
}

// GetCanaryBlobBySHA256 returns the blob with the given content digest.
func (s *Store) GetCanaryBlobBySHA256(ctx context.Context, sha string) (CanaryBlob, error) {
	return s.getCanaryBlob(ctx, s.db, "b.sha256 = ?", strings.ToLower(sha))
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) getCanaryBlob(ctx context.Context, q queryRower, where string, arg string) (CanaryBlob, error) {
	row := q.QueryRowContext(ctx, `SELECT `+canaryBlobColumns+` FROM canary_blobs b WHERE `+where, arg)
	b, err := scanCanaryBlob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CanaryBlob{}, fmt.Errorf("canary blob %s: %w", arg, errNotFound)
	}
	return b, err
}

// ListCanaryBlobs returns every blob, newest upload first, with the number
// of tokens (of any state) that reference it.
func (s *Store) ListCanaryBlobs(ctx context.Context) ([]CanaryBlob, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+canaryBlobColumns+` FROM canary_blobs b ORDER BY b.uploaded_at DESC, b.uuid`)
	if err != nil {
		return nil, fmt.Errorf("store: list canary blobs: %w", err)
	}
	defer rows.Close()

	var out []CanaryBlob
	for rows.Next() {
		b, err := scanCanaryBlob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list canary blobs: %w", err)
	}
	return out, nil
}

// DeleteCanaryBlob deletes a blob row and returns it, so the caller can
// remove the bytes afterwards. It returns ErrNotFound for a missing blob
// and ErrConflict while any token, revoked ones included, references it.
func (s *Store) DeleteCanaryBlob(ctx context.Context, id string) (CanaryBlob, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return CanaryBlob{}, fmt.Errorf("store: delete canary blob %s: %w", id, err)
	}
	defer tx.Rollback()

	b, err := s.getCanaryBlob(ctx, tx, "b.uuid = ?", id)
	if err != nil {
		return CanaryBlob{}, err
	}
	if b.TokenCount > 0 {
		return b, fmt.Errorf("canary blob %s is referenced by %d tokens: %w", id, b.TokenCount, errConflict)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM canary_blobs WHERE uuid = ?`, id); err != nil {
		return CanaryBlob{}, fmt.Errorf("store: delete canary blob %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return CanaryBlob{}, fmt.Errorf("store: delete canary blob %s: %w", id, err)
	}
	return b, nil
}

func scanCanaryBlob(r scanner) (CanaryBlob, error) {
	var (
		b        CanaryBlob
		uploaded string
	)
	err := r.Scan(&b.UUID, &b.SHA256, &b.Filename, &b.ContentType, &b.SizeBytes, &b.UploadedBy, &uploaded, &b.TokenCount)
	if errors.Is(err, sql.ErrNoRows) {
		return b, err
	}
	if err != nil {
		return b, fmt.Errorf("store: scan canary blob: %w", err)
	}
	if b.UploadedAt, err = ParseTime(uploaded); err != nil {
		return b, err
	}
	return b, nil
}

const canaryTokenColumns = `uuid, kind, decky_name, topology_id, blob_uuid, instrumenter, generator,
	placement_path, callback_token, secret_seed, http_base, dns_zone, persona, file_mode, content_sha256,
	created_at, placed_at, last_triggered_at, trigger_count, hit_count, created_by, state, last_error,
	baseline, fingerprint_nonce`

// CreateCanaryToken inserts a token row and returns it as stored. UUID and
// CreatedAt are filled when empty. A baseline token for a decky and
// generator that already has one is not inserted: the existing row is
// returned with created false.
func (s *Store) CreateCanaryToken(ctx context.Context, t CanaryToken) (CanaryToken, bool, error) {
	if t.UUID == "" {
		t.UUID = uuid.NewString()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.Now()
	}
	if t.State == "" {
		t.State = CanaryPlanted
	}
	if t.SecretSeed == "" {
		t.SecretSeed = t.CallbackToken
	}
	t.CallbackToken = strings.ToLower(t.CallbackToken)

	conflict := ""
	if t.Baseline {
		conflict = ` ON CONFLICT (decky_name, generator) WHERE baseline = 1 DO NOTHING`
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO canary_tokens (`+canaryTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+conflict,
		t.UUID, t.Kind, t.DeckyName, nullString(t.TopologyID), nullString(t.BlobUUID), nullString(t.Instrumenter),
		nullString(t.Generator), t.PlacementPath, t.CallbackToken, t.SecretSeed, t.HTTPBase, t.DNSZone, t.Persona,
		t.FileMode, t.ContentSHA256, FormatTime(t.CreatedAt), nullTime(t.PlacedAt), nullTime(t.LastTriggeredAt),
		t.TriggerCount, t.HitCount, t.CreatedBy, t.State, nullString(clipError(t.LastError)), t.Baseline,
		nullString(t.FingerprintNonce))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return CanaryToken{}, false, fmt.Errorf("canary token %s: %v: %w", t.UUID, err, errConflict)
		}
		return CanaryToken{}, false, fmt.Errorf("store: create canary token %s: %w", t.UUID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		existing, err := s.baselineToken(ctx, t.DeckyName, t.Generator)
		return existing, false, err
	}
	stored, err := s.GetCanaryToken(ctx, t.UUID)
	return stored, true, err
}

func (s *Store) baselineToken(ctx context.Context, decky, generator string) (CanaryToken, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+canaryTokenColumns+` FROM canary_tokens
		WHERE decky_name = ? AND generator = ? AND baseline = 1`, decky, generator)
	t, err := scanCanaryToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CanaryToken{}, fmt.Errorf("baseline canary token %s/%s: %w", decky, generator, errNotFound)
	}
	return t, err
}

// GetCanaryToken returns the token with the given uuid.
func (s *Store) GetCanaryToken(ctx context.Context, id string) (CanaryToken, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+canaryTokenColumns+` FROM canary_tokens WHERE uuid = ?`, id)
	t, err := scanCanaryToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CanaryToken{}, fmt.Errorf("canary token %s: %w", id, errNotFound)
	}
	return t, err
}

// GetCanaryTokenBySlug returns the planted token with the given slug,
// ignoring letter case. Revoked and failed tokens are not found.
func (s *Store) GetCanaryTokenBySlug(ctx context.Context, slug string) (CanaryToken, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+canaryTokenColumns+` FROM canary_tokens
		WHERE callback_token = ? AND state = ?`, strings.ToLower(slug), CanaryPlanted)
	t, err := scanCanaryToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CanaryToken{}, fmt.Errorf("planted canary token with slug %s: %w", slug, errNotFound)
	}
	return t, err
}

// ListCanaryTokens returns the tokens matching every set field of f,
// newest first.
func (s *Store) ListCanaryTokens(ctx context.Context, f CanaryTokenFilter) ([]CanaryToken, error) {
	var (
		conds []string
		args  []any
	)
	add := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	add("decky_name", f.DeckyName)
	add("state", f.State)
	add("kind", f.Kind)
	add("topology_id", f.TopologyID)
	add("generator", f.Generator)
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}

	rows, err := s.db.QueryContext(ctx, `SELECT `+canaryTokenColumns+` FROM canary_tokens`+where+
		` ORDER BY created_at DESC, uuid`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list canary tokens: %w", err)
	}
	defer rows.Close()

	var out []CanaryToken
	for rows.Next() {
		t, err := scanCanaryToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list canary tokens: %w", err)
	}
	return out, nil
}

// MarkCanaryTokenPlanted records a successful plant: state planted, no
// error, the plant time and the digest of the written bytes.
func (s *Store) MarkCanaryTokenPlanted(ctx context.Context, id string, placedAt time.Time, contentSHA256 string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE canary_tokens SET state = ?, last_error = NULL, placed_at = ?, content_sha256 = ?
		WHERE uuid = ?`, CanaryPlanted, FormatTime(placedAt), contentSHA256, id)
	return s.checkTokenUpdate(res, err, id)
}

// SetCanaryTokenState sets a token's state and last_error; an empty
// lastError stores NULL.
func (s *Store) SetCanaryTokenState(ctx context.Context, id, state, lastError string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE canary_tokens SET state = ?, last_error = ? WHERE uuid = ?`,
		state, nullString(clipError(lastError)), id)
	return s.checkTokenUpdate(res, err, id)
}

func (s *Store) checkTokenUpdate(res sql.Result, err error, id string) error {
	if err != nil {
		return fmt.Errorf("store: update canary token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("canary token %s: %w", id, errNotFound)
	}
	return nil
}

func scanCanaryToken(r scanner) (CanaryToken, error) {
	var (
		t                                       CanaryToken
		topology, blob, instr, gen, lastErr, fp sql.NullString
		created                                 string
		placed, triggered                       sql.NullString
	)
	err := r.Scan(&t.UUID, &t.Kind, &t.DeckyName, &topology, &blob, &instr, &gen, &t.PlacementPath,
		&t.CallbackToken, &t.SecretSeed, &t.HTTPBase, &t.DNSZone, &t.Persona, &t.FileMode, &t.ContentSHA256,
		&created, &placed, &triggered, &t.TriggerCount, &t.HitCount, &t.CreatedBy, &t.State, &lastErr,
		&t.Baseline, &fp)
	if errors.Is(err, sql.ErrNoRows) {
		return t, err
	}
	if err != nil {
		return t, fmt.Errorf("store: scan canary token: %w", err)
	}
	t.TopologyID, t.BlobUUID, t.Instrumenter, t.Generator = topology.String, blob.String, instr.String, gen.String
	t.LastError, t.FingerprintNonce = lastErr.String, fp.String
	if t.CreatedAt, err = ParseTime(created); err != nil {
		return t, err
	}
	if t.PlacedAt, err = scanNullTime(placed); err != nil {
		return t, err
	}
	if t.LastTriggeredAt, err = scanNullTime(triggered); err != nil {
		return t, err
	}
	return t, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func clipError(s string) string {
	if len(s) <= maxCanaryError {
		return s
	}
	return s[:maxCanaryError]
}

const canaryTriggerColumns = `uuid, token_uuid, occurred_at, last_hit_at, protocol, src_ip, peer_addr, forwarded_for,
	method, user_agent, request_path, request_query, raw_headers, dns_qname, dns_qtype, dns_qclass,
	dns_transport, resolver_addr, dedupe_key, hit_count, echo, echo_of, attacker_id`

// ListCanaryTriggers returns one page of a token's triggers, newest first,
// and the number of triggers the token has in all.
func (s *Store) ListCanaryTriggers(ctx context.Context, tokenUUID string, p store.Page) ([]CanaryTrigger, int, error) {
	p = normalizePage(p)

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM canary_triggers WHERE token_uuid = ?`, tokenUUID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count canary triggers of %s: %w", tokenUUID, err)
	}

	rows, err := s.db.QueryContext(ctx, `SELECT `+canaryTriggerColumns+` FROM canary_triggers
		WHERE token_uuid = ? ORDER BY occurred_at DESC, uuid LIMIT ? OFFSET ?`, tokenUUID, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list canary triggers of %s: %w", tokenUUID, err)
	}
	defer rows.Close()

	var out []CanaryTrigger
	for rows.Next() {
		t, err := scanCanaryTrigger(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list canary triggers of %s: %w", tokenUUID, err)
	}
	return out, total, nil
}

// RecordCanaryHits stores a batch of callbacks in one transaction. Hits
// whose slug names no planted token are skipped. A hit whose dedupe key
// matches a trigger of the same token that started less than window
// before it is folded into that trigger (hit_count + 1); any other hit
// makes a new trigger row, marked as an echo when the key was seen
// before. Each token's counters and last_triggered_at change in the same
// transaction, and attacker_id is set when an attackers row has the
// trigger's source address. The results list the hits of planted tokens
// in input order.
func (s *Store) RecordCanaryHits(ctx context.Context, hits []CanaryHit, window time.Duration) ([]CanaryHitResult, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: record canary hits: %w", err)
	}
	defer tx.Rollback()

	rec, err := prepareHitRecorder(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer rec.close()

	out := make([]CanaryHitResult, 0, len(hits))
	for i := range hits {
		res, ok, err := rec.record(ctx, &hits[i], window)
		if err != nil {
			return nil, err
		}
		if ok {
			res.Index = i
			out = append(out, res)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: record canary hits: commit: %w", err)
	}
	return out, nil
}

// hitRecorder holds the prepared statements and per-batch caches of one
// RecordCanaryHits transaction.
type hitRecorder struct {
	token, recent, attacker, insert, merge, bumpNew, bumpMerged *sql.Stmt

	tokens    map[string]*CanaryToken // by slug; nil value means not planted
	attackers map[string]string       // by ip; "" means none
}

func prepareHitRecorder(ctx context.Context, tx *sql.Tx) (*hitRecorder, error) {
	r := &hitRecorder{tokens: map[string]*CanaryToken{}, attackers: map[string]string{}}
	stmts := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&r.token, `SELECT ` + canaryTokenColumns + ` FROM canary_tokens WHERE callback_token = ? AND state = 'planted'`},
		{&r.recent, `SELECT uuid, occurred_at, hit_count, COALESCE(echo_of, '') FROM canary_triggers
			WHERE dedupe_key = ? ORDER BY occurred_at DESC LIMIT 1`},
		{&r.attacker, `SELECT uuid FROM attackers WHERE ip = ?`},
		{&r.insert, `INSERT INTO canary_triggers (` + canaryTriggerColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&r.merge, `UPDATE canary_triggers SET hit_count = hit_count + 1,
			last_hit_at = MAX(last_hit_at, ?) WHERE uuid = ?`},
		{&r.bumpNew, `UPDATE canary_tokens SET trigger_count = trigger_count + 1, hit_count = hit_count + 1,
			last_triggered_at = MAX(COALESCE(last_triggered_at, ''), ?) WHERE uuid = ?`},
		{&r.bumpMerged, `UPDATE canary_tokens SET hit_count = hit_count + 1 WHERE uuid = ?`},
	}
	for _, st := range stmts {
		p, err := tx.PrepareContext(ctx, st.query)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("store: record canary hits: prepare: %w", err)
		}
		*st.dst = p
	}
	return r, nil
}

func (r *hitRecorder) close() {
	for _, st := range []*sql.Stmt{r.token, r.recent, r.attacker, r.insert, r.merge, r.bumpNew, r.bumpMerged} {
		if st != nil {
			st.Close()
		}
	}
}

// lookupToken returns the planted token with the slug, or nil.
func (r *hitRecorder) lookupToken(ctx context.Context, slug string) (*CanaryToken, error) {
	slug = strings.ToLower(slug)
	if t, ok := r.tokens[slug]; ok {
		return t, nil
	}
	t, err := scanCanaryToken(r.token.QueryRowContext(ctx, slug))
	if errors.Is(err, sql.ErrNoRows) {
		r.tokens[slug] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.tokens[slug] = &t
	return &t, nil
}

func (r *hitRecorder) lookupAttacker(ctx context.Context, ip string) (string, error) {
	if id, ok := r.attackers[ip]; ok {
		return id, nil
	}
	var id string
	err := r.attacker.QueryRowContext(ctx, ip).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: look up attacker %s: %w", ip, err)
	}
	r.attackers[ip] = id
	return id, nil
}

func (r *hitRecorder) record(ctx context.Context, h *CanaryHit, window time.Duration) (CanaryHitResult, bool, error) {
	tok, err := r.lookupToken(ctx, h.Slug)
	if err != nil || tok == nil {
		return CanaryHitResult{}, false, err
	}

	t := h.Trigger
	t.TokenUUID = tok.UUID
	t.DedupeKey = tok.UUID + "|" + t.DedupeKey
	at := h.Time.UTC()
	stamp := FormatTime(at)

	var (
		prevUUID, prevAt, prevEchoOf string
		prevHits                     int64
	)
	err = r.recent.QueryRowContext(ctx, t.DedupeKey).Scan(&prevUUID, &prevAt, &prevHits, &prevEchoOf)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return CanaryHitResult{}, false, fmt.Errorf("store: find earlier canary trigger: %w", err)
	}
	if prevUUID != "" {
		first, err := ParseTime(prevAt)
		if err != nil {
			return CanaryHitResult{}, false, err
		}
		if at.Before(first.Add(window)) {
			return r.mergeHit(ctx, tok, t, prevUUID, first, prevHits, at)
		}
		t.Echo = true
		t.EchoOf = prevEchoOf
		if t.EchoOf == "" {
			t.EchoOf = prevUUID
		}
	}

	if t.AttackerID, err = r.lookupAttacker(ctx, t.SrcIP); err != nil {
		return CanaryHitResult{}, false, err
	}
	t.UUID = uuid.NewString()
	t.OccurredAt, t.LastHitAt, t.HitCount = at, at, 1
	if t.ForwardedFor == nil {
		t.ForwardedFor = []string{}
	}
	if t.Headers == nil {
		t.Headers = map[string][]string{}
	}
	_, err = r.insert.ExecContext(ctx, t.UUID, t.TokenUUID, stamp, stamp, t.Protocol, t.SrcIP, t.PeerAddr,
		mustJSON(t.ForwardedFor), nullString(t.Method), nullString(t.UserAgent), nullString(t.RequestPath),
		nullString(t.RequestQuery), mustJSON(t.Headers), nullString(t.DNSQName), nullQType(t.Protocol, t.DNSQType),
		nullQType(t.Protocol, t.DNSQClass), nullString(t.DNSTransport), nullString(t.ResolverAddr), t.DedupeKey,
		t.HitCount, t.Echo, nullString(t.EchoOf), nullString(t.AttackerID))
	if err != nil {
		return CanaryHitResult{}, false, fmt.Errorf("store: insert canary trigger for %s: %w", tok.UUID, err)
	}
	if _, err := r.bumpNew.ExecContext(ctx, stamp, tok.UUID); err != nil {
		return CanaryHitResult{}, false, fmt.Errorf("store: count canary trigger for %s: %w", tok.UUID, err)
	}
	tok.TriggerCount++
	tok.HitCount++
	if tok.LastTriggeredAt == nil || at.After(*tok.LastTriggeredAt) {
		tok.LastTriggeredAt = &at
	}
	return CanaryHitResult{Token: *tok, Trigger: t}, true, nil
}

// mergeHit folds a hit into the trigger prevUUID.
func (r *hitRecorder) mergeHit(ctx context.Context, tok *CanaryToken, t CanaryTrigger, prevUUID string, first time.Time, prevHits int64, at time.Time) (CanaryHitResult, bool, error) {
	if _, err := r.merge.ExecContext(ctx, FormatTime(at), prevUUID); err != nil {
		return CanaryHitResult{}, false, fmt.Errorf("store: count repeat of canary trigger %s: %w", prevUUID, err)
	}
	if _, err := r.bumpMerged.ExecContext(ctx, tok.UUID); err != nil {
		return CanaryHitResult{}, false, fmt.Errorf("store: count canary hit for %s: %w", tok.UUID, err)
	}
	tok.HitCount++
	t.UUID, t.OccurredAt, t.LastHitAt, t.HitCount = prevUUID, first, at, prevHits+1
	return CanaryHitResult{Token: *tok, Trigger: t, Merged: true}, true, nil
}

func nullQType(proto string, v uint16) any {
	if proto != CanaryProtoDNS {
		return nil
	}
	return int64(v)
}

func scanCanaryTrigger(r scanner) (CanaryTrigger, error) {
	var (
		t                                                                CanaryTrigger
		occurred, lastHit, fwd, headers                                  string
		method, ua, path, query, qname, transport, resolver, echoOf, att sql.NullString
		qtype, qclass                                                    sql.NullInt64
	)
	err := r.Scan(&t.UUID, &t.TokenUUID, &occurred, &lastHit, &t.Protocol, &t.SrcIP, &t.PeerAddr, &fwd,
		&method, &ua, &path, &query, &headers, &qname, &qtype, &qclass, &transport, &resolver,
		&t.DedupeKey, &t.HitCount, &t.Echo, &echoOf, &att)
	if err != nil {
		return t, fmt.Errorf("store: scan canary trigger: %w", err)
	}
	t.Method, t.UserAgent, t.RequestPath, t.RequestQuery = method.String, ua.String, path.String, query.String
	t.DNSQName, t.DNSTransport, t.ResolverAddr = qname.String, transport.String, resolver.String
	t.DNSQType, t.DNSQClass = uint16(qtype.Int64), uint16(qclass.Int64)
	t.EchoOf, t.AttackerID = echoOf.String, att.String
	if t.OccurredAt, err = ParseTime(occurred); err != nil {
		return t, err
	}
	if t.LastHitAt, err = ParseTime(lastHit); err != nil {
		return t, err
	}
	t.ForwardedFor = []string{}
	t.Headers = map[string][]string{}
	// NOTE: undecodable JSON (written by something else) reads as empty,
	// so one bad row cannot break a listing.
	_ = decodeJSON(fwd, &t.ForwardedFor)
	_ = decodeJSON(headers, &t.Headers)
	return t, nil
}
