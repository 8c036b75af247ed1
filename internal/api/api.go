// Package api is decnet's REST API: a net/http server whose routes are a
// table (Route values grouped in RouteGroups), from which the router, the
// role checks, the request validation and the OpenAPI document are all
// built. Errors leave through one path as {"detail": "..."}. Live event
// streams (server-sent events) read the bus's JetStream streams, so a
// client that reconnects with Last-Event-ID misses nothing.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/decnet/decnet/internal/auth"
)

// Defaults for Config.
const (
	DefaultAddr              = "127.0.0.1:8000"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultSSEMaxPerUser     = 5
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultSnapshotSize      = 50
	// shutdownTimeout bounds the wait for requests in flight at shutdown.
	// It stays inside the 3 s that decnet up gives every worker to stop.
	shutdownTimeout = 2 * time.Second
)

// Config is the API server's configuration.
type Config struct {
	// Addr is the listen address (DefaultAddr when empty).
	Addr string
	// HostID names this host's rows in fleet_deckies.
	HostID string
	// MaxBodyBytes caps request bodies (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// SSEMaxPerUser caps concurrent event streams per user
	// (DefaultSSEMaxPerUser when 0).
	SSEMaxPerUser int
	// KeepaliveInterval is the idle time after which a stream sends a
	// comment line (DefaultKeepaliveInterval when 0).
	KeepaliveInterval time.Duration
	// TrustedProxies are peers whose X-Forwarded-For is believed for the
	// client address of login rate limits. Empty trusts no proxy.
	TrustedProxies []netip.Prefix
	// Registry receives the API's metrics and is served on /metrics; nil
	// makes a private registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Deps are the API's collaborators. Store and Auth are required. With a nil
// Bus, Fleet or Webhooks the routes that need it respond 503.
type Deps struct {
	Store    Store
	Auth     *auth.Service
	Bus      Bus
	Fleet    FleetDeployer
	Workers  WorkerLister
	Webhooks WebhookAdmin
}

// Server is the API server. Build it with New, add route groups with
// Register before the first request, then serve Handler or call Run.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	metrics  *metrics
	streams  *streamLimiter
	registry *prometheus.Registry
	tracker  *heartbeatTracker

	// mu protects groups and handler.
	mu      sync.Mutex
	groups  []RouteGroup
	handler http.Handler
}

// New checks the configuration and builds a Server with the built-in route
// groups.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Auth == nil {
		return nil, errors.New("api: store and auth service are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SSEMaxPerUser == 0 {
		cfg.SSEMaxPerUser = DefaultSSEMaxPerUser
	}
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}

	s := &Server{
		cfg:      cfg,
		deps:     deps,
		log:      cfg.Logger.With("worker", "api"),
		now:      cfg.Now,
		streams:  newStreamLimiter(cfg.SSEMaxPerUser),
		registry: reg,
	}
	if deps.Workers == nil {
		s.tracker = newHeartbeatTracker(cfg.Now)
	}

	m, err := newMetrics(reg, deps)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	for _, g := range s.builtinGroups() {
		s.Register(g)
	}
	return s, nil
}

// Name returns "api", the worker name used for heartbeats.
func (s *Server) Name() string { return "api" }

// Addr returns the address Run listens on.
func (s *Server) Addr() string { return s.cfg.Addr }

// Register adds a route group. Routes of later groups (canary, identities,
// campaigns, ...) join the router and the OpenAPI document the same way as
// the built-in ones. Register panics on a duplicate method and path, or
// when called after Handler.
func (s *Server) Register(g RouteGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.handler != nil {
		panic("api: Register called after Handler")
	}
	seen := map[string]bool{}
	for _, existing := range s.groups {
		for _, r := range existing.Routes {
			seen[r.pattern()] = true
		}
	}
	for i := range g.Routes {
		r := &g.Routes[i]
		if seen[r.pattern()] {
			panic("api: duplicate route " + r.pattern())
		}
		if r.Tag == "" {
			r.Tag = g.Name
		}
		seen[r.pattern()] = true
	}
	s.groups = append(s.groups, g)
}

