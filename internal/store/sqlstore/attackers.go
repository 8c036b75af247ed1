package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/store"
)

const attackerColumns = `uuid, ip, first_seen, last_seen, deckies, services, event_count, commands,
	fingerprints, fingerprint_history, payload_hashes, c2_endpoints, asn, identity_id, updated_at`

// Listing limits shared by the paged queries.
const (
	defaultPageLimit = 50
	maxPageLimit     = 1000
)

func normalizePage(p store.Page) store.Page {
	if p.Limit <= 0 {
		p.Limit = defaultPageLimit
	}
	if p.Limit > maxPageLimit {
		p.Limit = maxPageLimit
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// ListAttackers returns one page of attackers, newest activity first, and the
// number of rows that match the filter.
func (s *Store) ListAttackers(ctx context.Context, f store.AttackerFilter, p store.Page) ([]store.Attacker, int, error) {
	p = normalizePage(p)
	countQuery, countArgs := attackerCount(f)
	where, args := attackerWhere(f)

	var total int
	if err := s.db.QueryRowContext(ctx, countQuery, countArgs...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count attackers: %w", err)
	}

	q := `SELECT ` + prefixColumns("a.", attackerColumns) + ` FROM attackers a` + where + ` ORDER BY a.last_seen DESC, a.uuid LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list attackers: %w", err)
	}
	defer rows.Close()

	out := []store.Attacker{}
	for rows.Next() {
		a, err := scanAttacker(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list attackers: %w", err)
	}
	return out, total, nil
}

// attackerWhere filters the page query. The page walks the last_seen index
// newest first and stops after one page, so a decky or service filter is a
// cheap primary-key probe of attacker_deckies per row walked.
func attackerWhere(f store.AttackerFilter) (string, []any) {
	var conds []string
	var args []any
	if f.Decky != "" || f.Service != "" {
		sub := `EXISTS (SELECT 1 FROM attacker_deckies d WHERE d.attacker_uuid = a.uuid`
		if f.Decky != "" {
			sub += ` AND d.decky = ?`
			args = append(args, f.Decky)
		}
		if f.Service != "" {
			sub += ` AND d.service = ?`
			args = append(args, f.Service)
		}
		conds = append(conds, sub+`)`)
	}
	rest, restArgs := attackerScalarConds(f)
	conds = append(conds, rest...)
	args = append(args, restArgs...)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// attackerCount builds the query for the true total. Counting must visit
// every match, so a decky or service filter starts from the lookup table
// and reads only the matching attackers.
func attackerCount(f store.AttackerFilter) (string, []any) {
	rest, restArgs := attackerScalarConds(f)
	if f.Decky == "" && f.Service == "" {
		q := `SELECT COUNT(*) FROM attackers a`
		if len(rest) > 0 {
			q += ` WHERE ` + strings.Join(rest, " AND ")
		}
		return q, restArgs
	}

	var sub []string
	var args []any
	if f.Decky != "" {
		sub = append(sub, `decky = ?`)
		args = append(args, f.Decky)
	}
	if f.Service != "" {
		sub = append(sub, `service = ?`)
		args = append(args, f.Service)
	}
	lookup := `SELECT DISTINCT attacker_uuid FROM attacker_deckies WHERE ` + strings.Join(sub, " AND ")
	if len(rest) == 0 {
		return `SELECT COUNT(*) FROM (` + lookup + `)`, args
	}
	return `SELECT COUNT(*) FROM (` + lookup + `) d JOIN attackers a ON a.uuid = d.attacker_uuid WHERE ` +
		strings.Join(rest, " AND "), append(args, restArgs...)
}

func attackerScalarConds(f store.AttackerFilter) ([]string, []any) {
	var conds []string
	var args []any
	if f.IP != "" {
		conds = append(conds, `a.ip = ?`)
		args = append(args, f.IP)
	}
	if !f.Since.IsZero() {
		conds = append(conds, `a.last_seen >= ?`)
		args = append(args, FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, `a.first_seen <= ?`)
		args = append(args, FormatTime(f.Until))
	}
	return conds, args
}

func prefixColumns(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// GetAttacker returns the attacker with the given uuid or IP address.
func (s *Store) GetAttacker(ctx context.Context, uuidOrIP string) (store.Attacker, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+attackerColumns+` FROM attackers WHERE uuid = ? OR ip = ? LIMIT 1`, uuidOrIP, uuidOrIP)
	a, err := scanAttacker(row)
	if err == sql.ErrNoRows {
		return store.Attacker{}, fmt.Errorf("attacker %s: %w", uuidOrIP, errNotFound)
	}
	return a, err
}

// CountAttackers returns the number of attacker rows.
func (s *Store) CountAttackers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM attackers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count attackers: %w", err)
	}
	return n, nil
}

func scanAttacker(r scanner) (store.Attacker, error) {
	var (
		a                                                   store.Attacker
		first, last, updated                                string
		deckies, services, commands, fps, fph, payloads, c2 string
		asn                                                 sql.NullInt64
		identity                                            sql.NullString
	)
	err := r.Scan(&a.UUID, &a.IP, &first, &last, &deckies, &services, &a.EventCount, &commands,
		&fps, &fph, &payloads, &c2, &asn, &identity, &updated)
	if err == sql.ErrNoRows {
		return a, err
	}
	if err != nil {
		return a, fmt.Errorf("store: scan attacker: %w", err)
	}

	for _, t := range []struct {
		text string
		into any
	}{
		{deckies, &a.Deckies}, {services, &a.Services}, {commands, &a.Commands},
		{fps, &a.Fingerprints}, {fph, &a.FingerprintHistory},
		{payloads, &a.PayloadHashes}, {c2, &a.C2Endpoints},
	} {
		if err := decodeJSON(t.text, t.into); err != nil {
			return a, err
		}
	}
	if a.Fingerprints == nil {
		a.Fingerprints = map[string]string{}
	}
	if a.FingerprintHistory == nil {
		a.FingerprintHistory = map[string][]string{}
	}
	if asn.Valid {
		v := asn.Int64
		a.ASN = &v
	}
	if identity.Valid && identity.String != "" {
		v := identity.String
		a.IdentityID = &v
	}
	if a.FirstSeen, err = ParseTime(first); err != nil {
		return a, err
	}
	if a.LastSeen, err = ParseTime(last); err != nil {
		return a, err
	}
	if a.UpdatedAt, err = ParseTime(updated); err != nil {
		return a, err
	}
	return a, nil
}
