package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/store"
)

// Store keeps API-created targets and dead letters in the decnet database
// (tables webhook_targets and webhook_dead_letters).
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// NewStore wraps db, usually (*sqlstore.Store).DB(). now nil means
// time.Now.
func NewStore(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// DeadLetter is an event a target did not take after every attempt.
type DeadLetter struct {
	ID        int64           `json:"id"`
	Target    string          `json:"target"`
	Subject   string          `json:"subject"`
	StreamSeq uint64          `json:"stream_seq"`
	Payload   json.RawMessage `json:"payload"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	CreatedAt time.Time       `json:"created_at"`
}

// ListTargets returns the stored targets ordered by name.
func (s *Store) ListTargets(ctx context.Context) ([]Target, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT config FROM webhook_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("webhook: list targets: %w", err)
	}
	defer rows.Close()

	var out []Target
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("webhook: list targets: %w", err)
		}
		var t Target
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return nil, fmt.Errorf("webhook: decode stored target: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook: list targets: %w", err)
	}
	return out, nil
}

// CreateTarget stores t; a taken name returns store.ErrConflict.
func (s *Store) CreateTarget(ctx context.Context, t Target) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("webhook: encode target: %w", err)
	}
	now := s.now().UTC().Format(timeLayout)
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_targets (name, config, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		t.Name, string(raw), now, now)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return fmt.Errorf("webhook target %q already exists: %w", t.Name, store.ErrConflict)
		}
		return fmt.Errorf("webhook: create target %s: %w", t.Name, err)
	}
	return nil
}

// DeleteTarget removes a stored target; a missing one returns
// store.ErrNotFound.
func (s *Store) DeleteTarget(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM webhook_targets WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("webhook: delete target %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook target %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// AddDeadLetter records an undelivered event.
func (s *Store) AddDeadLetter(ctx context.Context, d DeadLetter) error {
	payload := string(d.Payload)
	if payload == "" {
		payload = "null"
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO webhook_dead_letters (target, subject, stream_seq, payload, attempts, last_error, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Target, d.Subject, d.StreamSeq, payload, d.Attempts, truncate(d.LastError, 1024),
		s.now().UTC().Format(timeLayout))
	if err != nil {
		return fmt.Errorf("webhook: add dead letter for %s: %w", d.Target, err)
	}
	return nil
}

// ListDeadLetters returns one page of dead letters, newest first, and the
// total; target "" lists every target.
func (s *Store) ListDeadLetters(ctx context.Context, target string, p store.Page) ([]DeadLetter, int, error) {
	where, args := "", []any{}
	if target != "" {
		where, args = " WHERE target = ?", append(args, target)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_dead_letters`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("webhook: count dead letters: %w", err)
	}
	if p.Limit <= 0 {
		p.Limit = 50
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, target, subject, stream_seq, payload, attempts, last_error, created_at
		FROM webhook_dead_letters`+where+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("webhook: list dead letters: %w", err)
	}
	defer rows.Close()

	out := []DeadLetter{}
	for rows.Next() {
		var (
			d       DeadLetter
			payload string
			created string
		)
		if err := rows.Scan(&d.ID, &d.Target, &d.Subject, &d.StreamSeq, &payload, &d.Attempts, &d.LastError, &created); err != nil {
			return nil, 0, fmt.Errorf("webhook: scan dead letter: %w", err)
		}
		d.Payload = json.RawMessage(payload)
		if d.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, 0, fmt.Errorf("webhook: dead letter %d time: %w", d.ID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("webhook: list dead letters: %w", err)
	}
	return out, total, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

var errNoStore = errors.New("webhook: no database configured")
