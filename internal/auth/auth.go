// Package auth holds decnet's operator accounts: bcrypt password hashes,
// HS256 access tokens, the admin and viewer roles, login rate limits and
// the single-use tickets that let a browser open an event stream.
package auth

import (
	"context"
	"errors"
	"time"

	"github.com/decnet/decnet/internal/store"
)

// Roles, as stored in users.role.
const (
	RoleAdmin  = store.RoleAdmin
	RoleViewer = store.RoleViewer
)

// Errors returned by Service. Callers map them to HTTP statuses; the reason
// behind ErrUnauthenticated goes to the log, never to the client.
var (
	// ErrUnauthenticated reports a wrong password, an unknown or disabled
	// user, or a token that is invalid, expired or revoked.
	ErrUnauthenticated = errors.New("auth: unauthenticated")

	// ErrRateLimited reports too many failed logins for a username or a
	// source address. RateLimitError carries the wait.
	ErrRateLimited = errors.New("auth: too many failed logins")

	// ErrWeakPassword reports a password outside the length rules.
	ErrWeakPassword = errors.New("auth: password does not meet the rules")

	// ErrSamePassword reports a password change to the current password,
	// which would end a forced change without changing anything.
	ErrSamePassword = errors.New("auth: new password equals the current one")
)

// RateLimitError is returned when a login is refused because of earlier
// failures. It wraps ErrRateLimited.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string { return ErrRateLimited.Error() }

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Principal is the authenticated caller of one request.
type Principal struct {
	UUID               string    `json:"uuid"`
	Username           string    `json:"username"`
	Role               string    `json:"role"`
	MustChangePassword bool      `json:"must_change_password"`
	TokenID            string    `json:"-"`
	ExpiresAt          time.Time `json:"-"`
}

// IsAdmin reports whether the principal has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// ValidRole reports whether role is admin or viewer.
func ValidRole(role string) bool { return role == RoleAdmin || role == RoleViewer }

// UserStore is the subset of the SQL store that Service uses.
type UserStore interface {
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	CountUsers(ctx context.Context) (int, error)
	SetUserPassword(ctx context.Context, id, hash string, mustChange bool) error
	RevokeToken(ctx context.Context, jti, userUUID string, expiresAt time.Time) error
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
}
