package httpsvc

import (
	"unicode"
	"unicode/utf8"
)

// escape renders attacker bytes as printable text for event fields, using
// Go's escape syntax without surrounding quotes. Printable UTF-8 is kept.
// A backslash becomes \\, and tab, newline and carriage return become \t,
// \n and \r. Every other byte (control characters, invalid UTF-8,
// unprintable runes) becomes \xNN. The mapping is reversible.
//
// The output is cut at a rune or escape boundary so it never exceeds max
// bytes; truncated reports whether input was left out.
func escape(b []byte, max int) (s string, truncated bool) {
	out := make([]byte, 0, min(len(b), max))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		var piece []byte
		switch {
		case r == '\\':
			piece = []byte(`\\`)
		case r == '\t':
			piece = []byte(`\t`)
		case r == '\n':
			piece = []byte(`\n`)
		case r == '\r':
			piece = []byte(`\r`)
		case r == utf8.RuneError && size <= 1, !unicode.IsPrint(r):
			piece = make([]byte, 0, 4*size)
			for _, c := range b[i : i+size] {
				piece = append(piece, '\\', 'x', hexDigit(c>>4), hexDigit(c&0xf))
			}
		default:
			piece = b[i : i+size]
		}
		if len(out)+len(piece) > max {
			return string(out), true
		}
		out = append(out, piece...)
		i += size
	}
	return string(out), false
}

func escapeString(s string, max int) string {
	e, _ := escape([]byte(s), max)
	return e
}

func hexDigit(n byte) byte {
	return "0123456789abcdef"[n]
}
