// Package callback receives canary token callbacks: an HTTP server that
// answers every request with a transparent GIF and records requests for
// /c/<slug>/..., and an authoritative DNS server (UDP and TCP) for the
// token zone that records lookups of <slug>.<zone>. Hits go through a
// Recorder that writes them in batched transactions and publishes
// canary.<id>.triggered after each commit.
package callback

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Worker defaults.
const (
	DefaultHTTPAddr = "127.0.0.1:8088"
	DefaultDNSAddr  = "127.0.0.1:5354"
	// DefaultRate and DefaultBurst cap the hits recorded per source; the
	// response is the same whether a hit is recorded or not.
	DefaultRate       = 20
	DefaultBurst      = 100
	DefaultMaxSources = 65536

	dnsSubmitTimeout = time.Second
	tcpIdleTimeout   = 10 * time.Second
	maxTCPConns      = 256
	maxTCPQueries    = 128
	// shutdownTimeout bounds the wait for HTTP requests in flight at
	// shutdown, after which their connections are closed. It stays well
	// inside the 3 s that decnet up gives every worker to stop, so a
	// client that holds a request half sent cannot stall a Ctrl-C.
	shutdownTimeout = time.Second
)

// Config configures a Worker.
type Config struct {
	// HTTPAddr is the HTTP listen address (DefaultHTTPAddr when empty).
	HTTPAddr string
	// DNSAddr is the DNS listen address for UDP and TCP (DefaultDNSAddr
	// when empty). DNS is off when Zone is empty.
	DNSAddr string
	Zone    string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Rate, Burst and MaxSources configure the per-source limiter; a
	// negative Rate disables it, zero values take the defaults.
	Rate       float64
	Burst      int
	MaxSources int
	// Recorder receives the hits; the worker runs and closes it.
	Recorder *Recorder
	Logger   *slog.Logger
}

// Worker runs the HTTP and DNS receivers and the recorder.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	limiter *Limiter

	ready    chan struct{}
	httpAddr string
	dnsAddr  string
}

// NewWorker checks cfg and returns a worker.
func NewWorker(cfg Config) (*Worker, error) {
	if cfg.Recorder == nil {
		return nil, errors.New("callback: worker needs a recorder")
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = DefaultDNSAddr
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log, limiter: NewLimiter(cfg.Rate, cfg.Burst, cfg.MaxSources, nil), ready: make(chan struct{})}, nil
}

// Name returns "canary", the worker name used for heartbeats.
func (w *Worker) Name() string { return "canary" }

// Ready is closed once the listeners are bound.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// HTTPAddr returns the bound HTTP address once Ready is closed.
func (w *Worker) HTTPAddr() string { return w.httpAddr }

// DNSAddr returns the bound DNS address once Ready is closed, or "" when
// DNS is off.
func (w *Worker) DNSAddr() string { return w.dnsAddr }

// Run binds the listeners, serves until ctx ends, then stops the servers
// and lets the recorder write what is queued.
func (w *Worker) Run(ctx context.Context) error {
	httpLn, err := net.Listen("tcp", w.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("canary: listen http on %s: %w (set DECNET_CANARY_HTTP_BIND/_PORT)", w.cfg.HTTPAddr, err)
	}
	w.httpAddr = httpLn.Addr().String()

	var (
		udp   *net.UDPConn
		tcpLn net.Listener
		dns   *DNSHandler
	)
	if w.cfg.Zone != "" {
		dns, err = NewDNSHandler(DNSConfig{Zone: w.cfg.Zone, Recorder: w.cfg.Recorder, Limiter: w.limiter, Logger: w.log})
		if err != nil {
			httpLn.Close()
			return err
		}
		udp, tcpLn, err = listenDNS(w.cfg.DNSAddr)
		if err != nil {
			httpLn.Close()
			return err
		}
		w.dnsAddr = udp.LocalAddr().String()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		w.cfg.Recorder.Run(context.WithoutCancel(ctx))
	}()

	srv := &http.Server{
		Handler:           &HTTPHandler{Recorder: w.cfg.Recorder, TrustedProxies: w.cfg.TrustedProxies, Limiter: w.limiter, Logger: w.log},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("canary http server stopped", "err", err)
			cancel()
		}
	}()
	if dns != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			w.serveUDP(runCtx, udp, dns)
		}()
		go func() {
			defer wg.Done()
			w.serveTCP(runCtx, tcpLn, dns)
		}()
	}
	close(w.ready)
	w.log.Info("canary receivers listening", "http", w.httpAddr, "dns", w.dnsAddr, "zone", w.cfg.Zone)

	<-runCtx.Done()
	shutCtx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if udp != nil {
		udp.Close()
		tcpLn.Close()
	}
	wg.Wait()

	w.cfg.Recorder.Close()
	<-recDone
	st := w.cfg.Recorder.Stats()
	w.log.Info("canary receivers stopped", "triggers", st.Triggers, "merged", st.Merged, "lost", st.Lost)
	if ctx.Err() == nil {
		return errors.New("canary: http server stopped unexpectedly")
	}
	return nil
}

