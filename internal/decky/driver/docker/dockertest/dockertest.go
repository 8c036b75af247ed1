// Package dockertest sets up what the docker driver's integration tests
// need: a private dockerd (started by scripts/test.d/docker.sh), a static
// decnet binary for the decky image, and an isolated LAN made of a veth
// pair whose far end sits in a network namespace the test owns.
//
// Every address a test uses lives inside that veth pair and the macvlan
// children of its near end; nothing is routed anywhere else.
package dockertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/testenv"
)

// DefaultHost is the socket scripts/test.d/docker.sh starts dockerd on.
const DefaultHost = "unix:///run/decnet-test-docker.sock"

// Host returns the engine address for tests: DECNET_TEST_DOCKER_HOST or
// DefaultHost. The test is skipped (failed under CI) when root is missing,
// dockerd is not installed or the engine does not answer.
func Host(t testing.TB) string {
	t.Helper()

	testenv.RequireRoot(t)
	testenv.RequireTool(t, "dockerd", "docker.io")
	testenv.RequireTool(t, "ip", "iproute2")
	host := os.Getenv("DECNET_TEST_DOCKER_HOST")
	if host == "" {
		host = DefaultHost
	}
	sock := strings.TrimPrefix(host, "unix://")
	if _, err := os.Stat(sock); err != nil {
		msg := "no dockerd on " + host + ": run scripts/test.d/docker.sh"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return host
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns a statically linked decnet executable for the decky
// image: DECNET_TEST_DECNET_BINARY when set, else one built once per test
// process from ./cmd/decnet with CGO_ENABLED=0.
func Binary(t testing.TB) string {
	t.Helper()

	if p := os.Getenv("DECNET_TEST_DECNET_BINARY"); p != "" {
		return p
	}
	binaryOnce.Do(func() {
		var root []byte
		root, binaryErr = exec.Command("go", "env", "GOMOD").Output()
		if binaryErr != nil {
			return
		}
		dir := filepath.Dir(strings.TrimSpace(string(root)))
		out, err := os.MkdirTemp("", "decnet-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(out, "decnet")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binaryPath, "./cmd/decnet")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			binaryErr = &buildError{err: err, stderr: stderr.String()}
		}
	})
	if binaryErr != nil {
		t.Fatalf("build static decnet: %v", binaryErr)
	}
	return binaryPath
}

type buildError struct {
	err    error
	stderr string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.stderr }

// LAN is an isolated layer-2 segment: Parent is the near end of a veth
// pair, to be used as the macvlan parent; the far end lives in namespace NS
// with address PeerIP, playing an attacker's host on the same LAN.
type LAN struct {
	NS     string
	Parent string
	Peer   string
	Subnet string // such as 10.213.7.0/24
	PeerIP string // such as 10.213.7.2
}

// NewLAN creates the namespace and veth pair for a /24 such as
// "10.213.7" and removes both when the test ends.
func NewLAN(t testing.TB, prefix24 string) *LAN {
	t.Helper()

	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip", "iproute2")
	id := randHex(3)
	l := &LAN{
		NS:     "decnet-t-" + id,
		Parent: "dnv" + id + "a",
		Peer:   "dnv" + id + "b",
		Subnet: prefix24 + ".0/24",
		PeerIP: prefix24 + ".2",
	}

	steps := [][]string{
		{"netns", "add", l.NS},
		{"link", "add", l.Parent, "type", "veth", "peer", "name", l.Peer},
		{"link", "set", l.Peer, "netns", l.NS},
		{"link", "set", l.Parent, "up"},
		{"-n", l.NS, "link", "set", "lo", "up"},
		{"-n", l.NS, "addr", "add", l.PeerIP + "/24", "dev", l.Peer},
		{"-n", l.NS, "link", "set", l.Peer, "up"},
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", l.NS).Run()
		_ = exec.Command("ip", "link", "del", l.Parent).Run()
	})
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return l
}

// Command returns a command that runs inside the LAN's namespace.
func (l *LAN) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
}

// WaitTCP polls until addr accepts TCP connections from inside the
// namespace or the deadline passes.
func (l *LAN) WaitTCP(t testing.TB, addr string, within time.Duration) {
	t.Helper()

	host, port, _ := strings.Cut(addr, ":")
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := l.Command(ctx, "bash", "-c", `exec 3<>"/dev/tcp/$0/$1"`, host, port).Run()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted a connection from namespace %s: %v", addr, l.NS, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Name returns a short random name for fleets and networks of one test.
func Name(prefix string) string {
	return prefix + randHex(3)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
