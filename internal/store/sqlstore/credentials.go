package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/store"
)

// ListCredentials returns one page of credentials, most recently tried first,
// and the number that match.
func (s *Store) ListCredentials(ctx context.Context, f store.CredentialFilter, p store.Page) ([]store.Credential, int, error) {
	p = normalizePage(p)
	var conds []string
	var args []any
	if f.AttackerIP != "" {
		conds = append(conds, `attacker_ip = ?`)
		args = append(args, f.AttackerIP)
	}
	if f.Decky != "" {
		conds = append(conds, `decky = ?`)
		args = append(args, f.Decky)
	}
	if f.Service != "" {
		conds = append(conds, `service = ?`)
		args = append(args, f.Service)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count credentials: %w", err)
	}

	rows, err := s.db.QueryContext(ctx, `SELECT id, attacker_ip, attacker_uuid, decky, service, principal, secret_kind,
			secret_sha256, secret_b64, secret_printable, outcome, first_seen, last_seen, attempt_count
		FROM credentials`+where+` ORDER BY last_seen DESC, id DESC LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list credentials: %w", err)
	}
	defer rows.Close()

	out := []store.Credential{}
	for rows.Next() {
		var (
			c           store.Credential
			first, last string
		)
		if err := rows.Scan(&c.ID, &c.AttackerIP, &c.AttackerUUID, &c.Decky, &c.Service, &c.Principal, &c.SecretKind,
			&c.SecretSHA256, &c.SecretB64, &c.SecretPrintable, &c.Outcome, &first, &last, &c.AttemptCount); err != nil {
			return nil, 0, fmt.Errorf("store: scan credential: %w", err)
		}
		if c.FirstSeen, err = ParseTime(first); err != nil {
			return nil, 0, err
		}
		if c.LastSeen, err = ParseTime(last); err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list credentials: %w", err)
	}
	return out, total, nil
}
