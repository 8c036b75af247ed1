package docker_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/driver/docker"
	"github.com/decnet/decnet/internal/decky/driver/docker/dockertest"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/testenv"
)

// eventLog is a services.Sink that keeps what it receives.
type eventLog struct {
	mu     sync.Mutex
	events []services.Event
}

func (l *eventLog) Emit(e services.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) find(match func(services.Event) bool) (services.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if match(e) {
			return e, true
		}
	}
	return services.Event{}, false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newTestDriver returns a driver on a fresh LAN, torn down with the test.
func newTestDriver(t *testing.T, prefix24 string, sink services.Sink) (*docker.Driver, *dockertest.LAN) {
	t.Helper()

	host := dockertest.Host(t)
	bin := dockertest.Binary(t)
	lan := dockertest.NewLAN(t, prefix24)
	fleet := dockertest.Name("dnt")

	d, err := docker.New(docker.Options{
		Host:   host,
		Fleet:  fleet,
		HostID: "test-host",
		Network: docker.NetworkConfig{
			Name:      fleet + "_lan",
			Interface: lan.Parent,
			Subnet:    lan.Subnet,
			Gateway:   prefix24 + ".1",
			Shim:      true,
			ShimName:  "dns" + strings.TrimPrefix(lan.Parent, "dnv"),
			ShimIP:    prefix24 + ".250",
		},
		Build: docker.BuildConfig{Binary: bin},
		Sink:  sink,
		Retry: docker.RetryPolicy{Attempts: 2, Delay: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := d.TeardownAll(ctx); err != nil {
			t.Errorf("TeardownAll: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d, lan
}

func testDecky(name, ip string, persona decky.Persona, svcs ...string) decky.Decky {
	dk := decky.Decky{Name: name, IP: ip, Hostname: "srv-" + name, Persona: persona, Distro: "debian", Seed: 42}
	for _, s := range svcs {
		port, _ := decky.DefaultPort(s)
		dk.Services = append(dk.Services, decky.Service{Name: s, Port: port})
	}
	return dk
}

func TestDeployInspectFilesTeardown(t *testing.T) {
	events := &eventLog{}
	d, lan := newTestDriver(t, "10.213.7", events)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	deckies := []decky.Decky{
		testDecky("web-01", "10.213.7.10", decky.PersonaLinux, "ssh", "http"),
		testDecky("win-01", "10.213.7.11", decky.PersonaWindows, "http"),
	}
	for _, dk := range deckies {
		if err := d.Deploy(ctx, dk); err != nil {
			t.Fatalf("Deploy(%s): %v", dk.Name, err)
		}
	}

	got, err := d.Inspect(ctx)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := []driver.Status{
		{Name: "web-01", State: driver.StateRunning, IP: "10.213.7.10", Services: map[string]driver.State{"ssh": driver.StateRunning, "http": driver.StateRunning}},
		{Name: "win-01", State: driver.StateRunning, IP: "10.213.7.11", Services: map[string]driver.State{"http": driver.StateRunning}},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("Inspect after deploy (-got +want):\n%s", diff)
	}

	// The attacker's host reaches the decky on the LAN, and the connection
	// comes back as an event through the container's log stream.
	lan.WaitTCP(t, "10.213.7.10:80", time.Minute)
	testenv.RequireTool(t, "curl", "curl")
	if page, err := lan.Command(ctx, "curl", "-sS", "-m", "10", "http://10.213.7.10/index.html?probe=1").CombinedOutput(); err != nil {
		t.Fatalf("curl web-01: %v: %s", err, page)
	}
	waitFor(t, "request event from the attacker namespace", 30*time.Second, func() bool {
		_, ok := events.find(func(e services.Event) bool {
			return e.Decky == "web-01" && e.Service == "http" && e.Kind == services.KindRequest && e.SrcIP == lan.PeerIP
		})
		return ok
	})

	// The persona's TTL reaches the wire: ping from the namespace shows it.
	out, err := lan.Command(ctx, "busybox", "ping", "-c", "1", "-W", "5", "10.213.7.11").CombinedOutput()
	if err != nil {
		t.Fatalf("ping windows decky: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "ttl=128") {
		t.Errorf("ping of the windows decky shows no ttl=128:\n%s", out)
	}

	// Files go in with mode, owner and mtime, come back byte for byte and
	// can be removed.
	mtime := time.Date(2023, 3, 14, 15, 9, 26, 0, time.UTC)
	data := []byte("line one\n\x00binary\xff\n")
	f := driver.File{Path: "/home/alice/notes/passwords.txt", Data: data, Mode: 0o640, ModTime: mtime, UID: 1001, GID: 1001}
	if err := d.WriteFile(ctx, "web-01", f); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	back, err := d.ReadFile(ctx, "web-01", f.Path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if !bytes.Equal(back, data) {
		t.Errorf("ReadFile = %q, want %q", back, data)
	}
	if err := d.RemoveFile(ctx, "web-01", f.Path); err != nil {
		t.Fatalf("RemoveFile: %v", err)
	}
	if _, err := d.ReadFile(ctx, "web-01", f.Path); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("ReadFile after RemoveFile: err = %v, want ErrNotFound", err)
	}

	// The attacker logs in with the real OpenSSH client and reads a file
	// the planter put into the decky, through the decky's emulated shell.
	testenv.RequireTool(t, "ssh", "openssh-client")
	testenv.RequireTool(t, "sshpass", "sshpass")
	planted := driver.File{Path: "/root/.aws/credentials", Data: []byte("[default]\naws_access_key_id = AKIADECNETTEST0001\n"), Mode: 0o600}
	if err := d.WriteFile(ctx, "web-01", planted); err != nil {
		t.Fatalf("WriteFile planted: %v", err)
	}
	lan.WaitTCP(t, "10.213.7.10:22", time.Minute)
	sshOut, err := lan.Command(ctx, "sshpass", "-p", "root", "ssh",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
		"-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"root@10.213.7.10", "cat /root/.aws/credentials; hostname").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh into web-01: %v: %s", err, sshOut)
	}
	if !strings.Contains(string(sshOut), "AKIADECNETTEST0001") || !strings.Contains(string(sshOut), "srv-web-01") {
		t.Errorf("ssh output lacks the planted key or the hostname:\n%s", sshOut)
	}
	waitFor(t, "ssh command event", 30*time.Second, func() bool {
		_, ok := events.find(func(e services.Event) bool {
			return e.Decky == "web-01" && e.Service == "ssh" && e.Kind == services.KindCommand && e.SrcIP == lan.PeerIP
		})
		return ok
	})

	// A service container stopped by hand shows as degraded.
	stopService(t, ctx, "web-01", "ssh")
	waitFor(t, "web-01 degraded", 30*time.Second, func() bool {
		st, err := d.Inspect(ctx)
		return err == nil && len(st) == 2 && st[0].State == driver.StateDegraded && st[0].Services["ssh"] == driver.StateFailed
	})

	// Redeploying brings it back without touching the other decky.
	if err := d.Deploy(ctx, deckies[0]); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	got, err = d.Inspect(ctx)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("Inspect after redeploy (-got +want):\n%s", diff)
	}

	if err := d.TeardownAll(ctx); err != nil {
		t.Fatalf("TeardownAll: %v", err)
	}
	got, err = d.Inspect(ctx)
	if err != nil {
		t.Fatalf("Inspect after teardown: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Inspect after teardown = %+v, want nothing", got)
	}
	if left := dockerCLI(t, "ps", "-aq", "--filter", "label=decnet.host=test-host", "--filter", "label=decnet.decky=web-01"); left != "" {
		t.Errorf("containers left after teardown: %s", left)
	}
}

// stopService stops one service container the way an operator would, with
// the docker command line.
func stopService(t *testing.T, ctx context.Context, deckyName, service string) {
	t.Helper()
	id := dockerCLI(t, "ps", "-q", "--filter", "label=decnet.decky="+deckyName, "--filter", "label=decnet.service="+service)
	if id == "" {
		t.Fatalf("no running container for %s/%s", deckyName, service)
	}
	dockerCLI(t, "stop", "-t", "1", id)
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	host := dockertest.Host(t)
	out, err := exec.Command("docker", append([]string{"-H", host}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
