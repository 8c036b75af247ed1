package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/store"
)

// DefaultAdminUser is the account Bootstrap creates.
const DefaultAdminUser = "admin"

// Options configures a Service.
type Options struct {
	// Secret signs tokens; see LoadSecret.
	Secret []byte
	// TokenTTL is the access token lifetime (DefaultTokenTTL when 0).
	TokenTTL time.Duration
	// BcryptCost is the work factor of new hashes (DefaultBcryptCost when 0).
	BcryptCost int
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service authenticates operators: login, token checks, password changes
// and logout.
type Service struct {
	users   UserStore
	tokens  *Tokens
	tickets *Tickets
	byUser  *FailureLimiter
	byAddr  *FailureLimiter
	cost    int
	log     *slog.Logger

	// dummyHash is compared against when the username is unknown, so that
	// a login takes one bcrypt comparison whether or not the user exists.
	dummyHash string
}

// NewService returns a Service over users.
func NewService(users UserStore, opts Options) (*Service, error) {
	tokens, err := NewTokens(opts.Secret, opts.TokenTTL, opts.Now)
	if err != nil {
		return nil, err
	}
	cost := opts.BcryptCost
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	pw, err := GeneratePassword(24)
	if err != nil {
		return nil, err
	}
	dummy, err := HashPassword(pw, cost)
	if err != nil {
		return nil, err
	}

	return &Service{
		users:     users,
		tokens:    tokens,
		tickets:   NewTickets(opts.Now),
		byUser:    NewFailureLimiter(MaxFailures, FailureWindow, opts.Now),
		byAddr:    NewFailureLimiter(MaxFailures, FailureWindow, opts.Now),
		cost:      cost,
		log:       log,
		dummyHash: dummy,
	}, nil
}

// Tokens returns the token signer.
func (s *Service) Tokens() *Tokens { return s.tokens }

// Tickets returns the stream ticket table.
func (s *Service) Tickets() *Tickets { return s.tickets }

// HashPassword hashes pw at the service's cost.
func (s *Service) HashPassword(pw string) (string, error) { return HashPassword(pw, s.cost) }

// LoginResult is a successful login.
type LoginResult struct {
	Token              string
	ExpiresAt          time.Time
	MustChangePassword bool
	User               store.User
}

// Login checks a username and password. A refused login returns
// ErrUnauthenticated whatever the reason, after the same single bcrypt
// comparison. More than MaxFailures failures within FailureWindow for the
// username or for remoteAddr return a *RateLimitError before any check.
func (s *Service) Login(ctx context.Context, username, password, remoteAddr string) (LoginResult, error) {
	userKey := strings.ToLower(username)
	if blocked, wait := s.byUser.Blocked(userKey); blocked {
		return LoginResult{}, &RateLimitError{RetryAfter: wait}
	}
	if blocked, wait := s.byAddr.Blocked(remoteAddr); blocked {
		return LoginResult{}, &RateLimitError{RetryAfter: wait}
	}

	u, err := s.users.GetUserByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, fmt.Errorf("auth: login %q: %w", username, err)
	}
	hash := s.dummyHash
	if err == nil {
		hash = u.PasswordHash
	}
	ok := CheckPassword(hash, password)

	reason := ""
	switch {
	case err != nil:
		reason = "unknown user"
	case !ok:
		reason = "wrong password"
	case u.Disabled:
		reason = "account disabled"
	}
	if reason != "" {
		s.byUser.Fail(userKey)
		s.byAddr.Fail(remoteAddr)
		s.log.Info("login refused", "user", username, "remote_addr", remoteAddr, "reason", reason)
		return LoginResult{}, fmt.Errorf("%w: %s", ErrUnauthenticated, reason)
	}

	s.byUser.Reset(userKey)
	token, claims, err := s.tokens.Issue(u.UUID)
	if err != nil {
		return LoginResult{}, err
	}
	s.log.Info("login", "user", u.Username, "remote_addr", remoteAddr)
	return LoginResult{Token: token, ExpiresAt: claims.ExpiresAt.Time, MustChangePassword: u.MustChangePassword, User: u}, nil
}

