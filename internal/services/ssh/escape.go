package ssh

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/decnet/decnet/internal/services"
)

// maxSecretBytes caps the secret bytes kept per attempt so that their
// base64 form fits in one field (services.MaxFieldBytes).
const maxSecretBytes = services.MaxFieldBytes / 4 * 3

// escape renders attacker bytes as a field value: printable UTF-8 stays as
// is, a backslash becomes "\\", and every other byte (NUL, controls,
// invalid UTF-8) becomes "\xNN". The result is valid UTF-8, at most
// services.MaxFieldBytes long, and decodes back to the input when not cut.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			piece = `\\`
		case !unicode.IsPrint(r) && r != ' ':
			if size == 1 {
				piece = fmt.Sprintf(`\x%02x`, s[i])
			} else {
				piece = fmt.Sprintf(`\u%04x`, r)
			}
		default:
			piece = s[i : i+size]
		}
		if b.Len()+len(piece) > services.MaxFieldBytes {
			break
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}

// printable replaces every byte outside 0x20-0x7E with '?', the form the
// credential store shows next to the exact base64 bytes.
func printable(secret []byte) string {
	out := make([]byte, len(secret))
	for i, c := range secret {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// secretFields returns the printable and base64 forms of a secret, cut to
// maxSecretBytes.
func secretFields(secret []byte) (printableForm, b64 string) {
	if len(secret) > maxSecretBytes {
		secret = secret[:maxSecretBytes]
	}
	return printable(secret), base64.StdEncoding.EncodeToString(secret)
}
