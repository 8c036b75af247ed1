package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/testenv"
)

// canaryFleet is a `decnet up` with the canary receivers on free ports.
type canaryFleet struct {
	*fleetEnv
	httpBase string
	dnsPort  int
	zone     string
	hooks    *hookReceiver
}

// hookReceiver is a webhook target that keeps every body it receives.
type hookReceiver struct {
	srv    *http.Server
	url    string
	mu     sync.Mutex
	bodies []string
}

func startHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/siem"}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go h.srv.Serve(ln)
	t.Cleanup(func() { h.srv.Close() })
	return h
}

func (h *hookReceiver) contains(parts ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(b, p)
		}
		if all {
			return true
		}
	}
	return false
}

// freeDualPort returns a port free for both UDP and TCP on 127.0.0.1.
func freeDualPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

func startCanaryFleet(t *testing.T) *canaryFleet {
	t.Helper()
	httpPort, dnsPort := freePort(t), freeDualPort(t)
	hooks := startHookReceiver(t)
	hookConfig := filepath.Join(t.TempDir(), "webhooks.yaml")
	yaml := fmt.Sprintf("targets:\n  - name: siem\n    kind: http\n    url: %s\n    subjects: [\"canary.>\"]\n", hooks.url)
	if err := os.WriteFile(hookConfig, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	f := &fleetEnv{dataDir: t.TempDir(), subnet: fmt.Sprintf("127.%d.%d.0/24", 100+rand.IntN(100), 1+rand.IntN(250))}
	busPort := freePort(t)
	f.busURL = fmt.Sprintf("nats://127.0.0.1:%d", busPort)
	env := []string{
		fmt.Sprintf("DECNET_CANARY_HTTP_PORT=%d", httpPort),
		fmt.Sprintf("DECNET_CANARY_DNS_PORT=%d", dnsPort),
		"DECNET_WEBHOOK_CONFIG=" + hookConfig,
	}
	f.up = startProc(t, env, "up", "--data-dir", f.dataDir, "--subnet", f.subnet, "--deckies", "1",
		"--ports", "ssh=2222,http=8080", "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--api-addr", "none",
		"--log-level", "debug")
	f.up.waitOutput(t, "decnet is up", 60*time.Second)

	cf := &canaryFleet{fleetEnv: f, httpBase: fmt.Sprintf("http://127.0.0.1:%d", httpPort), dnsPort: dnsPort,
		zone: "cdn-edge.test", hooks: hooks}
	waitFor(t, 30*time.Second, "the baseline tokens", func() bool { return len(cf.tokens(t)) >= 5 })
	return cf
}

type tokenJSON struct {
	UUID          string `json:"uuid"`
	Kind          string `json:"kind"`
	DeckyName     string `json:"decky_name"`
	Generator     string `json:"generator"`
	PlacementPath string `json:"placement_path"`
	CallbackToken string `json:"callback_token"`
	State         string `json:"state"`
	TriggerCount  int64  `json:"trigger_count"`
}

type triggerJSON struct {
	UUID         string              `json:"uuid"`
	Protocol     string              `json:"protocol"`
	SrcIP        string              `json:"src_ip"`
	PeerAddr     string              `json:"peer_addr"`
	ForwardedFor []string            `json:"forwarded_for"`
	UserAgent    string              `json:"user_agent"`
	RequestPath  string              `json:"request_path"`
	DNSQName     string              `json:"dns_qname"`
	DNSQType     int                 `json:"dns_qtype"`
	HitCount     int64               `json:"hit_count"`
	Echo         bool                `json:"echo"`
	AttackerID   string              `json:"attacker_id"`
	Headers      map[string][]string `json:"headers"`
}

func (f *canaryFleet) tokens(t *testing.T) []tokenJSON {
	t.Helper()
	var out []tokenJSON
	if err := json.Unmarshal(f.run(t, "canary", "list", "--json"), &out); err != nil {
		t.Fatalf("decode canary list --json: %v", err)
	}
	return out
}

func (f *canaryFleet) token(t *testing.T, generator string) tokenJSON {
	t.Helper()
	for _, tok := range f.tokens(t) {
		if tok.Generator == generator {
			if tok.State != "planted" {
				t.Fatalf("%s token is %s", generator, tok.State)
			}
			return tok
		}
	}
	t.Fatalf("no %s token planted", generator)
	return tokenJSON{}
}

func (f *canaryFleet) triggers(t *testing.T, tok tokenJSON) []triggerJSON {
	t.Helper()
	var out struct {
		Triggers []triggerJSON `json:"triggers"`
		Total    int           `json:"total"`
	}
	if err := json.Unmarshal(f.run(t, "canary", "triggers", tok.UUID, "--json"), &out); err != nil {
		t.Fatalf("decode canary triggers --json: %v", err)
	}
	return out.Triggers
}

// plantedFile reads a token's file from the decky's root directory.
func (f *canaryFleet) plantedFile(t *testing.T, tok tokenJSON) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dataDir, "deckies", tok.DeckyName, "root", filepath.FromSlash(strings.TrimPrefix(tok.PlacementPath, "/"))))
	if err != nil {
		t.Fatalf("read planted %s: %v", tok.PlacementPath, err)
	}
	return data
}

