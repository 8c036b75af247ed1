package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"

	"github.com/pressly/goose/v3"
)

// dedupeHash is the indexed stand-in for a canary trigger's dedupe key:
// the first 8 bytes of its SHA-256. Keys contain attacker-chosen paths, so
// a cryptographic hash keeps anyone from crafting keys that collide.
func dedupeHash(key string) int64 {
	sum := sha256.Sum256([]byte(key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// goMigrations are the migrations that SQL alone cannot express.
func goMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(51, &goose.GoFunc{RunTx: backfillDedupeHashes}, nil),
	}
}

// fillDedupeHashes runs backfillDedupeHashes again when rows without a
// hash exist, which happens when a build from before the column wrote to
// the database after migration 51. Open calls it, and it only reads when
// every row has its hash.
func (s *Store) fillDedupeHashes(ctx context.Context) error {
	var unhashed int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM canary_triggers WHERE dedupe_hash IS NULL LIMIT 1`).Scan(&unhashed)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: find canary triggers without a dedupe hash: %w", err)
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: hash canary dedupe keys: %w", err)
	}
	defer tx.Rollback()
	if err := backfillDedupeHashes(ctx, tx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: hash canary dedupe keys: commit: %w", err)
	}
	return nil
}

// backfillDedupeHashes fills canary_triggers.dedupe_hash for the rows
// stored before the column existed.
func backfillDedupeHashes(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, dedupe_key FROM canary_triggers WHERE dedupe_hash IS NULL`)
	if err != nil {
		return fmt.Errorf("read canary dedupe keys: %w", err)
	}
	type pending struct {
		id  int64
		key string
	}
	var todo []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.key); err != nil {
			rows.Close()
			return fmt.Errorf("read canary dedupe keys: %w", err)
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read canary dedupe keys: %w", err)
	}

	st, err := tx.PrepareContext(ctx, `UPDATE canary_triggers SET dedupe_hash = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("hash canary dedupe keys: %w", err)
	}
	defer st.Close()
	for _, p := range todo {
		if _, err := st.ExecContext(ctx, dedupeHash(p.key), p.id); err != nil {
			return fmt.Errorf("hash dedupe key of canary trigger row %d: %w", p.id, err)
		}
	}
	return nil
}
