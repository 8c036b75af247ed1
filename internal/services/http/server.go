// Package httpsvc emulates the web server of a decky: nginx on Debian-like
// and Alpine personas, Apache httpd on the RHEL family and IIS 10.0 on
// Windows personas, each with that server's headers, default page and
// error pages. It serves files from the decky's web root and reports every
// request, and every credential in an Authorization header, as a
// services.Event.
//
// Attacker text in event fields is escaped as escape describes: printable
// UTF-8 is kept, and \\, \t, \n, \r and \xNN stand for the rest.
package httpsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/rootfs"
	"github.com/decnet/decnet/internal/services"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Service is the service name in events.
const Service = "http"

// Defaults for the Config limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 65 * time.Second // nginx's keepalive_timeout
	DefaultMaxHeaderBytes    = 8 << 10
	DefaultMaxBodyBytes      = 1 << 20
)

// DefaultProtectedPaths get a 401 response with a Basic challenge, so that clients
// send credentials there.
var DefaultProtectedPaths = []string{"/admin", "/administrator", "/manager/html", "/phpmyadmin", "/backup", "/private"}

// Config configures a Server. Decky and Sink are required.
type Config struct {
	Decky    string // decky name for events
	Hostname string
	Persona  decky.Persona
	Distro   string
	// Root is the host directory that contains the decky's filesystem.
	// Files under its web root (rootfs.WebRoot) are served. Empty serves
	// only the built-in pages.
	Root   string
	Sink   services.Sink
	Logger *slog.Logger
	Now    func() time.Time

	// ProtectedPaths are path prefixes that require Basic credentials;
	// nil means DefaultProtectedPaths.
	ProtectedPaths []string

	// Limits; zero values take the defaults above. MaxBodyBytes caps how
	// much of a request body is hashed and previewed. The server reads
	// and counts up to 16 times as much before it closes the connection.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxBodyBytes      int64
}

// Server is one emulated web server. Create it with New, run it with Serve
// and stop it with Shutdown or Close. Serve may run on several listeners at
// once.
type Server struct {
	cfg     Config
	profile profile
	webRoot string // host directory of the web root, or ""
	log     *slog.Logger
	srv     *http.Server
}

// New checks cfg, fills in defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Decky == "" {
		return nil, errors.New("http: missing decky name in config")
	}
	if cfg.Sink == nil {
		return nil, errors.New("http: missing event sink in config")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProtectedPaths == nil {
		cfg.ProtectedPaths = DefaultProtectedPaths
	}
	cfg.ReadHeaderTimeout = orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.ReadTimeout = orDefault(cfg.ReadTimeout, DefaultReadTimeout)
	cfg.WriteTimeout = orDefault(cfg.WriteTimeout, DefaultWriteTimeout)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxHeaderBytes = orDefault(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)

	s := &Server{
		cfg:     cfg,
		profile: profileFor(cfg.Persona, cfg.Distro),
		log:     cfg.Logger.With("service", Service, "decky", cfg.Decky),
	}
	if cfg.Root != "" {
		rel, err := rootfs.HostPath(rootfs.WebRoot(decky.Decky{Persona: cfg.Persona, Distro: cfg.Distro}))
		if err != nil {
			return nil, fmt.Errorf("http: web root: %w", err)
		}
		s.webRoot = filepath.Join(cfg.Root, filepath.FromSlash(rel))
	}

	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// OPTIONS * goes to our handler, not net/http's built-in reply.
		DisableGeneralOptionsHandler: true,
		ConnContext:                  connContext,
		ConnState:                    s.connState,
		// net/http's own messages are driven by attacker traffic, so
		// they go to debug.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. It closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("http emulator listening", "addr", l.Addr().String(), "server", s.profile.server)
	err := s.srv.Serve(&listener{Listener: l, server: s})
	s.log.Info("http emulator stopped", "addr", l.Addr().String(), "err", err)
	return err
}

// Shutdown stops accepting connections and waits for open requests to end.
// When ctx ends first it closes the remaining connections and returns the
// context's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	return s.srv.Close()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
