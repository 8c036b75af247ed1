package httpsvc

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{in: "GET /index.html", max: 100, want: "GET /index.html"},
		{in: "a\\b", max: 100, want: `a\\b`},
		{in: "line\r\n\tx", max: 100, want: `line\r\n\tx`},
		{in: "\xff\xfeok", max: 100, want: `\xff\xfeok`},
		{in: "\x00\x1b[31m", max: 100, want: `\x00\x1b[31m`},
		{in: "héllo ☃", max: 100, want: "héllo ☃"},
		{in: "\u200b", max: 100, want: `\xe2\x80\x8b`},
		{in: "abcdef", max: 4, want: "abcd", cut: true},
		{in: "ab\xff", max: 4, want: "ab", cut: true},
		{in: "a☃", max: 3, want: "a", cut: true},
	}
	for _, tt := range tests {
		got, cut := escape([]byte(tt.in), tt.max)
		if got != tt.want || cut != tt.cut {
			t.Errorf("escape(%q, %d) = %q, %v, want %q, %v", tt.in, tt.max, got, cut, tt.want, tt.cut)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\xff\x00\\x41", "é\r\n", strings.Repeat("\x80", 40)} {
		f.Add([]byte(s), 64)
	}
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got, cut := escape(in, max)
		if len(got) > max {
			t.Fatalf("escape(%q, %d) is %d bytes long", in, max, len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("escape(%q) = %q, not valid UTF-8", in, got)
		}
		back, err := unescape(got)
		if err != nil {
			t.Fatalf("unescape(escape(%q)) = %v", in, err)
		}
		if cut && !bytes.HasPrefix(in, back) || !cut && !bytes.Equal(back, in) {
			t.Fatalf("unescape(escape(%q)) = %q (cut %v)", in, back, cut)
		}
	})
}
