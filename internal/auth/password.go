package auth

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Password length rules in bytes. bcrypt reads at most 72 bytes, so a longer
// password would silently lose its tail; it is rejected instead.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 72
)

// DefaultBcryptCost is the work factor of new hashes.
const DefaultBcryptCost = 12

// ValidatePassword checks the length rules and names the limit it breaks.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("%w: must be at least %d bytes", ErrWeakPassword, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: must be at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	return nil
}

// HashPassword validates pw and returns its bcrypt hash at the given cost
// (DefaultBcryptCost when cost is 0).
func HashPassword(pw string, cost int) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash. Any error, a malformed hash
// included, counts as a mismatch.
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordLen {
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	return err == nil
}

// passwordAlphabet has 62 symbols, so each generated character carries
// about 5.95 bits.
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GeneratePassword returns a random password of n characters from
// [A-Za-z0-9] (24 characters carry about 143 bits).
func GeneratePassword(n int) (string, error) {
	if n < MinPasswordLen || n > MaxPasswordLen {
		return "", errors.New("auth: generated password length out of range")
	}
	out := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("auth: generate password: %w", err)
		}
		// Reject bytes past the largest multiple of 62 to keep the
		// distribution uniform.
		if buf[0] >= 248 {
			continue
		}
		out[i] = passwordAlphabet[int(buf[0])%len(passwordAlphabet)]
		i++
	}
	return string(out), nil
}
