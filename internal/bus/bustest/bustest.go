// Package bustest starts embedded NATS servers for tests.
package bustest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// Start runs an embedded server with JetStream on a random loopback port,
// storing in a fresh t.TempDir(), and shuts it down when the test ends.
func Start(t testing.TB) *bus.Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn is Start with a given data dir, for tests that restart a server on
// the same store.
func StartIn(t testing.TB, dataDir string) *bus.Server {
	t.Helper()

	srv, err := bus.StartServer(bus.ServerOptions{
		DataDir: dataDir,
		Host:    "127.0.0.1",
		Port:    bus.RandomPort,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("bustest: start server: %v", err)
	}
	t.Cleanup(func() { Stop(t, srv) })
	return srv
}

// Stop shuts srv down and fails the test if that takes over 10 seconds.
// Calling it twice is harmless.
func Stop(t testing.TB, srv *bus.Server) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("bustest: shutdown: %v", err)
	}
}

// Connect opens a Bus over TCP to srv and closes it when the test ends.
func Connect(t testing.TB, srv *bus.Server, name string, opts ...bus.Option) *bus.Bus {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, srv.ClientURL(), name, opts...)
	if err != nil {
		t.Fatalf("bustest: connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// ConnectInProcess opens an in-process Bus to srv and closes it when the
// test ends.
func ConnectInProcess(t testing.TB, srv *bus.Server, name string, opts ...bus.Option) *bus.Bus {
	t.Helper()

	b, err := bus.ConnectInProcess(srv, name, opts...)
	if err != nil {
		t.Fatalf("bustest: connect in-process: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}