// listenDNS binds UDP and TCP on the same address; a port of 0 picks one
// free for both.
func listenDNS(addr string) (*net.UDPConn, net.Listener, error) {
	for attempt := 0; attempt < 10; attempt++ {
		udpAddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("canary: dns address %q: %w", addr, err)
		}
		udp, err := net.ListenUDP("udp", udpAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("canary: listen dns udp on %s: %w (set DECNET_CANARY_DNS_BIND/_PORT)", addr, err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if udpAddr.Port != 0 {
			return nil, nil, fmt.Errorf("canary: listen dns tcp on %s: %w (set DECNET_CANARY_DNS_BIND/_PORT)", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("canary: no port free for both dns udp and tcp on %s", addr)
}

// serveUDP answers datagrams with one reader per CPU until the socket
// closes.
func (w *Worker) serveUDP(ctx context.Context, conn *net.UDPConn, h *DNSHandler) {
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				n, src, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				w.answerUDP(ctx, conn, h, buf[:n], src)
			}
		}()
	}
	wg.Wait()
}

func (w *Worker) answerUDP(ctx context.Context, conn *net.UDPConn, h *DNSHandler, msg []byte, src netip.AddrPort) {
	defer w.recoverPanic("dns udp", src.String())
	reply, hit := h.Respond(msg, src, "udp")
	if reply != nil {
		conn.WriteToUDPAddrPort(reply, src)
	}
	if hit != nil {
		submitDNS(ctx, w.cfg.Recorder, hit, dnsSubmitTimeout, w.log)
	}
}

// serveTCP accepts DNS-over-TCP connections (RFC 7766 framing) until the
// listener closes, with at most maxTCPConns at once.
func (w *Worker) serveTCP(ctx context.Context, ln net.Listener, h *DNSHandler) {
	sem := make(chan struct{}, maxTCPConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.serveTCPConn(ctx, c, h)
		}()
	}
}

func (w *Worker) serveTCPConn(ctx context.Context, c net.Conn, h *DNSHandler) {
	defer c.Close()
	defer w.recoverPanic("dns tcp", c.RemoteAddr().String())
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	src, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return
	}
	var size [2]byte
	msg := make([]byte, 65535)
	for range maxTCPQueries {
		c.SetDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, msg[:n]); err != nil {
			return
		}
		reply, hit := h.Respond(msg[:n], src, "tcp")
		if reply != nil {
			out := make([]byte, 2+len(reply))
			binary.BigEndian.PutUint16(out, uint16(len(reply)))
			copy(out[2:], reply)
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		if hit != nil {
			submitDNS(ctx, w.cfg.Recorder, hit, dnsSubmitTimeout, w.log)
		}
	}
}

func (w *Worker) recoverPanic(what, peer string) {
	if v := recover(); v != nil {
		w.log.Error("canary receiver panic", "where", what, "src", peer, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}