// Routes returns every registered route, sorted by path and method.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()

	var out []Route
	for _, g := range s.groups {
		out = append(out, g.Routes...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Handler returns the http.Handler serving every registered route. The
// route table is frozen at the first call.
func (s *Server) Handler() http.Handler {
	routes := s.Routes()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handler != nil {
		return s.handler
	}

	mux := http.NewServeMux()
	for i := range routes {
		r := &routes[i]
		mux.Handle(r.pattern(), s.serveRoute(r))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, Errorf(http.StatusNotFound, "no route for %s %s", r.Method, clip(r.URL.Path)))
	})
	s.handler = s.recoverPanics(mux)
	return s.handler
}

// Run serves on cfg.Addr until ctx ends, then shuts down within 5 seconds.
// With a bus it also tracks worker heartbeats for /api/v1/workers.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.tracker != nil && s.deps.Bus != nil {
		stop, err := s.tracker.start(s.deps.Bus)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}

	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// NOTE: no WriteTimeout, because event streams stay open for hours;
	// every other handler finishes on its own.

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}

	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Streams end with the base context; anything left is cut.
		err = srv.Close()
	}
	<-errc
	s.log.Info("api stopped")
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// serveRoute wraps a route's handler with authentication, role checks,
// query and body validation, metrics and the single error path.
func (s *Server) serveRoute(route *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			s.metrics.observe(route, rec.status(), time.Since(start))
		}()

		c := &Call{W: rec, R: r, route: route, server: s}
		result, err := s.prepare(c)
		if err == nil {
			result, err = route.Handle(c)
		}

		switch {
		case err != nil && rec.wrote:
			// The stream already started; http.Error would corrupt it.
			s.log.Warn("handler failed after writing", "route", route.pattern(), "err", err)
		case err != nil:
			writeError(rec, r, s.log, err)
		case rec.wrote:
		case result == nil:
			rec.WriteHeader(route.successStatus())
		default:
			writeJSON(rec, route.successStatus(), result)
		}
	})
}

// prepare authenticates the caller and checks the role, the query and the
// body.
func (s *Server) prepare(c *Call) (any, error) {
	route := c.route
	if route.Role != Public {
		p, err := s.authenticate(c.R, route.Stream)
		if err != nil {
			return nil, err
		}
		if p.MustChangePassword && !route.AllowMustChange {
			return nil, Errorf(http.StatusForbidden, "password change required: POST /api/v1/auth/password first")
		}
		if route.Role == Admin && !p.IsAdmin() {
			return nil, Errorf(http.StatusForbidden, "admin role required")
		}
		c.User = p
	}

	q, err := parseQuery(route, c.R)
	if err != nil {
		return nil, err
	}
	c.query = q

	if route.Body != nil {
		body, err := decodeBody(c.W, c.R, route.Body, s.cfg.MaxBodyBytes)
		if err != nil {
			return nil, err
		}
		c.Body = body
	}
	return nil, nil
}

// authenticate reads the bearer token, or on stream routes a ticket, and
// returns the caller. Every failure is the same 401 to the client; the
// reason goes to the debug log.
func (s *Server) authenticate(r *http.Request, stream bool) (auth.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return auth.Principal{}, fmt.Errorf("%w: authorization scheme is not Bearer", auth.ErrUnauthenticated)
		}
		return s.deps.Auth.Authenticate(r.Context(), strings.TrimSpace(token))
	}
	if stream {
		if t := r.URL.Query().Get("ticket"); t != "" {
			return s.deps.Auth.RedeemTicket(r.Context(), t)
		}
	}
	return auth.Principal{}, fmt.Errorf("%w: no credentials", auth.ErrUnauthenticated)
}

// recoverPanics turns a handler panic into a logged 500.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil || v == http.ErrAbortHandler {
				if v != nil {
					panic(v)
				}
				return
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.metrics.panics.Inc()
			if !rec.wrote {
				writeError(rec, r, s.log, fmt.Errorf("api: panic: %v", v))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// clientAddr returns the address login limits key on: the TCP peer, or the
// last X-Forwarded-For hop that is not a trusted proxy when the peer is one.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer, trusted) {
		return host
	}

	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !inPrefixes(a, trusted) {
			return a.String()
		}
	}
	return host
}

func inPrefixes(a netip.Addr, list []netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// statusRecorder remembers the status and whether anything was written.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.code = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher when the underlying writer does.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}
