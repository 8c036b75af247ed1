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

const userColumns = `uuid, username, password_hash, role, disabled, must_change_password, tokens_valid_from, created_at, updated_at`

// ErrLastAdmin is returned (wrapping store.ErrConflict) when a change would
// leave no enabled admin account.
var ErrLastAdmin = fmt.Errorf("the last enabled admin cannot be removed, disabled or demoted: %w", errConflict)

// CreateUser inserts u and returns the stored row. An empty UUID is filled
// in. A taken username returns store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.UUID == "" {
		u.UUID = uuid.NewString()
	}
	if u.Role == "" {
		u.Role = store.RoleViewer
	}
	now := s.Now()
	u.CreatedAt, u.UpdatedAt = now, now

	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.UUID, u.Username, u.PasswordHash, u.Role, u.Disabled, u.MustChangePassword,
		nullTime(u.TokensValidFrom), FormatTime(now), FormatTime(now))
	if err != nil {
		if isUniqueUsername(err) {
			return store.User{}, fmt.Errorf("user %q already exists: %w", u.Username, errConflict)
		}
		return store.User{}, fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	return u, nil
}

// GetUser returns the user with the given uuid or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE uuid = ?`, id)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %s: %w", id, errNotFound)
	}
	return u, err
}

// GetUserByUsername returns the user with the given name or
// store.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", username, errNotFound)
	}
	return u, err
}

// ListUsers returns one page of users ordered by username, and the total
// number of users.
func (s *Store) ListUsers(ctx context.Context, page store.Page) ([]store.User, int, error) {
	limit, offset := userPageBounds(page)

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count users: %w", err)
	}

	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()

	out := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	return out, total, nil
}

// CountUsers returns the number of user rows.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// SetUserPassword stores a new password hash and the must-change flag, and
// moves tokens_valid_from to now so that every token issued before the
// change stops working.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, mustChange bool) error {
	now := FormatTime(s.Now())
	return s.updateUser(ctx, id, "set password",
		`UPDATE users SET password_hash = ?, must_change_password = ?, tokens_valid_from = ?, updated_at = ? WHERE uuid = ?`,
		hash, mustChange, now, now, id)
}

// SetUserRole changes the role and invalidates older tokens. Demoting the
// last enabled admin returns ErrLastAdmin.
func (s *Store) SetUserRole(ctx context.Context, id, role string) error {
	return s.guardedUserUpdate(ctx, id, "set role", func(u store.User) bool {
		return role != store.RoleAdmin
	}, `UPDATE users SET role = ?, tokens_valid_from = ?, updated_at = ? WHERE uuid = ?`, role)
}

// SetUserDisabled enables or disables an account and invalidates older
// tokens. Disabling the last enabled admin returns ErrLastAdmin.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.guardedUserUpdate(ctx, id, "set disabled", func(u store.User) bool {
		return disabled
	}, `UPDATE users SET disabled = ?, tokens_valid_from = ?, updated_at = ? WHERE uuid = ?`, disabled)
}

// DeleteUser removes an account. Deleting the last enabled admin returns
// ErrLastAdmin; a missing user returns store.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	defer tx.Rollback()

	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %s: %w", id, errNotFound)
	}
	if err != nil {
		return err
	}
	if err := checkLastAdmin(ctx, tx, u); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE uuid = ?`, id); err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE user_uuid = ?`, id); err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	return nil
}

// RevokeToken records a token id as revoked until expiresAt.
func (s *Store) RevokeToken(ctx context.Context, jti, userUUID string, expiresAt time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, user_uuid, expires_at, revoked_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (jti) DO NOTHING`, jti, userUUID, FormatTime(expiresAt), FormatTime(s.Now()))
	if err != nil {
		return fmt.Errorf("store: revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether RevokeToken recorded jti.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM revoked_tokens WHERE jti = ?`, jti).Scan(&n); err != nil {
		return false, fmt.Errorf("store: check revoked token: %w", err)
	}
	return n > 0, nil
}

// PruneRevokedTokens deletes revocations of tokens that expired before t and
// returns how many rows it removed.
func (s *Store) PruneRevokedTokens(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, FormatTime(t))
	if err != nil {
		return 0, fmt.Errorf("store: prune revoked tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *Store) updateUser(ctx context.Context, id, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s of user %s: %w", what, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", id, errNotFound)
	}
	return nil
}

// guardedUserUpdate runs query with (value, now, now, id) in a transaction
// that first checks the last-admin rule when removesAdmin reports that the
// change takes admin rights away from the user.
func (s *Store) guardedUserUpdate(ctx context.Context, id, what string, removesAdmin func(store.User) bool, query string, value any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s of user %s: %w", what, id, err)
	}
	defer tx.Rollback()

	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %s: %w", id, errNotFound)
	}
	if err != nil {
		return err
	}
	if removesAdmin(u) {
		if err := checkLastAdmin(ctx, tx, u); err != nil {
			return err
		}
	}

	now := FormatTime(s.Now())
	if _, err := tx.ExecContext(ctx, query, value, now, now, id); err != nil {
		return fmt.Errorf("store: %s of user %s: %w", what, id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s of user %s: %w", what, id, err)
	}
	return nil
}

// checkLastAdmin returns ErrLastAdmin when u is the only enabled admin.
func checkLastAdmin(ctx context.Context, tx *sql.Tx, u store.User) error {
	if u.Role != store.RoleAdmin || u.Disabled {
		return nil
	}
	var others int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0 AND uuid <> ?`,
		store.RoleAdmin, u.UUID).Scan(&others)
	if err != nil {
		return fmt.Errorf("store: count admins: %w", err)
	}
	if others == 0 {
		return ErrLastAdmin
	}
	return nil
}

func scanUser(r scanner) (store.User, error) {
	var (
		u         store.User
		validFrom sql.NullString
		created   string
		updated   string
	)
	err := r.Scan(&u.UUID, &u.Username, &u.PasswordHash, &u.Role, &u.Disabled, &u.MustChangePassword, &validFrom, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return u, err
	}
	if err != nil {
		return u, fmt.Errorf("store: scan user: %w", err)
	}
	if u.TokensValidFrom, err = scanNullTime(validFrom); err != nil {
		return u, err
	}
	if u.CreatedAt, err = ParseTime(created); err != nil {
		return u, err
	}
	if u.UpdatedAt, err = ParseTime(updated); err != nil {
		return u, err
	}
	return u, nil
}

// userPageBounds applies the listing defaults: limit 50 when unset, at most
// 1000, and no negative offset.
func userPageBounds(p store.Page) (limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

func isUniqueUsername(err error) bool {
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
