// Package slug creates and checks canary token slugs: 26 characters of
// lowercase RFC 4648 base32 without padding, carrying 130 random bits.
// The alphabet (a-z, 2-7) makes a slug a valid DNS label and URL path
// segment. DNS servers may change the case of a query name, so slugs are
// compared case-insensitively everywhere.
package slug

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// Len is the length of a slug in characters.
const Len = 26

// encoding is RFC 4648 base32 with a lowercase alphabet and no padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns a fresh random slug. 17 random bytes encode to 28
// characters; the first 26 carry 130 bits.
func New() (string, error) {
	var b [17]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("slug: read random bytes: %w", err)
	}
	return encoding.EncodeToString(b[:])[:Len], nil
}

// MustNew is New for callers that cannot handle an error; crypto/rand
// does not fail on supported platforms.
func MustNew() string {
	s, err := New()
	if err != nil {
		panic(err)
	}
	return s
}

// Valid reports whether s is a slug, ignoring case.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < 'a' || c > 'z') && (s[i] < '2' || s[i] > '7') {
			return false
		}
	}
	return true
}

// Normalize returns s in the canonical lowercase form.
func Normalize(s string) string { return strings.ToLower(s) }

// Equal reports whether a and b name the same slug.
func Equal(a, b string) bool { return strings.EqualFold(a, b) }
