package ssh

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/services/shell"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []services.Event
}

func (r *recorder) Emit(e services.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) snapshot() []services.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]services.Event(nil), r.events...)
}

// ofKind returns the recorded events of one kind.
func (r *recorder) ofKind(kind string) []services.Event {
	var out []services.Event
	for _, e := range r.snapshot() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls until cond holds for the recorded events, failing the test
// after ten seconds.
func (r *recorder) waitFor(t testing.TB, what string, cond func([]services.Event) bool) []services.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := r.snapshot()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; events so far: %+v", what, evs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countKind returns a condition that holds once n events of kind exist.
func countKind(kind string, n int) func([]services.Event) bool {
	return func(evs []services.Event) bool {
		c := 0
		for _, e := range evs {
			if e.Kind == kind {
				c++
			}
		}
		return c >= n
	}
}

// testServer runs a Server on 127.0.0.1 port 0 until the test ends.
type testServer struct {
	srv  *Server
	rec  *recorder
	addr string
	port int
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	rec := &recorder{}
	cfg.Sink = rec
	if cfg.Decky == "" {
		cfg.Decky = "decky-01"
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "srv-alpha-12"
	}
	if cfg.Shell.IP == "" {
		cfg.Shell = shell.Env{IP: "10.20.0.7", OSName: "Debian GNU/Linux 12 (bookworm)"}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &testServer{srv: srv, rec: rec, addr: l.Addr().String(), port: port}
}

func (ts *testServer) portString() string { return strconv.Itoa(ts.port) }
