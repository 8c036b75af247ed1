package httpsvc

import (
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/services"
)

// rawExchange sends data on a fresh connection and returns everything the
// server sends until it closes the connection.
func rawExchange(t *testing.T, addr string, data []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(out)
}

func TestHostileInput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(r.UintN(256))
	}
	junk = append(junk, "\r\n\r\n"...)

	tests := []struct {
		name       string
		persona    decky.Persona
		distro     string
		data       []byte
		wantStatus string
		wantBody   string
	}{
		{"random bytes nginx", decky.PersonaLinux, "debian", junk, "HTTP/1.1 400 Bad Request", "<center>nginx/1.22.1</center>"},
		{"tls hello to plain port", decky.PersonaLinux, "rocky9", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), "HTTP/1.1 400 Bad Request", "Your browser sent a request"},
		{
			"oversized header nginx", decky.PersonaLinux, "ubuntu22",
			[]byte("GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("A", 64<<10) + "\r\n\r\n"),
			"HTTP/1.1 400 Bad Request", "Request Header Or Cookie Too Large",
		},
		{
			"oversized header iis", decky.PersonaWindowsServer, "debian",
			[]byte("GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("A", 64<<10) + "\r\n\r\n"),
			"HTTP/1.1 400 Bad Request", "Header Field Too Long",
		},
		{"missing host", decky.PersonaLinux, "debian", []byte("GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 Bad Request", "<title>400 Bad Request</title>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, log := startServer(t, Config{Persona: tt.persona, Distro: tt.distro, ReadHeaderTimeout: 2 * time.Second})
			out := rawExchange(t, addr, tt.data)
			if !strings.HasPrefix(out, tt.wantStatus) || !strings.Contains(out, tt.wantBody) {
				t.Errorf("response = %q, want %q with %q", out, tt.wantStatus, tt.wantBody)
			}
			if strings.Contains(out, "text/plain; charset=utf-8") {
				t.Errorf("response %q carries net/http's own error headers", out)
			}

			ev := log.wait(t, services.KindError)
			if ev.Fields[services.FieldError] != "malformed request" || ev.Fields["payload"] == "" || ev.SrcIP != "127.0.0.1" {
				t.Errorf("error event = %+v, want a malformed request with payload from 127.0.0.1", ev)
			}
			if n, _ := strconv.Atoi(ev.Fields["payload_size"]); n == 0 {
				t.Errorf("payload_size = %q, want the bytes read", ev.Fields["payload_size"])
			}
		})
	}
}

func TestSlowRequestTimesOut(t *testing.T) {
	addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "debian", ReadHeaderTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatalf("write: %v", err)
	}

	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (the server did not close the slow connection)", err)
	}
	if len(out) != 0 && !strings.Contains(string(out), "nginx") {
		t.Errorf("slow connection got %q", out)
	}

	ev := log.wait(t, services.KindError)
	if ev.Fields[services.FieldError] != "incomplete request" || !strings.HasPrefix(ev.Fields["payload"], `GET / HTTP/1.1\r\nHost: x`) {
		t.Errorf("error event fields = %v, want an incomplete request with the partial head", ev.Fields)
	}
}

func TestNonUTF8Escaped(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		kind  string
		field string
		want  string
	}{
		{"user agent", "GET /a%FF HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\xff\xfeagent\r\nConnection: close\r\n\r\n", services.KindRequest, services.FieldUserAgent, `evil\xff\xfeagent`},
		{"decoded path", "GET /a%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", services.KindRequest, services.FieldPath, `/a\xff`},
		{"control byte rejected", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\xff\r\n\r\n", services.KindError, "payload", `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\xff\r\n\r\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "debian"})
			out := rawExchange(t, addr, []byte(tt.raw))
			if !strings.HasPrefix(out, "HTTP/1.1 ") {
				t.Fatalf("response = %q", out)
			}

			ev := log.wait(t, tt.kind)
			if got := ev.Fields[tt.field]; got != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
			for k, v := range ev.Fields {
				if !isValidUTF8(v) || strings.ContainsAny(v, "\x01") {
					t.Errorf("field %s = %q holds raw bytes", k, v)
				}
			}
		})
	}
}

func TestLargeBodyCounted(t *testing.T) {
	addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "debian", MaxBodyBytes: 1024})
	body := strings.Repeat("B", 5000)
	out := rawExchange(t, addr, []byte("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"+body))
	if !strings.HasPrefix(out, "HTTP/1.1 404") {
		t.Errorf("response = %q, want 404", out)
	}

	ev := log.wait(t, services.KindRequest)
	f := ev.Fields
	if f[services.FieldBodySize] != "5000" || f["body_sha256_bytes"] != "1024" || len(f[services.FieldBody]) != maxBodyPreviewBytes {
		t.Errorf("body fields = size %q, hashed %q, preview %d bytes; want 5000, 1024, %d",
			f[services.FieldBodySize], f["body_sha256_bytes"], len(f[services.FieldBody]), maxBodyPreviewBytes)
	}
}

func isValidUTF8(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s
}
