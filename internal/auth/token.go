package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token claim values. Tokens carry no role: the role is read from the users
// table on every request, so a demotion takes effect at once.
const (
	tokenIssuer   = "decnet"
	tokenAudience = "decnet-api"
	tokenType     = "access"
)

// MinSecretLen is the shortest accepted signing secret in bytes.
const MinSecretLen = 32

// DefaultTokenTTL is how long an access token stays valid.
const DefaultTokenTTL = 4 * time.Hour

// Claims are the registered JWT claims plus decnet's own.
type Claims struct {
	jwt.RegisteredClaims

	// Type is always "access".
	Type string `json:"typ"`

	// IssuedAtNano is the issue time in Unix nanoseconds. It is compared with
	// users.tokens_valid_from, which has sub-second precision, so that a
	// token issued in the same second as a password change but before it is
	// still rejected.
	IssuedAtNano int64 `json:"iat_ns"`
}

// Tokens issues and verifies HS256 access tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a Tokens that signs with secret (at least MinSecretLen
// bytes) and issues tokens valid for ttl (DefaultTokenTTL when 0). now is
// the clock; nil means time.Now.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: signing secret has %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("auth: token ttl %s must be positive", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, now: now}, nil
}

// TTL returns how long issued tokens stay valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs a new access token for the user uuid and returns it with its
// claims.
func (t *Tokens) Issue(userUUID string) (string, Claims, error) {
	jti, err := randomHex(16)
	if err != nil {
		return "", Claims{}, err
	}
	now := t.now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   userUUID,
			Audience:  jwt.ClaimStrings{tokenAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Type:         tokenType,
		IssuedAtNano: now.UnixNano(),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return signed, claims, nil
}

// Parse verifies the signature (HS256 only, so "none" and every other
// algorithm fail), the issuer, audience, expiry, type and the presence of
// subject and id. The error says why a token was rejected; it is meant for
// the operator log, not for the client.
func (t *Tokens) Parse(token string) (Claims, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("auth: parse token: %w", err)
	}
	switch {
	case claims.Type != tokenType:
		return Claims{}, fmt.Errorf("auth: token type %q is not %q", claims.Type, tokenType)
	case claims.Subject == "":
		return Claims{}, errors.New("auth: token has no subject")
	case claims.ID == "":
		return Claims{}, errors.New("auth: token has no id")
	case claims.IssuedAt == nil:
		return Claims{}, errors.New("auth: token has no issue time")
	}
	return claims, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
