package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
)

// Caps on what one attacker row accumulates. Older commands drop off first;
// set-valued lists stop growing at their cap.
const (
	maxAttackerCommands = 2000
	maxAttackerSetItems = 500
	maxPrincipalBytes   = 256
	maxSecretB64Bytes   = 4096
	maxPrintableBytes   = 512
)

// Observation is what the ingester derives from one event beyond the raw
// log row: the commands, fingerprints, payload hashes and C2 endpoints it adds
// to its source's attacker row, and the credential it carries, if any.
type Observation struct {
	Event         services.Event
	Command       string
	Fingerprints  map[string]string
	PayloadHashes []string
	C2Endpoints   []string
	Credential    *CredentialAttempt
}

// CredentialAttempt is one secret presented to a service.
type CredentialAttempt struct {
	Principal       string
	SecretKind      string
	Secret          []byte
	SecretPrintable string
	Outcome         string
}

// IngestResult reports what a batch changed.
type IngestResult struct {
	Inserted    int              // new log rows
	Duplicates  int              // events whose id was already stored
	Attackers   []store.Attacker // attacker rows written, after the batch
	Credentials int              // credential rows inserted or bumped
}

// IngestBatch stores a batch of observations in one transaction: a log row per
// event (events whose ID is already stored are skipped, so redelivery is
// harmless), one attacker row per source address and one credential row per
// distinct secret. Nothing is written when any step fails.
func (s *Store) IngestBatch(ctx context.Context, batch []Observation) (IngestResult, error) {
	var res IngestResult
	if len(batch) == 0 {
		return res, nil
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("store: ingest: %w", err)
	}
	defer tx.Rollback()
	ctx = statementContext(ctx)

	st, err := prepareIngest(ctx, tx)
	if err != nil {
		return res, err
	}
	defer st.close()

	now := s.Now()
	nowText := FormatTime(now)
	attackers := map[string]*store.Attacker{}
	var order []string
	var creds []*Observation

	inserted, err := insertLogs(ctx, tx, st, batch, nowText)
	if err != nil {
		return res, err
	}

	for i := range batch {
		o := &batch[i]
		e := o.Event
		// A redelivered event, or the second copy of one inside this
		// batch, was not inserted and changes nothing else.
		if !inserted[e.ID] {
			res.Duplicates++
			continue
		}
		delete(inserted, e.ID)
		res.Inserted++
		if e.SrcIP == "" {
			continue
		}

		a, ok := attackers[e.SrcIP]
		if !ok {
			a, err = s.loadAttacker(ctx, st, e.SrcIP)
			if err != nil {
				return res, err
			}
			attackers[e.SrcIP] = a
			order = append(order, e.SrcIP)
		}
		applyObservation(a, o)
		if o.Credential != nil {
			creds = append(creds, o)
		}
	}

	for _, ip := range order {
		a := attackers[ip]
		a.UpdatedAt = now
		if err := writeAttacker(ctx, st, a); err != nil {
			return res, err
		}
		res.Attackers = append(res.Attackers, *a)
	}

	for _, o := range creds {
		if err := upsertCredential(ctx, st, o, attackers[o.Event.SrcIP].UUID); err != nil {
			return res, err
		}
		res.Credentials++
	}

	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("store: ingest: commit: %w", err)
	}
	for _, ip := range order {
		s.attackerCache.put(attackers[ip])
	}
	return res, nil
}

// logChunk is how many log rows one INSERT statement carries. Fewer, larger
// statements cut the per-statement cost that dominates small writes, and
// 64 rows of 10 columns stay far below SQLite's limit of 32766 parameters.
const logChunk = 64

const logInsertColumns = `INSERT INTO logs (event_id, time, decky, service, kind, src_ip, src_port, session, fields, created_at) VALUES `

// insertLogs writes the log rows of a batch and returns the ids that were
// new. RETURNING reports only the rows the conflict clause let through.
func insertLogs(ctx context.Context, tx *sql.Tx, st *ingestStmts, batch []Observation, nowText string) (map[string]bool, error) {
	inserted := make(map[string]bool, len(batch))
	args := make([]any, 0, logChunk*10)
	for start := 0; start < len(batch); start += logChunk {
		chunk := batch[start:min(start+logChunk, len(batch))]
		args = args[:0]
		for i := range chunk {
			e := &chunk[i].Event
			fields := e.Fields
			if fields == nil {
				fields = map[string]string{}
			}
			args = append(args, e.ID, FormatTime(e.Time), e.Decky, e.Service, e.Kind, e.SrcIP, e.SrcPort, e.Session, mustJSON(fields), nowText)
		}

		var rows *sql.Rows
		var err error
		if len(chunk) == logChunk {
			rows, err = st.insertLogs.QueryContext(ctx, args...)
		} else {
			rows, err = tx.QueryContext(ctx, logInsertSQL(len(chunk)), args...)
		}
		if err != nil {
			return nil, fmt.Errorf("store: ingest logs: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: ingest logs: %w", err)
			}
			inserted[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: ingest logs: %w", err)
		}
	}
	return inserted, nil
}

func logInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString(logInsertColumns)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
	return b.String()
}

// ingestStmts are the statements of one ingest transaction, prepared once
// per batch: SQLite's parser otherwise dominates the cost of small writes.
type ingestStmts struct {
	insertLogs, loadAttacker, attackerStamp, writeAttacker, touch, credential *sql.Stmt
}

func prepareIngest(ctx context.Context, tx *sql.Tx) (*ingestStmts, error) {
	var st ingestStmts
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&st.insertLogs, logInsertSQL(logChunk)},
		{&st.loadAttacker, `SELECT ` + attackerColumns + ` FROM attackers WHERE ip = ?`},
		{&st.attackerStamp, `SELECT updated_at FROM attackers WHERE ip = ?`},
		{&st.writeAttacker, writeAttackerSQL},
		{&st.touch, `INSERT INTO attacker_deckies (attacker_uuid, decky, service) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`},
		{&st.credential, upsertCredentialSQL},
	} {
		stmt, err := tx.PrepareContext(ctx, p.q)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("store: ingest: prepare: %w", err)
		}
		*p.dst = stmt
	}
	return &st, nil
}

func (st *ingestStmts) close() {
	for _, s := range []*sql.Stmt{st.insertLogs, st.loadAttacker, st.attackerStamp, st.writeAttacker, st.touch, st.credential} {
		if s != nil {
			s.Close()
		}
	}
}

