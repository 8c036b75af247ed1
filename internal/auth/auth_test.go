package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func TestTokensRejectForgeries(t *testing.T) {
	c := newClock()
	tokens, err := NewTokens(testSecret, time.Hour, c.now)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	good, claims, err := tokens.Issue("user-1")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got, err := tokens.Parse(good); err != nil || got.Subject != "user-1" {
		t.Fatalf("Parse(good) = %+v, %v, want subject user-1", got, err)
	}

	other, _ := NewTokens([]byte("ffffffffffffffffffffffffffffffff"), time.Hour, c.now)
	wrongKey, _, _ := other.Issue("user-1")

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := bytes.Replace(payload, []byte("user-1"), []byte("user-2"), 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedPayload) + "." + parts[2]

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatalf("sign none: %v", err)
	}
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(testSecret)

	wrongAud := claims
	wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
	wrongAudToken, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, wrongAud).SignedString(testSecret)

	wrongType := claims
	wrongType.Type = "refresh"
	wrongTypeToken, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, wrongType).SignedString(testSecret)

	noExp := claims
	noExp.ExpiresAt = nil
	noExpToken, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, noExp).SignedString(testSecret)

	tests := []struct {
		name  string
		token string
		later time.Duration
	}{
		{"tampered payload", tampered, 0},
		{"wrong key", wrongKey, 0},
		{"alg none", none, 0},
		{"alg HS512", hs512, 0},
		{"wrong audience", wrongAudToken, 0},
		{"wrong type", wrongTypeToken, 0},
		{"no expiry", noExpToken, 0},
		{"expired", good, time.Hour + time.Second},
		{"garbage", "not.a.token", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *c
			c.advance(tt.later)
			check, _ := NewTokens(testSecret, time.Hour, c.now)
			if _, err := check.Parse(tt.token); err == nil {
				t.Errorf("Parse(%s) succeeded, want an error", tt.name)
			}
		})
	}
}

func TestFailureLimiterWindow(t *testing.T) {
	c := newClock()
	l := NewFailureLimiter(3, time.Minute, c.now)

	for i := 0; i < 3; i++ {
		if blocked, _ := l.Blocked("k"); blocked {
			t.Fatalf("Blocked after %d failures = true, want false", i)
		}
		l.Fail("k")
		c.advance(10 * time.Second)
	}
	blocked, wait := l.Blocked("k")
	if !blocked || wait != 30*time.Second {
		t.Errorf("Blocked after 3 failures = %v, %s, want true, 30s", blocked, wait)
	}
	if blocked, _ := l.Blocked("other"); blocked {
		t.Errorf("Blocked(other) = true, want false")
	}

	c.advance(31 * time.Second)
	if blocked, _ := l.Blocked("k"); blocked {
		t.Errorf("Blocked after the first failure left the window = true, want false")
	}

	l.Fail("k")
	l.Reset("k")
	if blocked, _ := l.Blocked("k"); blocked {
		t.Errorf("Blocked after Reset = true, want false")
	}
}

func TestTicketsSingleUse(t *testing.T) {
	c := newClock()
	tk := NewTickets(c.now)

	id, err := tk.Issue("u1")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got, err := tk.Redeem(id); err != nil || got != "u1" {
		t.Errorf("Redeem = %q, %v, want u1", got, err)
	}
	if _, err := tk.Redeem(id); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("second Redeem error = %v, want ErrUnauthenticated", err)
	}

	late, _ := tk.Issue("u1")
	c.advance(TicketTTL)
	if _, err := tk.Redeem(late); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Redeem after %s error = %v, want ErrUnauthenticated", TicketTTL, err)
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()

	first, err := LoadSecret("", dir)
	if err != nil {
		t.Fatalf("LoadSecret (create): %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, SecretFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode = %v, %v, want 0600", info.Mode(), err)
	}
	second, err := LoadSecret("", dir)
	if err != nil || string(second) != string(first) {
		t.Errorf("LoadSecret (read) = %q, %v, want the created secret", second, err)
	}

	os.Chmod(filepath.Join(dir, SecretFileName), 0o644)
	if _, err := LoadSecret("", dir); err != nil {
		t.Fatalf("LoadSecret (loose mode): %v", err)
	}
	info, _ = os.Stat(filepath.Join(dir, SecretFileName))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode after load = %v, want 0600", info.Mode().Perm())
	}

	for _, bad := range []string{"short", strings.Repeat("secret", 6), strings.Repeat("changeme", 4)} {
		if _, err := LoadSecret(bad, dir); err == nil {
			t.Errorf("LoadSecret(%q) succeeded, want an error", bad)
		}
	}
	if got, err := LoadSecret(string(testSecret), dir); err != nil || string(got) != string(testSecret) {
		t.Errorf("LoadSecret(env) = %q, %v", got, err)
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		pw, err := GeneratePassword(24)
		if err != nil || len(pw) != 24 {
			t.Fatalf("GeneratePassword(24) = %q, %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("GeneratePassword repeated %q", pw)
		}
		seen[pw] = true
	}
}

