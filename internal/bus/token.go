package bus

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTokenLen caps one subject token in bytes. Decky names, token ids and
// addresses stay far below it even after escaping.
const MaxTokenLen = 256

// escapeByte starts an escape sequence in an encoded token: "~" followed by
// two upper-case hex digits. A token that is "~" alone encodes the empty
// string.
const escapeByte = '~'

// ErrInvalidToken is returned (wrapped) by the subject builders and by
// ValidateToken when a token is empty, too long, or contains a character
// that NATS gives a meaning to.
var ErrInvalidToken = errors.New("invalid subject token")

// ValidateToken checks one subject token. It rejects the empty token,
// tokens longer than MaxTokenLen, and tokens that contain '.', '*', '>' or
// any whitespace or control byte.
func ValidateToken(tok string) error {
	if tok == "" {
		return fmt.Errorf("bus: %w: empty", ErrInvalidToken)
	}
	if len(tok) > MaxTokenLen {
		return fmt.Errorf("bus: %w: %d bytes, max %d", ErrInvalidToken, len(tok), MaxTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.' || c == '*' || c == '>':
			return fmt.Errorf("bus: %w: %q contains %q", ErrInvalidToken, tok, c)
		case c <= ' ' || c == 0x7f:
			return fmt.Errorf("bus: %w: %q contains whitespace or a control byte", ErrInvalidToken, tok)
		}
	}
	return nil
}

// ValidateSubject checks a concrete subject (no wildcards): one or more
// tokens separated by '.', each passing ValidateToken.
func ValidateSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("bus: %w: empty subject", ErrInvalidToken)
	}
	for _, tok := range strings.Split(subject, ".") {
		if err := ValidateToken(tok); err != nil {
			return fmt.Errorf("subject %q: %w", subject, err)
		}
	}
	return nil
}

// tokenSafe reports whether c passes through EncodeToken unchanged.
func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' ||
		c >= 'A' && c <= 'Z' ||
		c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == ':'
}

// EncodeToken maps any string to a valid subject token, reversibly. Bytes in
// [A-Za-z0-9_:-] pass through; every other byte, '~' included, becomes "~XX"
// with two upper-case hex digits. The empty string becomes "~". So decky
// names, IPv4 addresses ("10.0.0.1" → "10~2E0~2E0~2E1") and IPv6 addresses
// ("fe80::1" stays as it is) are always valid tokens as long as the result
// fits in MaxTokenLen.
func EncodeToken(s string) string {
	if s == "" {
		return string(escapeByte)
	}

	clean := true
	for i := 0; i < len(s); i++ {
		if !tokenSafe(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}

	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(escapeByte)
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// DecodeToken reverses EncodeToken. It rejects any token that EncodeToken
// cannot have produced, so that Decode(Encode(s)) == s and every decoded
// string has exactly one encoding.
func DecodeToken(tok string) (string, error) {
	if tok == string(escapeByte) {
		return "", nil
	}
	if tok == "" {
		return "", fmt.Errorf("bus: %w: empty", ErrInvalidToken)
	}

	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		if c != escapeByte || i+2 >= len(tok) {
			return "", fmt.Errorf("bus: %w: %q has an unexpected byte at offset %d", ErrInvalidToken, tok, i)
		}
		v, ok := unhexUpper(tok[i+1], tok[i+2])
		if !ok || tokenSafe(v) {
			return "", fmt.Errorf("bus: %w: %q has a bad escape at offset %d", ErrInvalidToken, tok, i)
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

func unhexUpper(hi, lo byte) (byte, bool) {
	h, ok1 := hexVal(hi)
	l, ok2 := hexVal(lo)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
