// Package sqlstore implements decnet's storage on database/sql. SQLite
// (modernc.org/sqlite, no cgo) is the backend; the schema is a set of
// embedded goose migrations applied by Open.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// timeLayout stores times as fixed-width UTC text so that string order is
// time order in SQL comparisons and indexes.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Store is the SQL-backed implementation of decnet's storage.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	now func() time.Time

	// attackerCache keeps attacker rows the ingester wrote, so a batch
	// does not decode their lists again. See cachedAttacker.
	attackerCache attackerCache

	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	closeOnce       sync.Once
	closeErr        error
}

// Options tunes Open. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// CheckpointEvery is how often the write-ahead log is copied into
	// the database file; zero means every 200 ms.
	CheckpointEvery time.Duration
}

// Open opens (creating when missing) the SQLite database at path, sets WAL
// mode and a busy timeout, and applies pending migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}

	// The database holds password hashes and captured secrets. SQLite gives
	// the -wal and -shm files the database file's mode, so creating it 0600
	// keeps all three private.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}

	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Statement journals (multi-row writes under triggers and foreign
	// keys) stay in memory instead of a temporary file.
	q.Add("_pragma", "temp_store(MEMORY)")
	// SQLite's own checkpoint stays on (see checkpointer), and a log that
	// grew during a burst is cut back to 64 MiB once it restarts.
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// SQLite has one writer at a time; a small pool keeps readers concurrent
	// without piling writers onto the busy handler.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)

	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	s := &Store{db: db, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.fillDedupeHashes(ctx); err != nil {
		db.Close()
		return nil, err
	}

	cpCtx, cancel := context.WithCancel(context.Background())
	s.stopCheckpoints, s.checkpointsDone = cancel, make(chan struct{})
	every := opts.CheckpointEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	go s.checkpointer(cpCtx, every, s.checkpointsDone)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectSQLite3, s.db, sub,
		goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "path", r.Source.Path)
	}
	return nil
}

// DB returns the underlying handle for packages that keep their own tables.
func (s *Store) DB() *sql.DB { return s.db }

// Close stops the checkpointer and closes the database. SQLite copies what
// is left of the write-ahead log when the last connection to the file
// closes, in whichever process that is.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCheckpoints != nil {
			s.stopCheckpoints()
			<-s.checkpointsDone
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Now returns the store's clock reading in UTC.
func (s *Store) Now() time.Time { return s.now().UTC() }

// FormatTime renders t in the stored layout.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime reads a time written by FormatTime (or any RFC 3339 text).
func ParseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: parse time %q: %w", v, err)
	}
	return t.UTC(), nil
}

func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return FormatTime(*t)
}

func scanNullTime(v sql.NullString) (*time.Time, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	t, err := ParseTime(v.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// statementContext returns ctx without its cancellation, for the many short
// statements of one transaction. The SQLite driver starts a goroutine per
// statement to watch a cancelable context, which costs more than a
// one-row insert. Cancellation still ends the transaction: database/sql
// rolls it back when the context of BeginTx ends, and every later
// statement then fails.
func statementContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps and slices of strings reach here; they always marshal.
		panic(fmt.Sprintf("store: marshal %T: %v", v, err))
	}
	return string(b)
}

func decodeJSON(text string, v any) error {
	if text == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		return fmt.Errorf("store: decode %q: %w", truncate(text, 64), err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// GetState reads a value from the key/value state table.
func (s *Store) GetState(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM state WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", fmt.Errorf("state %q: %w", key, errNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: get state %q: %w", key, err)
	}
	return v, nil
}

// SetState writes a value to the key/value state table.
func (s *Store) SetState(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, FormatTime(s.Now()))
	if err != nil {
		return fmt.Errorf("store: set state %q: %w", key, err)
	}
	return nil
}
