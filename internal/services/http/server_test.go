package httpsvc

import (
	"bufio"
	"context"
	"crypto/sha256"
	b64 "encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/rootfs"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/testenv"
)

// eventLog is a Sink that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []services.Event
}

func (l *eventLog) Emit(e services.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// wait polls until an event of the kind arrives and returns it.
func (l *eventLog) wait(t *testing.T, kind string) services.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, e := range l.events {
			if e.Kind == kind {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s event within 10s", kind)
	return services.Event{}
}

// startServer runs a Server on 127.0.0.1 port 0 until the test ends.
func startServer(t *testing.T, cfg Config) (string, *eventLog) {
	t.Helper()
	log := &eventLog{}
	if cfg.Decky == "" {
		cfg.Decky = "decky-01"
	}
	cfg.Sink = log
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String(), log
}

// curlResponse is a parsed curl -i output.
type curlResponse struct {
	status  int
	headers http.Header
	body    string
}

func runCurl(t *testing.T, args ...string) curlResponse {
	t.Helper()
	curl := testenv.RequireTool(t, "curl", "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "-i", "--max-time", "10"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
	if err != nil {
		t.Fatalf("parse curl output %q: %v", out, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return curlResponse{status: resp.StatusCode, headers: resp.Header, body: string(body)}
}

func TestPersonaResponses(t *testing.T) {
	tests := []struct {
		name       string
		persona    decky.Persona
		distro     string
		server     string
		powered    string
		rootStatus int
		rootBody   string
		notFound   string
	}{
		{"debian nginx", decky.PersonaLinux, "debian", "nginx/1.22.1", "", 200, "<title>Welcome to nginx!</title>", "<center>nginx/1.22.1</center>"},
		{"ubuntu nginx", decky.PersonaLinux, "ubuntu22", "nginx/1.18.0 (Ubuntu)", "", 200, "Welcome to nginx!", "<center><h1>404 Not Found</h1></center>"},
		{"rocky apache", decky.PersonaLinux, "rocky9", "Apache/2.4.57 (Rocky Linux)", "", 403, "HTTP Server Test Page powered by: Rocky Linux", "The requested URL was not found on this server."},
		{"centos apache", decky.PersonaLinux, "centos7", "Apache/2.4.6 (CentOS)", "", 403, "HTTP Server Test Page", "<h1>Not Found</h1>"},
		{"windows iis", decky.PersonaWindows, "debian", "Microsoft-IIS/10.0", "ASP.NET", 200, "<title>IIS Windows Server</title>", "404 - File or directory not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := startServer(t, Config{Persona: tt.persona, Distro: tt.distro, Hostname: "SRV-ATLAS-42"})

			root := runCurl(t, "http://"+addr+"/")
			if root.status != tt.rootStatus {
				t.Errorf("GET / status = %d, want %d", root.status, tt.rootStatus)
			}
			if got := root.headers.Get("Server"); got != tt.server {
				t.Errorf("Server = %q, want %q", got, tt.server)
			}
			if got := root.headers.Get("X-Powered-By"); got != tt.powered {
				t.Errorf("X-Powered-By = %q, want %q", got, tt.powered)
			}
			if !strings.Contains(root.body, tt.rootBody) {
				t.Errorf("GET / body lacks %q:\n%s", tt.rootBody, root.body)
			}

			missing := runCurl(t, "http://"+addr+"/no-such-page.php")
			if missing.status != 404 || !strings.Contains(missing.body, tt.notFound) {
				t.Errorf("GET /no-such-page.php = %d, body %q, want 404 with %q", missing.status, missing.body, tt.notFound)
			}
			if got := missing.headers.Get("Server"); got != tt.server {
				t.Errorf("404 Server = %q, want %q", got, tt.server)
			}
		})
	}
}

func TestApacheServerStatusForbidden(t *testing.T) {
	addr, _ := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "fedora"})
	resp := runCurl(t, "http://"+addr+"/server-status")
	if resp.status != 403 || !strings.Contains(resp.body, "You don't have permission") {
		t.Errorf("GET /server-status = %d %q, want 403 Forbidden page", resp.status, resp.body)
	}
}

func TestRequestEventFields(t *testing.T) {
	addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "debian"})
	body := "user=admin&pass=%27+OR+1%3D1--"
	runCurl(t, "-X", "POST", "-A", "sqlmap/1.7", "-H", "X-Probe: one", "-H", "X-Forwarded-For: 203.0.113.9",
		"--data-binary", body, "http://"+addr+"/login.php?id=1%27")

	ev := log.wait(t, services.KindRequest)
	_, port, _ := net.SplitHostPort(addr)
	if ev.SrcIP != "127.0.0.1" || ev.SrcPort == 0 || strconv.Itoa(ev.DstPort) != port {
		t.Errorf("event addresses = %s:%d -> %d, want 127.0.0.1:<port> -> %s", ev.SrcIP, ev.SrcPort, ev.DstPort, port)
	}
	if ev.Service != "http" || ev.Decky != "decky-01" || ev.Session == "" {
		t.Errorf("event service, decky, session = %q, %q, %q", ev.Service, ev.Decky, ev.Session)
	}
	sum := sha256.Sum256([]byte(body))
	want := map[string]string{
		services.FieldMethod:       "POST",
		services.FieldPath:         "/login.php",
		services.FieldQuery:        "id=1%27",
		services.FieldUserAgent:    "sqlmap/1.7",
		services.FieldBodySize:     strconv.Itoa(len(body)),
		services.FieldBodySHA256:   hex.EncodeToString(sum[:]),
		services.FieldBody:         body,
		services.FieldForwardedFor: "203.0.113.9",
		services.FieldStatus:       "404",
	}
	for k, v := range want {
		if ev.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, ev.Fields[k], v)
		}
	}

	var headers map[string][]string
	if err := json.Unmarshal([]byte(ev.Fields[services.FieldHeaders]), &headers); err != nil {
		t.Fatalf("headers field %q: %v", ev.Fields[services.FieldHeaders], err)
	}
	if got := headers["X-Probe"]; len(got) != 1 || got[0] != "one" {
		t.Errorf("headers[X-Probe] = %v, want [one]", got)
	}
	if got := headers["Host"]; len(got) != 1 || got[0] != addr {
		t.Errorf("headers[Host] = %v, want [%s]", got, addr)
	}
}

