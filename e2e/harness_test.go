// Package e2e runs the decnet binary the way an operator does and attacks
// its deckies with real clients (OpenSSH, curl) from loopback addresses.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/testenv"
)

// decnetBin is the binary built once for the whole package.
var decnetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "decnet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	decnetBin = filepath.Join(dir, "decnet")
	build := exec.Command("go", "build", "-race", "-o", decnetBin, "../cmd/decnet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build decnet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a decnet process the test started.
type proc struct {
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(decnetBin, args...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start decnet %v: %v", args, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("decnet %v stdout:\n%s\nstderr (last 4000 bytes):\n%s", args, p.stdout, tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// stop sends sig and waits up to 10 s; it reports how long the exit took.
func (p *proc) stop(t *testing.T, sig syscall.Signal) time.Duration {
	t.Helper()
	select {
	case <-p.done:
		return 0
	default:
	}
	start := time.Now()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("decnet did not exit within 10 s of %v", sig)
	}
	return time.Since(start)
}

// waitOutput polls the process's stdout until it contains want.
func (p *proc) waitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stdout.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("decnet exited before printing %q", want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("decnet did not print %q within %v", want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fleetEnv is one `decnet up` on its own data directory and subnet.
type fleetEnv struct {
	dataDir string
	subnet  string
	busURL  string
	apiURL  string
	up      *proc
}

// adminPassword is the API admin password every test fleet starts with.
const adminPassword = "e2e-admin-password-1234"

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startFleet runs `decnet up` with a fresh data directory on a random
// 127.x.y.0/24 subnet, so parallel tests never share addresses.
func startFleet(t *testing.T, extra ...string) *fleetEnv {
	t.Helper()
	f := &fleetEnv{
		dataDir: t.TempDir(),
		subnet:  fmt.Sprintf("127.%d.%d.0/24", 100+rand.IntN(100), 1+rand.IntN(250)),
	}
	busPort, apiPort := freePort(t), freePort(t)
	f.busURL = fmt.Sprintf("nats://127.0.0.1:%d", busPort)
	f.apiURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	args := append([]string{"up", "--data-dir", f.dataDir, "--subnet", f.subnet,
		"--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--api-addr", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--log-level", "debug"}, extra...)
	env := []string{
		"DECNET_ADMIN_PASSWORD=" + adminPassword,
		fmt.Sprintf("DECNET_CANARY_HTTP_PORT=%d", freePort(t)),
		fmt.Sprintf("DECNET_CANARY_DNS_PORT=%d", freePort(t)),
	}
	f.up = startProc(t, env, args...)
	f.up.waitOutput(t, "decnet is up", 90*time.Second)
	waitFor(t, 30*time.Second, "the API to listen", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(f.apiURL, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return f
}

// run runs a short decnet command against the fleet's data directory.
func (f *fleetEnv) run(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, decnetBin, append(args, "--data-dir", f.dataDir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("decnet %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

type deckyStatus struct {
	Name     string `json:"name"`
	IP       string `json:"ip"`
	Hostname string `json:"hostname"`
	Persona  string `json:"persona"`
	Distro   string `json:"distro"`
	State    string `json:"state"`
	Services []struct {
		Name string `json:"name"`
		Port int    `json:"port"`
	} `json:"services"`
}

func (d deckyStatus) port(t *testing.T, service string) int {
	t.Helper()
	for _, s := range d.Services {
		if s.Name == service {
			return s.Port
		}
	}
	t.Fatalf("decky %s has no %s service: %+v", d.Name, service, d.Services)
	return 0
}

func (f *fleetEnv) status(t *testing.T) []deckyStatus {
	t.Helper()
	var out []deckyStatus
	if err := json.Unmarshal(f.run(t, "status", "--json"), &out); err != nil {
		t.Fatalf("decode status --json: %v", err)
	}
	return out
}

type attackerJSON struct {
	UUID        string   `json:"uuid"`
	IP          string   `json:"ip"`
	Deckies     []string `json:"deckies"`
	Services    []string `json:"services"`
	Commands    []string `json:"commands"`
	C2Endpoints []string `json:"c2_endpoints"`
	Credentials []struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"credentials"`
	Fingerprints map[string]string `json:"fingerprints"`
	IdentityID   string            `json:"identity_id"`
}

func (f *fleetEnv) attackers(t *testing.T) map[string]attackerJSON {
	t.Helper()
	var list []attackerJSON
	if err := json.Unmarshal(f.run(t, "attackers", "--json"), &list); err != nil {
		t.Fatalf("decode attackers --json: %v", err)
	}
	out := map[string]attackerJSON{}
	for _, a := range list {
		out[a.IP] = a
	}
	return out
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sshResult is what one OpenSSH client run printed.
type sshResult struct {
	stdout string
	debug  string // -vvv output on stderr
	err    error
}

// runSSH logs in with the real OpenSSH client through sshpass from source
// address src and runs command.
func runSSH(t *testing.T, src, user, password, host string, port int, command string) sshResult {
	t.Helper()
	testenv.RequireTool(t, "ssh", "openssh-client")
	testenv.RequireTool(t, "sshpass", "sshpass")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sshpass", "-p", password, "ssh", "-vvv",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
		"-o", "ConnectTimeout=20", "-o", "BatchMode=no",
		"-b", src, "-p", fmt.Sprint(port), "-l", user, host, command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// ssh exits with the remote command's status, so only 255 means ssh
	// itself failed. A rejected password shows as "Permission denied".
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() != 255 && !strings.Contains(stderr.String(), "Permission denied") {
		err = nil
	}
	return sshResult{stdout: stdout.String(), debug: stderr.String(), err: err}
}

// clientKEXINIT reads the client's own KEXINIT proposal from ssh -vvv
// output and returns the four lists HASSH hashes.
func clientKEXINIT(t *testing.T, debug string) (kex, enc, mac, comp string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(debug))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inLocal := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "local client KEXINIT proposal") {
			inLocal = true
			continue
		}
		if strings.Contains(line, "peer server KEXINIT proposal") {
			break
		}
		if !inLocal {
			continue
		}
		val := func(prefix string) (string, bool) {
			i := strings.Index(line, prefix)
			if i < 0 {
				return "", false
			}
			return strings.TrimSpace(line[i+len(prefix):]), true
		}
		if v, ok := val("KEX algorithms: "); ok {
			kex = v
		} else if v, ok := val("ciphers ctos: "); ok {
			enc = v
		} else if v, ok := val("MACs ctos: "); ok {
			mac = v
		} else if v, ok := val("compression ctos: "); ok {
			comp = v
		}
	}
	if kex == "" || enc == "" || mac == "" || comp == "" {
		t.Fatalf("client KEXINIT proposal not found in ssh -vvv output:\n%s", tail(debug, 3000))
	}
	return kex, enc, mac, comp
}

// apiToken logs in as the admin and returns a bearer token.
func (f *fleetEnv) apiToken(t *testing.T) string {
	t.Helper()
	body := strings.NewReader(`{"username":"admin","password":"` + adminPassword + `"}`)
	resp, err := http.Post(f.apiURL+"/api/v1/auth/login", "application/json", body)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		t.Fatalf("login: status %d, decode error %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// apiGet fetches an API path with a bearer token and decodes the JSON body.
func (f *fleetEnv) apiGet(t *testing.T, token, path string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.apiURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}
