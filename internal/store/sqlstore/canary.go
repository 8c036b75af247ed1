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
	// Token holds the token's identity (uuid, kind, decky, generator or
	// instrumenter, path, slug, state) and its counters after the hit;
	// the other fields are empty.
	Token CanaryToken
	// Trigger is the row the hit was stored in.
	Trigger CanaryTrigger
	// Merged is true when the hit was folded into an existing trigger
	// inside the dedupe window instead of making a new row.
	Merged bool

	// pending is the index of the hit's new row in the batch, or -1.
	pending int
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
			return CanaryToken{}, false, fmt.Errorf("canary token %s: %w: %w", t.UUID, err, errConflict)
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
// whose slug names no planted token are skipped. A hit is folded into an
// earlier trigger of the same token (hit_count + 1) when their dedupe keys
// match and that trigger started less than window before the hit. Any
// other hit makes a new trigger row, marked as an echo when the key was
// seen before. Each token's counters and last_triggered_at change in the same
// transaction, and attacker_id is set when an attackers row has the
// trigger's source address. The results list the hits of planted tokens
// in input order.
//
// The batch reads tokens, earlier triggers and attackers with one IN query
// each, folds repeats inside the batch in memory, inserts each new trigger
// with one prepared statement and writes counters once per token.
func (s *Store) RecordCanaryHits(ctx context.Context, hits []CanaryHit, window time.Duration) ([]CanaryHitResult, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: record canary hits: %w", err)
	}
	defer tx.Rollback()
	ctx = statementContext(ctx)

	// The connection caches enough index pages for a burst. The setting
	// lasts for the connection, and it is set per batch because the pool
	// hands out any connection.
	if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -16384"); err != nil {
		return nil, fmt.Errorf("store: record canary hits: set cache size: %w", err)
	}
	r := &hitRecorder{tx: tx, tokens: map[string]*CanaryToken{}, recent: map[string]*recentTrigger{},
		attackers: map[string]string{}, counts: map[string]*tokenCounts{}, merges: map[int64]*mergeCounts{}}
	if err := r.prefetchTokens(ctx, hits); err != nil {
		return nil, err
	}
	if err := r.prefetchRecent(ctx, hits); err != nil {
		return nil, err
	}

	out := make([]CanaryHitResult, 0, len(hits))
	for i := range hits {
		res, ok := r.record(&hits[i], window)
		if ok {
			res.Index = i
			out = append(out, res)
		}
	}

	if err := r.lookupAttackers(ctx); err != nil {
		return nil, err
	}
	if err := r.insertPending(ctx); err != nil {
		return nil, err
	}
	if err := r.applyMerges(ctx); err != nil {
		return nil, err
	}
	if err := r.flushCounts(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: record canary hits: commit: %w", err)
	}

	// New rows are final only now: later hits of the batch may have been
	// folded into them, and attackers were looked up after the loop.
	for i := range out {
		if p := out[i].pending; p >= 0 {
			out[i].Trigger.AttackerID = r.pending[p].AttackerID
		}
	}
	return out, nil
}

// hitRecorder is the state of one RecordCanaryHits transaction.
type hitRecorder struct {
	tx *sql.Tx

	tokens    map[string]*CanaryToken   // by slug; nil means not planted
	recent    map[string]*recentTrigger // newest trigger by stored dedupe key
	attackers map[string]string         // attacker uuid by ip; "" means none
	counts    map[string]*tokenCounts   // counter changes by token uuid
	order     []string                  // token uuids in first-hit order
	pending   []CanaryTrigger           // new rows, inserted at the end
	merges    map[int64]*mergeCounts    // repeats of stored rows, by row id
}

// recentTrigger is the newest trigger of a dedupe key: a stored row
// (id > 0) or a new row of this batch (pending >= 0).
type recentTrigger struct {
	id      int64
	pending int
	uuid    string
	first   time.Time
	hits    int64
	echoOf  string
}

// tokenCounts are the counter changes of one token in a batch.
type tokenCounts struct {
	triggers, hits int64
	last           string // newest new-trigger time, "" when none
}

// mergeCounts are the repeats folded into one stored trigger row.
type mergeCounts struct {
	hits    int64
	lastHit string
}