// Authenticate verifies an access token and returns its principal. Any
// failure wraps ErrUnauthenticated, and the message gives the reason for the log.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	claims, err := s.tokens.Parse(token)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}

	u, err := s.activeUser(ctx, claims.Subject)
	if err != nil {
		return Principal{}, err
	}
	if u.TokensValidFrom != nil && claims.IssuedAtNano < u.TokensValidFrom.UnixNano() {
		return Principal{}, fmt.Errorf("%w: token issued before the last password or role change", ErrUnauthenticated)
	}

	revoked, err := s.users.IsTokenRevoked(ctx, claims.ID)
	if err != nil {
		return Principal{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if revoked {
		return Principal{}, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}

	p := principalOf(u)
	p.TokenID = claims.ID
	p.ExpiresAt = claims.ExpiresAt.Time
	return p, nil
}

// StillValid reports whether a principal authenticated at since may keep a
// long-lived connection such as an event stream open. The user must still
// exist and be enabled, with no password or role change after since. A
// token, when p came from one, must not be revoked or expired. Failures
// wrap ErrUnauthenticated.
func (s *Service) StillValid(ctx context.Context, p Principal, since time.Time) error {
	u, err := s.activeUser(ctx, p.UUID)
	if err != nil {
		return err
	}
	if u.TokensValidFrom != nil && u.TokensValidFrom.After(since) {
		return fmt.Errorf("%w: password or role changed", ErrUnauthenticated)
	}
	if p.TokenID == "" {
		return nil
	}
	revoked, err := s.users.IsTokenRevoked(ctx, p.TokenID)
	if err != nil {
		return fmt.Errorf("auth: check token: %w", err)
	}
	if revoked {
		return fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	if !p.ExpiresAt.IsZero() && time.Now().After(p.ExpiresAt) {
		return fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	return nil
}

// RedeemTicket consumes a stream ticket and returns the principal of its
// user, read fresh from the store.
func (s *Service) RedeemTicket(ctx context.Context, ticket string) (Principal, error) {
	id, err := s.tickets.Redeem(ticket)
	if err != nil {
		return Principal{}, err
	}
	u, err := s.activeUser(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	return principalOf(u), nil
}

// activeUser loads an enabled user; a missing or disabled one wraps
// ErrUnauthenticated.
func (s *Service) activeUser(ctx context.Context, userUUID string) (store.User, error) {
	u, err := s.users.GetUser(ctx, userUUID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: user %s no longer exists", ErrUnauthenticated, userUUID)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("auth: load user %s: %w", userUUID, err)
	}
	if u.Disabled {
		return store.User{}, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, u.Username)
	}
	return u, nil
}

func principalOf(u store.User) Principal {
	return Principal{UUID: u.UUID, Username: u.Username, Role: u.Role, MustChangePassword: u.MustChangePassword}
}

// ChangePassword checks the current password and stores the new one, which
// ends every other session of the user. The caller issues a fresh token.
func (s *Service) ChangePassword(ctx context.Context, userUUID, current, next string) error {
	u, err := s.users.GetUser(ctx, userUUID)
	if err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	if !CheckPassword(u.PasswordHash, current) {
		return fmt.Errorf("%w: current password is wrong", ErrUnauthenticated)
	}
	if next == current {
		return ErrSamePassword
	}
	hash, err := s.HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.users.SetUserPassword(ctx, u.UUID, hash, false); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	s.log.Info("password changed", "user", u.Username)
	return nil
}

// Logout revokes the token of p until it would have expired.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	if err := s.users.RevokeToken(ctx, p.TokenID, p.UUID, p.ExpiresAt); err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	return nil
}

// Bootstrap creates the admin account when the users table is empty. With
// password empty it generates a strong one and writes it to out once; it is
// never logged. A generated password must be changed at first login.
// Bootstrap does nothing when any user exists.
func Bootstrap(ctx context.Context, users UserStore, password string, cost int, out io.Writer, log *slog.Logger) error {
	n, err := users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("auth: bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}

	generated := password == ""
	if generated {
		if password, err = GeneratePassword(24); err != nil {
			return err
		}
	}
	hash, err := HashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("DECNET_ADMIN_PASSWORD: %w", err)
	}

	u, err := users.CreateUser(ctx, store.User{
		Username:           DefaultAdminUser,
		PasswordHash:       hash,
		Role:               RoleAdmin,
		MustChangePassword: generated,
	})
	if errors.Is(err, store.ErrConflict) {
		// Another process created it between the count and the insert.
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: bootstrap: %w", err)
	}

	if log != nil {
		log.Info("created admin account", "user", u.Username, "password_generated", generated)
	}
	if generated {
		_, err = fmt.Fprintf(out, "decnet: created user %q with password %s\n"+
			"decnet: this password is shown once and must be changed at first login.\n", u.Username, password)
		if err != nil {
			return fmt.Errorf("auth: print generated admin password: %w", err)
		}
	}
	return nil
}
