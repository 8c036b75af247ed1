// Package ssh is the SSH honeypot of a decky. It speaks real SSH through
// golang.org/x/crypto/ssh, with the identification line and algorithm
// lists of the OpenSSH release the decky's distro shipped. It logs every
// password and public-key attempt and fingerprints clients with HASSH,
// computed from the KEXINIT they sent on the wire. After a login that the
// policy accepts, it runs the emulated shell of package shell. Nothing the
// client sends is executed on the host, and port forwarding is rejected.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	gossh "golang.org/x/crypto/ssh"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/services/shell"
)

// ServiceName is the Service of every event this package emits.
const ServiceName = "ssh"

// Defaults for the zero values of Config's limits.
const (
	DefaultMaxSessionDuration = 30 * time.Minute
	DefaultMaxSessionBytes    = 10 << 20
	DefaultMaxAuthTries       = 6
	DefaultHandshakeTimeout   = 30 * time.Second
	DefaultMaxConnections     = 512
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ssh: server closed")

// Config configures a Server. Only Sink is required.
type Config struct {
	// Decky is the decky's name, copied into every event.
	Decky string
	// Hostname is the host name the shell and its prompt show.
	Hostname string
	// Distro picks the OpenSSH profile (see ProfileForDistro).
	Distro string
	// ServerVersion overrides the identification line of the profile,
	// e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".
	ServerVersion string
	// Seed makes the host key (when HostKey is nil) and the fake uptime
	// repeatable per decky.
	Seed uint64
	// HostKey is the server's host key; nil derives one from Seed.
	HostKey gossh.Signer
	// Policy decides which logins succeed; nil rejects all.
	Policy Policy
	// Root is the directory standing for the decky's filesystem. The shell
	// reads it through os.Root and never writes to it. Empty means an
	// empty filesystem.
	Root string
	// Shell is the persona of the emulated shell. User, RemoteIP, TTY and
	// Interactive are set per session; Hostname defaults to the field above.
	Shell shell.Env
	// Motd is printed at the start of an interactive session.
	Motd string

	MaxSessionDuration time.Duration
	MaxSessionBytes    int64
	MaxAuthTries       int
	HandshakeTimeout   time.Duration
	// MaxConnections caps concurrent connections; more are closed at once.
	MaxConnections int

	Sink   services.Sink
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is an SSH honeypot. Serve may be called for several listeners;
// Shutdown stops them all, closes every open connection and waits for the
// connection goroutines to end. A Server is not reusable after Shutdown.
type Server struct {
	cfg     Config
	profile Profile
	version string
	hostKey gossh.Signer
	base    fs.FS
	root    *os.Root
	log     *slog.Logger
	counter *sourceCounter
	closed  atomic.Bool
	// lastDropLog is the UnixNano time of the last warnDropped log.
	lastDropLog atomic.Int64
	inflight    sync.WaitGroup

	// mu protects the following.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
}

// NewServer checks cfg, fills in defaults and opens the root directory.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Sink == nil {
		return nil, errors.New("ssh: config has no event sink")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		cfg.Policy = RejectAll
	}
	if cfg.MaxSessionDuration <= 0 {
		cfg.MaxSessionDuration = DefaultMaxSessionDuration
	}
	if cfg.MaxSessionBytes <= 0 {
		cfg.MaxSessionBytes = DefaultMaxSessionBytes
	}
	if cfg.MaxAuthTries <= 0 {
		cfg.MaxAuthTries = DefaultMaxAuthTries
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Decky
	}
	if cfg.Shell.Hostname == "" {
		cfg.Shell.Hostname = cfg.Hostname
	}
	if cfg.Shell.Now == nil {
		cfg.Shell.Now = cfg.Now
	}
	if cfg.Shell.Boot.IsZero() {
		// A seeded uptime between one hour and 45 days.
		span := uint64(45*24*time.Hour - time.Hour)
		cfg.Shell.Boot = cfg.Now().Add(-time.Hour - time.Duration(mix(cfg.Seed)%span))
	}

	s := &Server{
		cfg:       cfg,
		profile:   ProfileForDistro(cfg.Distro),
		log:       cfg.Logger.With("service", ServiceName, "decky", cfg.Decky),
		counter:   newSourceCounter(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
	s.version = cfg.ServerVersion
	if s.version == "" {
		s.version = s.profile.ServerVersion()
	}

	s.hostKey = cfg.HostKey
	if s.hostKey == nil {
		key, err := HostKeyFromSeed(cfg.Seed)
		if err != nil {
			return nil, err
		}
		s.hostKey = key
	}

	if cfg.Root != "" {
		root, err := os.OpenRoot(cfg.Root)
		if err != nil {
			return nil, fmt.Errorf("ssh: open root directory %s: %w", cfg.Root, err)
		}
		s.root = root
		s.base = root.FS()
	}
	return s, nil
}

// mix is the splitmix64 finaliser, spreading a seed over all 64 bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Serve accepts connections on l until Shutdown, and returns
// ErrServerClosed then. Other accept errors are retried with a backoff from
// 5 ms to 1 s, except a closed listener, which ends Serve with its error.
func (s *Server) Serve(l net.Listener) error {
	if s.closed.Load() {
		return ErrServerClosed
	}
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closed.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ssh: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0

		if !s.track(c) {
			s.warnDropped(c)
			c.Close()
			continue
		}
		go s.handle(c)
	}
}

// warnDropped logs a connection refused for capacity, at most once a
// second, since attackers decide how often it happens.
func (s *Server) warnDropped(c net.Conn) {
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last < int64(time.Second) || !s.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("connection dropped: server closing or at max connections",
		"remote_addr", c.RemoteAddr().String(), "max_connections", s.cfg.MaxConnections)
}

// track registers a new connection; it returns false when the server is
// closing or full.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || len(s.conns) >= s.cfg.MaxConnections {
		return false
	}
	s.conns[c] = struct{}{}
	s.inflight.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.inflight.Done()
}