func runTool(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestCanaryDNSBurstWithDig resolves an ssh_key token host with dig over
// UDP and TCP, in every query type and mixed letter case, and expects one
// trigger for the burst.
func TestCanaryDNSBurstWithDig(t *testing.T) {
	testenv.RequireTool(t, "dig", "dnsutils")
	f := startCanaryFleet(t)
	tok := f.token(t, "ssh_key")
	if tok.Kind != "dns" {
		t.Fatalf("ssh_key kind = %s, want dns", tok.Kind)
	}
	// The key's comment, inside the base64 blob, names this host.
	host := tok.CallbackToken + "." + f.zone
	mixed := strings.ToUpper(tok.CallbackToken[:10]) + tok.CallbackToken[10:] + ".CDN-edge.test"

	dig := func(args ...string) string {
		t.Helper()
		base := []string{"@127.0.0.1", "-p", fmt.Sprint(f.dnsPort), "-b", "127.0.0.71", "+time=5", "+tries=1"}
		out, err := runTool(t, nil, "dig", append(base, args...)...)
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		if strings.Contains(out, "mismatch") {
			t.Errorf("dig %v reports a mismatch:\n%s", args, out)
		}
		return out
	}

	a := dig(host, "A")
	if !strings.Contains(a, "status: NOERROR") || !regexp.MustCompile(`IN\s+A\s+192\.0\.2\.1`).MatchString(a) || !strings.Contains(a, "flags: qr aa") {
		t.Errorf("A answer:\n%s", a)
	}
	for _, qtype := range []string{"AAAA", "TXT", "NS", "SOA"} {
		out := dig(host, qtype)
		if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "AUTHORITY: 1") {
			t.Errorf("%s answer:\n%s", qtype, out)
		}
	}
	mixedOut := dig(mixed, "A")
	if !strings.Contains(mixedOut, ";"+mixed+".") {
		t.Errorf("mixed-case question not echoed as sent:\n%s", mixedOut)
	}
	tcp := dig("+tcp", host, "A")
	if !strings.Contains(tcp, "192.0.2.1") {
		t.Errorf("TCP answer:\n%s", tcp)
	}

	apex := dig(f.zone, "SOA")
	if !strings.Contains(apex, "IN\tSOA\tns1.cdn-edge.test.") {
		t.Errorf("apex SOA:\n%s", apex)
	}
	if out := dig("www."+f.zone, "A"); !strings.Contains(out, "status: NXDOMAIN") {
		t.Errorf("unknown name:\n%s", out)
	}
	if out := dig("example.com", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("name outside the zone:\n%s", out)
	}

	var trs []triggerJSON
	waitFor(t, 20*time.Second, "the burst's hits", func() bool {
		trs = f.triggers(t, tok)
		return len(trs) == 1 && trs[0].HitCount == 7
	})
	if len(trs) != 1 {
		t.Fatalf("%d triggers for one burst, want 1", len(trs))
	}
	tr := trs[0]
	if tr.Protocol != "dns" || tr.SrcIP != "127.0.0.71" || tr.DNSQType != 1 || tr.Echo || !strings.EqualFold(tr.DNSQName, host) {
		t.Errorf("trigger = %+v", tr)
	}
	waitFor(t, 30*time.Second, "the SIEM webhook", func() bool {
		return f.hooks.contains("canary.", ".triggered", tok.UUID)
	})
}

// TestCanaryHTTPIgnoresForgedForwardedFor requests an env_file URL with a
// forged X-Forwarded-For and expects the socket address as the source.
func TestCanaryHTTPIgnoresForgedForwardedFor(t *testing.T) {
	testenv.RequireTool(t, "curl", "curl")
	f := startCanaryFleet(t)
	tok := f.token(t, "env_file")
	m := regexp.MustCompile(`(?m)^API_BASE_URL=(\S+)$`).FindSubmatch(f.plantedFile(t, tok))
	if m == nil {
		t.Fatalf("no API_BASE_URL in the planted env file")
	}
	url := string(m[1])
	if !strings.HasPrefix(url, f.httpBase+"/c/"+tok.CallbackToken) {
		t.Fatalf("API_BASE_URL %s does not call back to %s", url, f.httpBase)
	}

	out, err := runTool(t, nil, "curl", "-sS", "-i", "--interface", "127.0.0.72", "-H", "X-Forwarded-For: 203.0.113.50", url+"/orders")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "Content-Type: image/gif") {
		t.Errorf("curl response:\n%s", out)
	}

	// The same bytes for an unknown slug and a random path.
	known, _ := runTool(t, nil, "curl", "-sS", "-i", url)
	unknown, _ := runTool(t, nil, "curl", "-sS", "-i", f.httpBase+"/c/"+strings.Repeat("a", 26))
	random, _ := runTool(t, nil, "curl", "-sS", "-i", f.httpBase+"/wp-login.php")
	if known != unknown || known != random {
		t.Errorf("responses differ:\nknown:\n%q\nunknown:\n%q\nrandom:\n%q", known, unknown, random)
	}
	if strings.Contains(strings.ToLower(known), "decnet") {
		t.Errorf("response names the project:\n%s", known)
	}

	var trs []triggerJSON
	waitFor(t, 20*time.Second, "the curl trigger", func() bool {
		trs = f.triggers(t, tok)
		for _, tr := range trs {
			if tr.SrcIP == "127.0.0.72" {
				return true
			}
		}
		return false
	})
	for _, tr := range trs {
		if tr.SrcIP != "127.0.0.72" {
			continue
		}
		if len(tr.ForwardedFor) != 1 || tr.ForwardedFor[0] != "203.0.113.50" || !strings.HasPrefix(tr.PeerAddr, "127.0.0.72:") {
			t.Errorf("trigger = %+v, want the forged header kept as evidence only", tr)
		}
		if !strings.HasPrefix(tr.UserAgent, "curl/") {
			t.Errorf("user agent %q", tr.UserAgent)
		}
	}
	for _, tr := range trs {
		if tr.SrcIP == "203.0.113.50" {
			t.Errorf("a trigger is attributed to the forged address: %+v", tr)
		}
	}
}

