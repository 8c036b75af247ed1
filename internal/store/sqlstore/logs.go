package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/store"
)

const logColumns = `id, event_id, time, decky, service, kind, src_ip, src_port, session, fields, created_at`

// ListLogs returns one page of log entries and the number that match. Entries
// come newest first, except with f.AfterID set, where they come oldest first
// so a follower can print them in order.
func (s *Store) ListLogs(ctx context.Context, f store.LogFilter, p store.Page) ([]store.LogEntry, int, error) {
	p = normalizePage(p)
	where, args := logWhere(f)

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM logs`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count logs: %w", err)
	}

	order := ` ORDER BY time DESC, id DESC`
	if f.AfterID > 0 {
		order = ` ORDER BY id ASC`
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+logColumns+` FROM logs`+where+order+` LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list logs: %w", err)
	}
	defer rows.Close()

	out := []store.LogEntry{}
	for rows.Next() {
		var (
			e                     store.LogEntry
			ts, fields, createdAt string
		)
		if err := rows.Scan(&e.ID, &e.EventID, &ts, &e.Decky, &e.Service, &e.Kind, &e.SrcIP, &e.SrcPort, &e.Session, &fields, &createdAt); err != nil {
			return nil, 0, fmt.Errorf("store: scan log: %w", err)
		}
		if e.Time, err = ParseTime(ts); err != nil {
			return nil, 0, err
		}
		if e.CreatedAt, err = ParseTime(createdAt); err != nil {
			return nil, 0, err
		}
		if err := decodeJSON(fields, &e.Fields); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list logs: %w", err)
	}
	return out, total, nil
}

func logWhere(f store.LogFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.Decky != "" {
		add(`decky = ?`, f.Decky)
	}
	if f.Service != "" {
		add(`service = ?`, f.Service)
	}
	if f.Kind != "" {
		add(`kind = ?`, f.Kind)
	}
	if f.SrcIP != "" {
		add(`src_ip = ?`, f.SrcIP)
	}
	if f.Session != "" {
		add(`session = ?`, f.Session)
	}
	if !f.Since.IsZero() {
		add(`time >= ?`, FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add(`time <= ?`, FormatTime(f.Until))
	}
	if f.AfterID > 0 {
		add(`id > ?`, f.AfterID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// CountLogs returns the number of stored log rows.
func (s *Store) CountLogs(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM logs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count logs: %w", err)
	}
	return n, nil
}