// Shutdown closes the listeners and every open connection (attacker
// sessions are not drained), then waits for the connection goroutines or
// for ctx. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed.Swap(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ssh: shutdown: %w", ctx.Err())
	}

	if first && s.root != nil {
		if err := s.root.Close(); err != nil {
			return fmt.Errorf("ssh: close root directory: %w", err)
		}
	}
	return nil
}

// handle runs one connection; it recovers a panic so one hostile client
// never takes the server down.
func (s *Server) handle(c net.Conn) {
	defer s.untrack(c)
	defer c.Close()

	cs := s.newConnState(c)
	defer func() {
		if r := recover(); r != nil {
			cs.log.Error("connection panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	cs.run()
}

// sourceCounter counts password attempts per source address for
// NthAttempt{PerSource: true}. It clears its table when it reaches
// maxSources addresses, so a scan from many sources cannot grow it forever.
type sourceCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

const maxSources = 65536

func newSourceCounter() *sourceCounter { return &sourceCounter{counts: map[string]int{}} }

func (sc *sourceCounter) next(ip string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.counts) >= maxSources {
		clear(sc.counts)
	}
	sc.counts[ip]++
	return sc.counts[ip]
}

// newEventBase returns an event with the connection's fixed fields.
func newEventBase(s *Server, sessionID string, remote, local net.Addr) services.Event {
	e := services.Event{Decky: s.cfg.Decky, Service: ServiceName, Session: sessionID}
	if host, port, err := net.SplitHostPort(remote.String()); err == nil {
		e.SrcIP = host
		e.SrcPort, _ = strconv.Atoi(port)
	}
	if _, port, err := net.SplitHostPort(local.String()); err == nil {
		e.DstPort, _ = strconv.Atoi(port)
	}
	return e
}

func newSessionID() string { return uuid.NewString() }