// TestCanaryGitAttackerIsAttributed logs in over SSH with the real OpenSSH
// client, reads the planted .git/config, and runs the real git against
// its remote from the same source address. git must fail the way it fails
// against a private repository, and the trigger must name the attacker.
func TestCanaryGitAttackerIsAttributed(t *testing.T) {
	testenv.RequireTool(t, "git", "git")
	f := startCanaryFleet(t)
	tok := f.token(t, "git_config")
	deckies := f.status(t)
	target := deckies[0]

	// The emulated shell cannot run git, so the attacker reads the file
	// there and runs git here, from the SSH session's address. Loopback
	// connections leave from 127.0.0.1, so the session binds it too.
	const src = "127.0.0.1"
	res := runSSH(t, src, "root", "toor", target.IP, target.port(t, "ssh"), "cat "+tok.PlacementPath)
	if res.err != nil {
		t.Fatalf("ssh: %v\n%s", res.err, tail(res.debug, 3000))
	}
	m := regexp.MustCompile(`url = (\S+)`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("cat printed no remote url:\n%s", res.stdout)
	}
	remote := m[1]
	var attacker attackerJSON
	waitFor(t, 30*time.Second, "the attacker row of the SSH session", func() bool {
		a, ok := f.attackers(t)[src]
		attacker = a
		return ok
	})

	gitEnv := []string{"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1"}
	out, err := runTool(t, gitEnv, "git", "ls-remote", remote)
	if err == nil || !strings.Contains(out, "could not read Username") {
		t.Errorf("git ls-remote: %v\n%s\nwant an ordinary authentication failure", err, out)
	}
	out, err = runTool(t, gitEnv, "git", "clone", remote, filepath.Join(t.TempDir(), "clone"))
	if err == nil || !strings.Contains(out, "could not read Username") {
		t.Errorf("git clone: %v\n%s\nwant an ordinary authentication failure", err, out)
	}

	var trs []triggerJSON
	waitFor(t, 20*time.Second, "the git trigger", func() bool {
		trs = f.triggers(t, tok)
		return len(trs) > 0 && trs[len(trs)-1].HitCount >= 2
	})
	tr := trs[len(trs)-1]
	if tr.SrcIP != src || !strings.HasPrefix(tr.UserAgent, "git/") || !strings.HasSuffix(tr.RequestPath, "/info/refs") {
		t.Errorf("git trigger = %+v", tr)
	}
	if tr.AttackerID == "" || tr.AttackerID != attacker.UUID {
		t.Errorf("trigger attacker_id = %q, want the SSH attacker %q", tr.AttackerID, attacker.UUID)
	}
}

// TestCanaryHoneydocInChromium opens the planted HTML report in headless
// Chromium and expects a trigger carrying its User-Agent.
func TestCanaryHoneydocInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium", "chromium")
	f := startCanaryFleet(t)
	tok := f.token(t, "honeydoc")
	doc := filepath.Join(t.TempDir(), "quarterly_report.html")
	if err := os.WriteFile(doc, f.plantedFile(t, tok), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := runTool(t, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+doc)
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(out, 3000))
	}
	var trs []triggerJSON
	waitFor(t, 30*time.Second, "the chromium trigger", func() bool {
		trs = f.triggers(t, tok)
		return len(trs) > 0
	})
	tr := trs[0]
	if !strings.Contains(tr.UserAgent, "Chrome/") || tr.SrcIP != "127.0.0.1" || tr.RequestPath != "/c/"+tok.CallbackToken {
		t.Errorf("chromium trigger = %+v", tr)
	}
	if len(tr.Headers["Accept"]) == 0 || !strings.Contains(tr.Headers["Accept"][0], "image/") {
		t.Errorf("stored Accept header = %v, want an image request", tr.Headers["Accept"])
	}
}