func openStore(t *testing.T, now func() time.Time) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{Now: now})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestServiceLoginAndTokens(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := openStore(t, c.now)
	svc, err := NewService(st, Options{Secret: testSecret, BcryptCost: bcrypt.MinCost, Now: c.now})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	if cost, _ := bcrypt.Cost([]byte(svc.dummyHash)); cost != bcrypt.MinCost {
		t.Errorf("dummy hash cost = %d, want the service cost %d", cost, bcrypt.MinCost)
	}

	hash, _ := svc.HashPassword("correct horse battery")
	u, err := st.CreateUser(ctx, store.User{Username: "alice", PasswordHash: hash, Role: RoleViewer})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	for _, tt := range []struct{ name, user, pw string }{
		{"unknown user", "mallory", "correct horse battery"},
		{"wrong password", "alice", "wrong password!!"},
	} {
		if _, err := svc.Login(ctx, tt.user, tt.pw, "10.0.0.1"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Login(%s) error = %v, want ErrUnauthenticated", tt.name, err)
		}
	}

	res, err := svc.Login(ctx, "alice", "correct horse battery", "10.0.0.1")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	p, err := svc.Authenticate(ctx, res.Token)
	if err != nil || p.Username != "alice" || p.Role != RoleViewer {
		t.Fatalf("Authenticate = %+v, %v, want alice viewer", p, err)
	}

	// Changing the password ends the token issued before it.
	c.advance(time.Millisecond)
	if err := svc.ChangePassword(ctx, u.UUID, "correct horse battery", "new password 123"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if _, err := svc.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate(old token after password change) error = %v, want ErrUnauthenticated", err)
	}

	c.advance(time.Millisecond)
	res, err = svc.Login(ctx, "alice", "new password 123", "10.0.0.1")
	if err != nil {
		t.Fatalf("Login with new password: %v", err)
	}
	p, _ = svc.Authenticate(ctx, res.Token)
	if err := svc.Logout(ctx, p); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := svc.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate(after logout) error = %v, want ErrUnauthenticated", err)
	}

	res, _ = svc.Login(ctx, "alice", "new password 123", "10.0.0.1")
	if err := st.SetUserDisabled(ctx, u.UUID, true); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	if _, err := svc.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate(disabled user) error = %v, want ErrUnauthenticated", err)
	}
	if _, err := svc.Login(ctx, "alice", "new password 123", "10.0.0.2"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Login(disabled user) error = %v, want ErrUnauthenticated", err)
	}
}

func TestServiceLoginRateLimits(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	st := openStore(t, c.now)
	svc, err := NewService(st, Options{Secret: testSecret, BcryptCost: bcrypt.MinCost, Now: c.now})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	hash, _ := svc.HashPassword("correct horse battery")
	if _, err := st.CreateUser(ctx, store.User{Username: "alice", PasswordHash: hash}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	// Per username: failures from many addresses add up.
	for i := 0; i < MaxFailures; i++ {
		svc.Login(ctx, "alice", "wrong password!!", "10.0.1."+string(rune('0'+i)))
	}
	var rl *RateLimitError
	if _, err := svc.Login(ctx, "alice", "correct horse battery", "10.0.2.1"); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Errorf("Login after %d failures for the user error = %v, want *RateLimitError", MaxFailures, err)
	}

	// Per address: failures against many usernames add up.
	for i := 0; i < MaxFailures; i++ {
		svc.Login(ctx, "user"+string(rune('a'+i)), "wrong password!!", "10.0.3.1")
	}
	if _, err := svc.Login(ctx, "someone", "whatever password", "10.0.3.1"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Login after %d failures from one address error = %v, want ErrRateLimited", MaxFailures, err)
	}

	c.advance(FailureWindow)
	if _, err := svc.Login(ctx, "alice", "correct horse battery", "10.0.3.1"); err != nil {
		t.Errorf("Login after the window = %v, want success", err)
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()

	t.Run("generated password", func(t *testing.T) {
		st := openStore(t, nil)
		var out bytes.Buffer
		if err := Bootstrap(ctx, st, "", bcrypt.MinCost, &out, nil); err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
		u, err := st.GetUserByUsername(ctx, DefaultAdminUser)
		if err != nil {
			t.Fatalf("GetUserByUsername: %v", err)
		}
		if u.Role != RoleAdmin || !u.MustChangePassword {
			t.Errorf("bootstrapped user = %+v, want admin with must_change_password", u)
		}
		fields := strings.Fields(strings.SplitN(out.String(), "\n", 2)[0])
		pw := fields[len(fields)-1]
		if !CheckPassword(u.PasswordHash, pw) {
			t.Errorf("printed password %q does not match the stored hash", pw)
		}

		out.Reset()
		if err := Bootstrap(ctx, st, "", bcrypt.MinCost, &out, nil); err != nil || out.Len() != 0 {
			t.Errorf("second Bootstrap = %v, printed %q, want nothing", err, out.String())
		}
	})

	t.Run("password from environment", func(t *testing.T) {
		st := openStore(t, nil)
		var out bytes.Buffer
		if err := Bootstrap(ctx, st, "a very good password", bcrypt.MinCost, &out, nil); err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
		u, _ := st.GetUserByUsername(ctx, DefaultAdminUser)
		if !CheckPassword(u.PasswordHash, "a very good password") || u.MustChangePassword || out.Len() != 0 {
			t.Errorf("bootstrapped user = %+v, printed %q", u, out.String())
		}
	})

	t.Run("weak password", func(t *testing.T) {
		st := openStore(t, nil)
		if err := Bootstrap(ctx, st, "short", bcrypt.MinCost, &bytes.Buffer{}, nil); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("Bootstrap(short) error = %v, want ErrWeakPassword", err)
		}
	})
}