// queryIn runs query, whose IN list is written as (%s), with the values
// passed as one JSON array, and calls scan for every row. One statement
// text serves every batch size, where a list of placeholders would be
// parsed again for each size.
func queryIn[T string | int64](ctx context.Context, r *hitRecorder, query string, values []T, scan func(*sql.Rows) error) error {
	if len(values) == 0 {
		return nil
	}
	rows, err := r.tx.QueryContext(ctx, fmt.Sprintf(query, "SELECT value FROM json_each(?)"), mustJSON(values))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// prefetchTokens loads the planted tokens of every slug in the batch.
func (r *hitRecorder) prefetchTokens(ctx context.Context, hits []CanaryHit) error {
	var slugs []string
	for _, h := range hits {
		s := strings.ToLower(h.Slug)
		if _, seen := r.tokens[s]; !seen {
			r.tokens[s] = nil
			slugs = append(slugs, s)
		}
	}
	// Only the columns a hit result carries are read.
	err := queryIn(ctx, r, `SELECT uuid, kind, decky_name, COALESCE(generator, ''), COALESCE(instrumenter, ''),
		placement_path, callback_token, trigger_count, hit_count, last_triggered_at, state
		FROM canary_tokens WHERE state = 'planted' AND callback_token IN (%s)`, slugs, func(rows *sql.Rows) error {
		var (
			t    CanaryToken
			last sql.NullString
		)
		err := rows.Scan(&t.UUID, &t.Kind, &t.DeckyName, &t.Generator, &t.Instrumenter, &t.PlacementPath,
			&t.CallbackToken, &t.TriggerCount, &t.HitCount, &last, &t.State)
		if err != nil {
			return err
		}
		if t.LastTriggeredAt, err = scanNullTime(last); err != nil {
			return err
		}
		r.tokens[t.CallbackToken] = &t
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: look up canary tokens: %w", err)
	}
	return nil
}

// storedKey is the dedupe key as stored: the token uuid, "|", the
// receiver's key.
func storedKey(tok *CanaryToken, h *CanaryHit) string {
	return tok.UUID + "|" + h.Trigger.DedupeKey
}

// prefetchRecent loads the newest stored trigger of every dedupe key in
// the batch. SQLite takes the bare columns of a MAX() aggregate from the
// row holding the maximum.
func (r *hitRecorder) prefetchRecent(ctx context.Context, hits []CanaryHit) error {
	var keys []string
	seen := map[string]bool{}
	for i := range hits {
		tok := r.tokens[strings.ToLower(hits[i].Slug)]
		if tok == nil {
			continue
		}
		if k := storedKey(tok, &hits[i]); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	hashes := make([]int64, len(keys))
	for i, k := range keys {
		hashes[i] = dedupeHash(k)
	}
	err := queryIn(ctx, r, `SELECT dedupe_key, id, uuid, MAX(occurred_at), hit_count, COALESCE(echo_of, '')
		FROM canary_triggers WHERE dedupe_hash IN (%s) GROUP BY dedupe_key`, hashes, func(rows *sql.Rows) error {
		var (
			key, first string
			rt         = &recentTrigger{pending: -1}
		)
		if err := rows.Scan(&key, &rt.id, &rt.uuid, &first, &rt.hits, &rt.echoOf); err != nil {
			return err
		}
		if !seen[key] {
			// A different key with the same hash.
			return nil
		}
		t, err := ParseTime(first)
		if err != nil {
			return err
		}
		rt.first = t
		r.recent[key] = rt
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: find earlier canary triggers: %w", err)
	}
	return nil
}

func (r *hitRecorder) record(h *CanaryHit, window time.Duration) (CanaryHitResult, bool) {
	tok := r.tokens[strings.ToLower(h.Slug)]
	if tok == nil {
		return CanaryHitResult{}, false
	}

	t := h.Trigger
	t.TokenUUID = tok.UUID
	t.DedupeKey = storedKey(tok, h)
	at := h.Time.UTC()
	stamp := FormatTime(at)

	rt := r.recent[t.DedupeKey]
	if rt != nil && at.Before(rt.first.Add(window)) {
		return r.merge(tok, t, rt, at), true
	}
	if rt != nil {
		t.Echo = true
		t.EchoOf = rt.echoOf
		if t.EchoOf == "" {
			t.EchoOf = rt.uuid
		}
	}

	t.UUID = uuid.NewString()
	t.OccurredAt, t.LastHitAt, t.HitCount = at, at, 1
	if t.ForwardedFor == nil {
		t.ForwardedFor = []string{}
	}
	if t.Headers == nil {
		t.Headers = map[string][]string{}
	}
	r.pending = append(r.pending, t)
	r.recent[t.DedupeKey] = &recentTrigger{pending: len(r.pending) - 1, uuid: t.UUID, first: at, hits: 1, echoOf: t.EchoOf}
	if _, ok := r.attackers[t.SrcIP]; !ok {
		r.attackers[t.SrcIP] = ""
	}

	r.count(tok.UUID, stamp)
	tok.TriggerCount++
	tok.HitCount++
	if tok.LastTriggeredAt == nil || at.After(*tok.LastTriggeredAt) {
		tok.LastTriggeredAt = &at
	}
	return CanaryHitResult{Token: *tok, Trigger: t, pending: len(r.pending) - 1}, true
}

// merge folds a hit into the trigger rt.
func (r *hitRecorder) merge(tok *CanaryToken, t CanaryTrigger, rt *recentTrigger, at time.Time) CanaryHitResult {
	rt.hits++
	if rt.pending >= 0 {
		p := &r.pending[rt.pending]
		p.HitCount = rt.hits
		if at.After(p.LastHitAt) {
			p.LastHitAt = at
		}
	} else {
		m := r.merges[rt.id]
		if m == nil {
			m = &mergeCounts{}
			r.merges[rt.id] = m
		}
		m.hits++
		if s := FormatTime(at); s > m.lastHit {
			m.lastHit = s
		}
	}

	r.count(tok.UUID, "")
	tok.HitCount++
	t.UUID, t.OccurredAt, t.LastHitAt, t.HitCount = rt.uuid, rt.first, at, rt.hits
	return CanaryHitResult{Token: *tok, Trigger: t, Merged: true, pending: -1}
}

// count adds a hit (and a new trigger at time stamp, when stamp is set)
// to a token's pending counters.
func (r *hitRecorder) count(tokenUUID, stamp string) {
	c, ok := r.counts[tokenUUID]
	if !ok {
		c = &tokenCounts{}
		r.counts[tokenUUID] = c
		r.order = append(r.order, tokenUUID)
	}
	c.hits++
	if stamp != "" {
		c.triggers++
		if stamp > c.last {
			c.last = stamp
		}
	}
}

// lookupAttackers fills attacker_id of the new rows from the attackers
// table, by source address.
func (r *hitRecorder) lookupAttackers(ctx context.Context) error {
	ips := make([]string, 0, len(r.attackers))
	for ip := range r.attackers {
		ips = append(ips, ip)
	}
	err := queryIn(ctx, r, `SELECT ip, uuid FROM attackers WHERE ip IN (%s)`, ips, func(rows *sql.Rows) error {
		var ip, id string
		if err := rows.Scan(&ip, &id); err != nil {
			return err
		}
		r.attackers[ip] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: look up attackers of canary triggers: %w", err)
	}
	for i := range r.pending {
		r.pending[i].AttackerID = r.attackers[r.pending[i].SrcIP]
	}
	return nil
}

// insertPending writes the new trigger rows, one prepared single-row insert
// each. A multi-row insert needs a statement journal and a parse per chunk
// size, and measured slower.
func (r *hitRecorder) insertPending(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	st, err := r.tx.PrepareContext(ctx, `INSERT OR FAIL INTO canary_triggers (`+canaryTriggerColumns+`, dedupe_hash) VALUES `+row)
	if err != nil {
		return fmt.Errorf("store: insert canary triggers: %w", err)
	}
	defer st.Close()
	for _, t := range r.pending {
		if _, err := st.ExecContext(ctx, t.UUID, t.TokenUUID, FormatTime(t.OccurredAt), FormatTime(t.LastHitAt), t.Protocol,
			t.SrcIP, t.PeerAddr, mustJSON(t.ForwardedFor), nullString(t.Method), nullString(t.UserAgent),
			nullString(t.RequestPath), nullString(t.RequestQuery), mustJSON(t.Headers), nullString(t.DNSQName),
			nullQType(t.Protocol, t.DNSQType), nullQType(t.Protocol, t.DNSQClass), nullString(t.DNSTransport),
			nullString(t.ResolverAddr), t.DedupeKey, t.HitCount, t.Echo, nullString(t.EchoOf), nullString(t.AttackerID),
			dedupeHash(t.DedupeKey)); err != nil {
			return fmt.Errorf("store: insert canary trigger %s: %w", t.UUID, err)
		}
	}
	return nil
}

// applyMerges adds the folded repeats to their stored rows.
func (r *hitRecorder) applyMerges(ctx context.Context) error {
	if len(r.merges) == 0 {
		return nil
	}
	st, err := r.tx.PrepareContext(ctx, `UPDATE canary_triggers SET hit_count = hit_count + ?,
		last_hit_at = MAX(last_hit_at, ?) WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("store: count repeats of canary triggers: %w", err)
	}
	defer st.Close()
	for id, m := range r.merges {
		if _, err := st.ExecContext(ctx, m.hits, m.lastHit, id); err != nil {
			return fmt.Errorf("store: count repeats of canary trigger row %d: %w", id, err)
		}
	}
	return nil
}

// flushCounts writes the summed counters, one UPDATE per token.
func (r *hitRecorder) flushCounts(ctx context.Context) error {
	st, err := r.tx.PrepareContext(ctx, `UPDATE canary_tokens SET trigger_count = trigger_count + ?, hit_count = hit_count + ?,
		last_triggered_at = CASE WHEN ? = '' THEN last_triggered_at ELSE MAX(COALESCE(last_triggered_at, ''), ?) END
		WHERE uuid = ?`)
	if err != nil {
		return fmt.Errorf("store: update canary token counters: %w", err)
	}
	defer st.Close()
	for _, id := range r.order {
		c := r.counts[id]
		if _, err := st.ExecContext(ctx, c.triggers, c.hits, c.last, c.last, id); err != nil {
			return fmt.Errorf("store: update counters of canary token %s: %w", id, err)
		}
	}
	return nil
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
