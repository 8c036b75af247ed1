package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults for ServerOptions.
const (
	DefaultHost = "127.0.0.1"
	DefaultPort = 4222

	// RandomPort makes the server pick a free port, for tests.
	RandomPort = -1
)

// startTimeout bounds how long StartServer waits for the server to accept
// clients and for the streams to be created.
const startTimeout = 10 * time.Second

// ServerOptions configures the embedded NATS server.
type ServerOptions struct {
	// DataDir is decnet's data directory. The JetStream store goes in
	// DataDir/bus. Required.
	DataDir string

	// Host and Port of the client listener. Empty Host means DefaultHost,
	// Port 0 means DefaultPort and RandomPort picks a free port.
	Host string
	Port int

	// DontListen runs a pure in-process server with no TCP listener. Clients
	// then connect with ConnectInProcess.
	DontListen bool

	// ServerName names the server in logs and JetStream metadata
	// (default "decnet").
	ServerName string

	// MaxStoreBytes caps the whole JetStream file store; 0 lets the server
	// pick (a share of the free disk space).
	MaxStoreBytes int64

	// Streams sets the limits of the EVENTS and BUS streams; zero fields
	// take the defaults of DefaultStreamLimits.
	Streams StreamLimits

	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger

	// Debug turns on the server's debug log lines.
	Debug bool
}

// Server is a running embedded NATS server with JetStream and decnet's
// streams. Shutdown stops it; a Server cannot be restarted.
type Server struct {
	ns     *server.Server
	logger *slog.Logger
}

// StartServer starts the embedded server, waits until it accepts clients and
// creates or updates the EVENTS and BUS streams.
func StartServer(opts ServerOptions) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("bus: start server: data dir is required")
	}
	storeDir := filepath.Join(opts.DataDir, "bus")
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, fmt.Errorf("bus: create store dir %s: %w", storeDir, err)
	}

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host := opts.Host
	if host == "" {
		host = DefaultHost
	}
	port := opts.Port
	if port == 0 {
		port = DefaultPort
	}
	name := opts.ServerName
	if name == "" {
		name = "decnet"
	}

	nsOpts := &server.Options{
		ServerName:        name,
		Host:              host,
		Port:              port,
		DontListen:        opts.DontListen,
		JetStream:         true,
		StoreDir:          storeDir,
		JetStreamMaxStore: opts.MaxStoreBytes,
		NoSigs:            true,
		// No HTTP monitoring, no cluster, no leafnodes: decnet's API
		// reports health itself.
	}
	ns, err := server.NewServer(nsOpts)
	if err != nil {
		return nil, fmt.Errorf("bus: configure server: %w", err)
	}
	ns.SetLoggerV2(&slogAdapter{l: logger.With("component", "nats")}, opts.Debug, false, false)

	ns.Start()
	if !ns.ReadyForConnections(startTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("bus: server on %s:%d not ready after %s (port in use or store dir %s locked?)", host, port, startTimeout, storeDir)
	}

	s := &Server{ns: ns, logger: logger}
	if err := s.ensureStreams(opts.Streams); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}

	if opts.DontListen {
		logger.Info("bus server started for in-process clients only", "store_dir", storeDir)
	} else {
		logger.Info("bus server started", "url", s.ClientURL(), "store_dir", storeDir)
	}
	return s, nil
}

// ensureStreams creates or updates the streams over a short-lived
// in-process connection.
func (s *Server) ensureStreams(limits StreamLimits) error {
	nc, err := nats.Connect("", nats.InProcessServer(s.ns), nats.Name("decnet-bus-setup"))
	if err != nil {
		return fmt.Errorf("bus: connect in-process to create streams: %w", err)
	}
	defer nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return EnsureStreams(ctx, nc, limits)
}

// ClientURL returns the nats:// URL of the TCP listener. With DontListen the
// URL names no reachable listener.
func (s *Server) ClientURL() string {
	return s.ns.ClientURL()
}

// InProcessOption returns the nats.Connect option that connects to this
// server without a socket.
func (s *Server) InProcessOption() nats.Option {
	return nats.InProcessServer(s.ns)
}

// Shutdown stops the server, closing every client connection and flushing
// the JetStream store. It returns ctx.Err() if ctx ends first; the shutdown
// then goes on in the background.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		close(done)
	}()

	select {
	case <-done:
		s.logger.Info("bus server stopped")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: shutdown: %w", ctx.Err())
	}
}

// slogAdapter writes nats-server log lines to slog.
type slogAdapter struct {
	l *slog.Logger
}

// Noticef logs at debug level: the server's notices are mostly its start
// banner, and StartServer logs the facts that matter at info level.
func (a *slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }

func (a *slogAdapter) Warnf(format string, v ...any)  { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }

// Fatalf logs at error level. The server calls it for conditions it then
// handles by shutting down; the decnet process must not exit from here.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}

var _ server.Logger = (*slogAdapter)(nil)