func loadAttackerForUpdate(ctx context.Context, st *ingestStmts, ip string) (*store.Attacker, error) {
	row := st.loadAttacker.QueryRowContext(ctx, ip)
	a, err := scanAttacker(row)
	if err == sql.ErrNoRows {
		return &store.Attacker{
			// A version 7 UUID starts with its creation time, so new rows
			// append to the primary-key index instead of landing on a
			// random page of it, and recent rows share pages.
			UUID:               uuid.Must(uuid.NewV7()).String(),
			IP:                 ip,
			Deckies:            []string{},
			Services:           []string{},
			Commands:           []string{},
			Fingerprints:       map[string]string{},
			FingerprintHistory: map[string][]string{},
			PayloadHashes:      []string{},
			C2Endpoints:        []string{},
		}, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// applyObservation folds one event into its attacker row. First and last
// seen come from event times, not from the clock, so replays and late
// deliveries keep the true window.
func applyObservation(a *store.Attacker, o *Observation) {
	e := o.Event
	if a.FirstSeen.IsZero() || e.Time.Before(a.FirstSeen) {
		a.FirstSeen = e.Time.UTC()
	}
	if e.Time.After(a.LastSeen) {
		a.LastSeen = e.Time.UTC()
	}
	a.EventCount++

	if e.Decky != "" {
		a.Deckies = addUnique(a.Deckies, e.Decky)
	}
	if e.Service != "" {
		a.Services = addUnique(a.Services, e.Service)
	}
	if pair := [2]string{e.Decky, e.Service}; e.Decky != "" && e.Service != "" && !slices.Contains(a.Touched, pair) {
		a.Touched = append(a.Touched, pair)
	}
	if o.Command != "" {
		a.Commands = append(a.Commands, o.Command)
		if over := len(a.Commands) - maxAttackerCommands; over > 0 {
			a.Commands = slices.Delete(a.Commands, 0, over)
		}
	}
	for kind, value := range o.Fingerprints {
		if value == "" {
			continue
		}
		a.Fingerprints[kind] = value
		a.FingerprintHistory[kind] = addUnique(a.FingerprintHistory[kind], value)
	}
	for _, h := range o.PayloadHashes {
		a.PayloadHashes = addUnique(a.PayloadHashes, h)
	}
	for _, c := range o.C2Endpoints {
		a.C2Endpoints = addUnique(a.C2Endpoints, c)
	}
}

func addUnique(list []string, v string) []string {
	if slices.Contains(list, v) || len(list) >= maxAttackerSetItems {
		return list
	}
	return append(list, v)
}

const writeAttackerSQL = `INSERT INTO attackers (uuid, ip, first_seen, last_seen, deckies, services, event_count, commands,
			fingerprints, fingerprint_history, payload_hashes, c2_endpoints, asn, identity_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (uuid) DO UPDATE SET
			first_seen = excluded.first_seen, last_seen = excluded.last_seen,
			deckies = excluded.deckies, services = excluded.services,
			event_count = excluded.event_count, commands = excluded.commands,
			fingerprints = excluded.fingerprints, fingerprint_history = excluded.fingerprint_history,
			payload_hashes = excluded.payload_hashes, c2_endpoints = excluded.c2_endpoints,
			updated_at = excluded.updated_at`

func writeAttacker(ctx context.Context, st *ingestStmts, a *store.Attacker) error {
	_, err := st.writeAttacker.ExecContext(ctx,
		a.UUID, a.IP, FormatTime(a.FirstSeen), FormatTime(a.LastSeen), mustJSON(a.Deckies), mustJSON(a.Services),
		a.EventCount, mustJSON(a.Commands), mustJSON(a.Fingerprints), mustJSON(a.FingerprintHistory),
		mustJSON(a.PayloadHashes), mustJSON(a.C2Endpoints), a.ASN, a.IdentityID, FormatTime(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: write attacker %s: %w", a.IP, err)
	}

	for _, t := range a.Touched {
		if _, err := st.touch.ExecContext(ctx, a.UUID, t[0], t[1]); err != nil {
			return fmt.Errorf("store: write attacker %s: %w", a.IP, err)
		}
	}
	a.Touched = nil
	return nil
}

const upsertCredentialSQL = `INSERT INTO credentials (attacker_ip, attacker_uuid, decky, service, principal, secret_kind,
			secret_sha256, secret_b64, secret_printable, outcome, first_seen, last_seen, attempt_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (attacker_ip, decky, service, secret_kind, secret_sha256, principal) DO UPDATE SET
			attempt_count = credentials.attempt_count + 1,
			first_seen = MIN(credentials.first_seen, excluded.first_seen),
			last_seen = MAX(credentials.last_seen, excluded.last_seen),
			outcome = CASE WHEN excluded.outcome = 'success' THEN 'success' ELSE credentials.outcome END,
			attacker_uuid = excluded.attacker_uuid`

func upsertCredential(ctx context.Context, st *ingestStmts, o *Observation, attackerUUID string) error {
	c := o.Credential
	e := o.Event
	sum := sha256.Sum256(c.Secret)
	kind := c.SecretKind
	if kind == "" {
		kind = "plaintext"
	}
	outcome := c.Outcome
	if outcome == "" {
		outcome = "failure"
	}
	b64 := base64.StdEncoding.EncodeToString(c.Secret)
	if len(b64) > maxSecretB64Bytes {
		// NOTE: the hash still covers the whole secret; only the stored copy is cut.
		b64 = b64[:maxSecretB64Bytes]
	}
	ts := FormatTime(e.Time)

	_, err := st.credential.ExecContext(ctx,
		e.SrcIP, attackerUUID, e.Decky, e.Service, cut(c.Principal, maxPrincipalBytes), kind,
		hex.EncodeToString(sum[:]), b64, cut(c.SecretPrintable, maxPrintableBytes), outcome, ts, ts)
	if err != nil {
		return fmt.Errorf("store: write credential of %s: %w", e.SrcIP, err)
	}
	return nil
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// maxCachedAttackers bounds the attacker cache; past it, an arbitrary entry
// makes room.
const maxCachedAttackers = 20000

// attackerCache holds copies of attacker rows as this store last wrote
// them. An entry is used only while the row's updated_at still equals the
// cached one, so a row another process changed is read again.
type attackerCache struct {
	mu   sync.Mutex
	rows map[string]*store.Attacker
}

func (c *attackerCache) get(ip string) (*store.Attacker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.rows[ip]
	return a, ok
}

func (c *attackerCache) put(a *store.Attacker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil {
		c.rows = map[string]*store.Attacker{}
	}
	if _, ok := c.rows[a.IP]; !ok && len(c.rows) >= maxCachedAttackers {
		for k := range c.rows {
			delete(c.rows, k)
			break
		}
	}
	c.rows[a.IP] = cloneAttacker(a)
}

// loadAttacker returns the attacker row of ip for this batch to change: a
// copy of the cached row when the stored updated_at matches it, else the
// row read and decoded from the database, else a new row.
func (s *Store) loadAttacker(ctx context.Context, st *ingestStmts, ip string) (*store.Attacker, error) {
	if cached, ok := s.attackerCache.get(ip); ok {
		var stamp string
		err := st.attackerStamp.QueryRowContext(ctx, ip).Scan(&stamp)
		if err == nil && stamp == FormatTime(cached.UpdatedAt) {
			return cloneAttacker(cached), nil
		}
		if err != nil && err != sql.ErrNoRows {
			return nil, fmt.Errorf("store: check attacker %s: %w", ip, err)
		}
	}
	return loadAttackerForUpdate(ctx, st, ip)
}

func cloneAttacker(a *store.Attacker) *store.Attacker {
	c := *a
	c.Deckies = slices.Clone(a.Deckies)
	c.Services = slices.Clone(a.Services)
	c.Commands = slices.Clone(a.Commands)
	c.PayloadHashes = slices.Clone(a.PayloadHashes)
	c.C2Endpoints = slices.Clone(a.C2Endpoints)
	c.Fingerprints = maps.Clone(a.Fingerprints)
	c.FingerprintHistory = make(map[string][]string, len(a.FingerprintHistory))
	for k, v := range a.FingerprintHistory {
		c.FingerprintHistory[k] = slices.Clone(v)
	}
	c.Touched = nil
	return &c
}
