package httpsvc

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuthorization(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name string
		in   string
		want credential
		ok   bool
	}{
		{"basic", "Basic " + b64("admin:s3cr:et"), credential{scheme: "basic", username: "admin", secret: []byte("s3cr:et"), kind: secretPlaintext}, true},
		{"basic no padding", "basic " + "YWRtaW46eA", credential{scheme: "basic", username: "admin", secret: []byte("x"), kind: secretPlaintext}, true},
		{"basic no colon", "Basic " + b64("root"), credential{scheme: "basic", username: "root", kind: secretPlaintext}, true},
		{"basic binary", "Basic " + b64("u:\xff\x00"), credential{scheme: "basic", username: "u", secret: []byte("\xff\x00"), kind: secretPlaintext}, true},
		{"basic junk", "Basic !!!", credential{scheme: "basic", kind: secretPlaintext, malformed: true}, true},
		{"bearer", "Bearer eyJhbGciOi.x.y", credential{scheme: "bearer", secret: []byte("eyJhbGciOi.x.y"), kind: secretBearer}, true},
		{"bearer empty", "Bearer", credential{scheme: "bearer", secret: []byte(""), kind: secretBearer, malformed: true}, true},
		{
			"digest",
			`Digest username="bob", realm="r", nonce="n1", uri="/a", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="c\"x"`,
			credential{scheme: "digest", username: "bob", secret: []byte("6629fae49393a05397450978507c4ef1"), kind: secretDigestMD5,
				params: map[string]string{"realm": "r", "nonce": "n1", "uri": "/a", "qop": "auth", "nc": "00000001", "cnonce": `c"x`}},
			true,
		},
		{
			"digest sha256",
			`Digest username="bob", response="ab", algorithm=SHA-256`,
			credential{scheme: "digest", username: "bob", secret: []byte("ab"), kind: secretDigestHash, params: map[string]string{"algorithm": "SHA-256"}},
			true,
		},
		{"ntlm", "NTLM TlRMTVNTUAABAAAA", credential{}, false},
		{"empty", "", credential{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAuthorization(tt.in)
			if ok != tt.ok {
				t.Fatalf("parseAuthorization(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if diff := cmp.Diff(got, tt.want, cmp.AllowUnexported(credential{})); diff != "" {
				t.Errorf("parseAuthorization(%q) (-got +want):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"Basic YWRtaW46YWRtaW4=",
		"Bearer abc",
		`Digest username="a\"b", response="00", algorithm=MD5, x`,
		`Digest "unterminated`,
		"Basic ====",
		"digest ,,,,=,=\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseAuthorization(s)
		if !ok {
			return
		}
		if len(c.params) > maxDigestParams {
			t.Fatalf("parseAuthorization(%q) kept %d params", s, len(c.params))
		}
		if c.malformed && c.scheme == "basic" && len(c.secret) != 0 {
			t.Fatalf("parseAuthorization(%q): malformed basic credential has a secret", s)
		}
		if len(c.username) > len(s) || len(c.secret) > len(s) {
			t.Fatalf("parseAuthorization(%q) grew the input", s)
		}
		_ = printable(c.secret)
	})
}