func TestForgedForwardedForIgnoredAsSource(t *testing.T) {
	addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "debian"})
	runCurl(t, "-H", "X-Forwarded-For: 10.9.8.7, 198.51.100.1", "-H", "X-Real-IP: 10.1.1.1", "http://"+addr+"/")

	ev := log.wait(t, services.KindRequest)
	if ev.SrcIP != "127.0.0.1" {
		t.Errorf("SrcIP = %q, want the socket peer 127.0.0.1", ev.SrcIP)
	}
	if got := ev.Fields[services.FieldForwardedFor]; got != "10.9.8.7, 198.51.100.1" {
		t.Errorf("x_forwarded_for = %q, want the header as sent", got)
	}
}

func TestCredentialsCaptured(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		path     string
		status   int
		username string
		secret   string
		kind     string
	}{
		{"basic on protected path", []string{"-u", "admin:Winter2024!"}, "/admin/", 401, "admin", "Winter2024!", "plaintext"},
		{"bearer on any path", []string{"-H", "Authorization: Bearer tok.en.value"}, "/api/v1/users", 404, "", "tok.en.value", "http_bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, log := startServer(t, Config{Persona: decky.PersonaLinux, Distro: "ubuntu22"})
			resp := runCurl(t, append(tt.args, "http://"+addr+tt.path)...)
			if resp.status != tt.status {
				t.Errorf("status = %d, want %d", resp.status, tt.status)
			}
			if tt.status == 401 && resp.headers.Get("WWW-Authenticate") != `Basic realm="Restricted"` {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", resp.headers.Get("WWW-Authenticate"))
			}

			ev := log.wait(t, services.KindAuthAttempt)
			f := ev.Fields
			if f[services.FieldUsername] != tt.username || f[services.FieldSecretPrintable] != tt.secret || f[services.FieldSecretKind] != tt.kind {
				t.Errorf("auth fields = %v, want username %q secret %q kind %q", f, tt.username, tt.secret, tt.kind)
			}
			if f[services.FieldSecretB64] != base64Std(tt.secret) {
				t.Errorf("secret_b64 = %q, want %q", f[services.FieldSecretB64], base64Std(tt.secret))
			}
			if ev.SrcIP != "127.0.0.1" {
				t.Errorf("SrcIP = %q, want 127.0.0.1", ev.SrcIP)
			}
		})
	}
}

func TestServesWebRoot(t *testing.T) {
	dir := t.TempDir()
	d := decky.Decky{Name: "decky-01", Hostname: "SRV-ATLAS-42", Persona: decky.PersonaLinux, Distro: "debian", Seed: 3,
		Services: []decky.Service{{Name: "http", Port: 80}}}
	if err := rootfs.Seed(dir, d); err != nil {
		t.Fatalf("rootfs.Seed: %v", err)
	}
	web := filepath.Join(dir, "var/www/html")
	if err := os.WriteFile(filepath.Join(web, "robots.txt"), []byte("User-agent: *\nDisallow: /backup/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "etc/shadow"), filepath.Join(web, "shadow.txt")); err != nil {
		t.Fatal(err)
	}
	addr, _ := startServer(t, Config{Persona: d.Persona, Distro: d.Distro, Root: dir})

	index := runCurl(t, "http://"+addr+"/")
	if index.status != 200 || !strings.Contains(index.body, "Intranet") || index.headers.Get("ETag") == "" {
		t.Errorf("GET / = %d, ETag %q, body %q, want the seeded index with an ETag", index.status, index.headers.Get("ETag"), index.body)
	}
	robots := runCurl(t, "http://"+addr+"/robots.txt")
	if robots.status != 200 || robots.headers.Get("Content-Type") != "text/plain" || !strings.Contains(robots.body, "Disallow: /backup/") {
		t.Errorf("GET /robots.txt = %d %q %q", robots.status, robots.headers.Get("Content-Type"), robots.body)
	}

	for _, p := range []string{"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/shadow.txt"} {
		resp := runCurl(t, "--path-as-is", "http://"+addr+p)
		if resp.status != 404 || strings.Contains(resp.body, "root:") {
			t.Errorf("GET %s = %d %q, want 404 without file content", p, resp.status, resp.body)
		}
	}
}

func base64Std(s string) string {
	return b64.StdEncoding.EncodeToString([]byte(s))
}
