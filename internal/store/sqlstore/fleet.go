package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/decnet/decnet/internal/store"
)

const fleetColumns = `host_id, name, ip, driver, decky, state, last_error, generation, last_seen, updated_at`

// UpsertFleetDecky inserts or replaces the row of d.HostID and d.Name. The
// stored generation becomes max(stored, d.Generation).
func (s *Store) UpsertFleetDecky(ctx context.Context, d store.FleetDecky) error {
	return upsertFleetDecky(ctx, s.db, d, stamp(FormatTime(s.Now())))
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func upsertFleetDecky(ctx context.Context, db execer, d store.FleetDecky, now interface{ String() string }) error {
	_, err := db.ExecContext(ctx, `INSERT INTO fleet_deckies (`+fleetColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_id, name) DO UPDATE SET
			ip = excluded.ip, driver = excluded.driver, decky = excluded.decky,
			state = excluded.state, last_error = excluded.last_error,
			generation = MAX(fleet_deckies.generation, excluded.generation),
			last_seen = COALESCE(excluded.last_seen, fleet_deckies.last_seen),
			updated_at = excluded.updated_at`,
		d.HostID, d.Name, d.IP, d.Driver, mustJSON(d.Decky), d.State, d.LastError, d.Generation,
		nullTime(d.LastSeen), now.String())
	if err != nil {
		return fmt.Errorf("store: upsert fleet decky %s/%s: %w", d.HostID, d.Name, err)
	}
	return nil
}

// ReplaceFleet makes the rows of hostID equal to deckies in one transaction:
// listed rows are upserted and rows of hostID that are not listed are deleted.
func (s *Store) ReplaceFleet(ctx context.Context, hostID string, deckies []store.FleetDecky) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: replace fleet: %w", err)
	}
	defer tx.Rollback()

	now := stamp(FormatTime(s.Now()))
	keep := map[string]bool{}
	for _, d := range deckies {
		d.HostID = hostID
		if err := upsertFleetDecky(ctx, tx, d, now); err != nil {
			return err
		}
		keep[d.Name] = true
	}

	rows, err := tx.QueryContext(ctx, `SELECT name FROM fleet_deckies WHERE host_id = ?`, hostID)
	if err != nil {
		return fmt.Errorf("store: replace fleet: %w", err)
	}
	var drop []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("store: replace fleet: %w", err)
		}
		if !keep[name] {
			drop = append(drop, name)
		}
	}
	rows.Close()
	for _, name := range drop {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fleet_deckies WHERE host_id = ? AND name = ?`, hostID, name); err != nil {
			return fmt.Errorf("store: replace fleet: delete %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: replace fleet: %w", err)
	}
	return nil
}

type stamp string

func (s stamp) String() string { return string(s) }

// DeleteFleetDecky removes one row. A missing row is not an error.
func (s *Store) DeleteFleetDecky(ctx context.Context, hostID, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM fleet_deckies WHERE host_id = ? AND name = ?`, hostID, name); err != nil {
		return fmt.Errorf("store: delete fleet decky %s/%s: %w", hostID, name, err)
	}
	return nil
}

// GetFleetDecky returns one row or store.ErrNotFound.
func (s *Store) GetFleetDecky(ctx context.Context, hostID, name string) (store.FleetDecky, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+fleetColumns+` FROM fleet_deckies WHERE host_id = ? AND name = ?`, hostID, name)
	d, err := scanFleetDecky(row)
	if err == sql.ErrNoRows {
		return store.FleetDecky{}, fmt.Errorf("decky %s: %w", name, errNotFound)
	}
	return d, err
}

// ListFleetDeckies returns the rows of hostID, or of every host when hostID
// is empty, ordered by name.
func (s *Store) ListFleetDeckies(ctx context.Context, hostID string) ([]store.FleetDecky, error) {
	q := `SELECT ` + fleetColumns + ` FROM fleet_deckies`
	var args []any
	if hostID != "" {
		q += ` WHERE host_id = ?`
		args = append(args, hostID)
	}
	q += ` ORDER BY name, host_id`

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list fleet deckies: %w", err)
	}
	defer rows.Close()

	var out []store.FleetDecky
	for rows.Next() {
		d, err := scanFleetDecky(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list fleet deckies: %w", err)
	}
	return out, nil
}

// SetFleetDeckyState records an observed state, stamps last_seen and
// updated_at, and stores lastError ("" clears it). It returns the previous
// state, or store.ErrNotFound when the row is gone.
func (s *Store) SetFleetDeckyState(ctx context.Context, hostID, name, state, lastError string) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("store: set state of %s/%s: %w", hostID, name, err)
	}
	defer tx.Rollback()

	var prev string
	err = tx.QueryRowContext(ctx, `SELECT state FROM fleet_deckies WHERE host_id = ? AND name = ?`, hostID, name).Scan(&prev)
	if err == sql.ErrNoRows {
		return "", fmt.Errorf("decky %s: %w", name, errNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: set state of %s/%s: %w", hostID, name, err)
	}

	now := FormatTime(s.Now())
	if _, err := tx.ExecContext(ctx, `UPDATE fleet_deckies SET state = ?, last_error = ?, last_seen = ?, updated_at = ?
		WHERE host_id = ? AND name = ?`, state, lastError, now, now, hostID, name); err != nil {
		return "", fmt.Errorf("store: set state of %s/%s: %w", hostID, name, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: set state of %s/%s: %w", hostID, name, err)
	}
	return prev, nil
}

// TouchFleetDeckies stamps last_seen on every row of hostID, so a reader can
// tell a live reconciler from a dead one even when nothing changed.
func (s *Store) TouchFleetDeckies(ctx context.Context, hostID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE fleet_deckies SET last_seen = ? WHERE host_id = ?`, FormatTime(s.Now()), hostID); err != nil {
		return fmt.Errorf("store: touch fleet deckies of %s: %w", hostID, err)
	}
	return nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanFleetDecky(r scanner) (store.FleetDecky, error) {
	var (
		d        store.FleetDecky
		config   string
		lastSeen sql.NullString
		updated  string
	)
	if err := r.Scan(&d.HostID, &d.Name, &d.IP, &d.Driver, &config, &d.State, &d.LastError, &d.Generation, &lastSeen, &updated); err != nil {
		if err == sql.ErrNoRows {
			return d, err
		}
		return d, fmt.Errorf("store: scan fleet decky: %w", err)
	}
	if err := decodeJSON(config, &d.Decky); err != nil {
		return d, err
	}
	var err error
	if d.LastSeen, err = scanNullTime(lastSeen); err != nil {
		return d, err
	}
	if d.UpdatedAt, err = ParseTime(updated); err != nil {
		return d, err
	}
	return d, nil
}
