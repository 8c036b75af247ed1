package native

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// lineServer answers every connection with one line naming its decky.
type lineServer struct {
	name string
	mu   sync.Mutex
	l    net.Listener
}

func (s *lineServer) Serve(l net.Listener) error {
	s.mu.Lock()
	s.l = l
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.Write([]byte(s.name + "\n"))
		c.Close()
	}
}

func (s *lineServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l == nil {
		return nil
	}
	return s.l.Close()
}

func newTestDriver(t *testing.T) *Driver {
	t.Helper()
	d := New(Config{
		DataDir: t.TempDir(),
		Factories: map[string]Factory{
			"echo": func(sc ServiceContext) (Server, error) { return &lineServer{name: sc.Decky.Name}, nil },
		},
	})
	t.Cleanup(d.Close)
	return d
}

func testDecky(name, ip string) decky.Decky {
	return decky.Decky{Name: name, IP: ip, Hostname: "srv-" + name, Persona: decky.PersonaLinux, Distro: "debian",
		Services: []decky.Service{{Name: "echo", Port: 0}}, Seed: 7}
}

func dial(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return line
}

func TestDeployListensOnOwnAddress(t *testing.T) {
	d := newTestDriver(t)
	ctx := context.Background()

	for _, dk := range []decky.Decky{testDecky("decky-01", "127.77.0.11"), testDecky("decky-02", "127.77.0.12")} {
		if err := d.Deploy(ctx, dk); err != nil {
			t.Fatalf("Deploy %s: %v", dk.Name, err)
		}
	}
	for name, ip := range map[string]string{"decky-01": "127.77.0.11", "decky-02": "127.77.0.12"} {
		addr := d.Addrs(name)["echo"]
		host, _, _ := net.SplitHostPort(addr)
		if host != ip {
			t.Errorf("%s listens on %s, want host %s", name, addr, ip)
		}
		if got := dial(t, addr); got != name+"\n" {
			t.Errorf("%s answered %q", name, got)
		}
	}

	sts, err := d.Inspect(ctx)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if len(sts) != 2 || sts[0].State != driver.StateRunning || sts[1].State != driver.StateRunning {
		t.Errorf("Inspect = %+v, want two running deckies", sts)
	}

	if err := d.Teardown(ctx, "decky-01"); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if err := d.Teardown(ctx, "decky-01"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("second Teardown = %v, want ErrNotFound", err)
	}
	if sts, _ := d.Inspect(ctx); len(sts) != 1 {
		t.Errorf("Inspect after teardown = %d deckies, want 1", len(sts))
	}
}

func TestDeployRejects(t *testing.T) {
	d := newTestDriver(t)
	tests := []struct {
		name string
		dk   decky.Decky
	}{
		{"non loopback", testDecky("decky-01", "192.0.2.1")},
		{"bad name", testDecky("../x", "127.77.0.2")},
		{"unknown service", decky.Decky{Name: "decky-03", IP: "127.77.0.3", Services: []decky.Service{{Name: "gopher", Port: 70}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.Deploy(context.Background(), tt.dk); err == nil {
				t.Errorf("Deploy(%+v) succeeded, want error", tt.dk)
			}
		})
	}
}

func TestFilesStayInsideRoot(t *testing.T) {
	d := newTestDriver(t)
	ctx := context.Background()
	if err := d.Deploy(ctx, testDecky("decky-01", "127.77.0.21")); err != nil {
		t.Fatalf("Deploy: %v", err)
	}

	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	f := driver.File{Path: "/home/dev/project/.git/config", Data: []byte("[core]\n"), Mode: 0o600, ModTime: mtime}
	if err := d.WriteFile(ctx, "decky-01", f); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := d.ReadFile(ctx, "decky-01", f.Path)
	if err != nil || string(got) != "[core]\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	info, err := os.Stat(filepath.Join(d.Root("decky-01"), "home/dev/project/.git/config"))
	if err != nil {
		t.Fatalf("stat on host: %v", err)
	}
	if info.Mode().Perm() != 0o600 || !info.ModTime().Equal(mtime) {
		t.Errorf("mode %v mtime %v, want 0600 and %v", info.Mode().Perm(), info.ModTime(), mtime)
	}

	// A link planted inside the root must not lead a write outside it.
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(d.Root("decky-01"), "escape")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/escape/x", "/../../x", "relative"} {
		if err := d.WriteFile(ctx, "decky-01", driver.File{Path: p, Data: []byte("x")}); err == nil {
			t.Errorf("WriteFile(%q) succeeded, want error", p)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("write escaped the root: %v", entries)
	}

	if err := d.RemoveFile(ctx, "decky-01", f.Path); err != nil {
		t.Fatalf("RemoveFile: %v", err)
	}
	if _, err := d.ReadFile(ctx, "decky-01", f.Path); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("ReadFile after remove = %v, want ErrNotFound", err)
	}
}
