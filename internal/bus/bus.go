// Package bus carries decnet's messages over NATS. It contains the embedded
// server with JetStream, the client connection and the subject builders
// (subjects.go is the only place subjects are spelled out). It also defines
// the JSON envelope every message wears, safe publishing that never fails
// the caller, and consumers for durable batches and resumable live streams.
//
// Service events (log.>) and domain events (attacker.>, identity.>, …) are
// stored in JetStream streams, so a consumer that is down or restarting
// loses nothing. Heartbeats and control requests (system.>) are plain core
// NATS messages and are lost when nobody listens.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for a Bus.
const (
	// DefaultPublishTimeout bounds one PublishSafely call, the JetStream
	// acknowledgement included.
	DefaultPublishTimeout = 2 * time.Second

	// DefaultAsyncMaxPending caps unacknowledged PublishAsync messages; a
	// publisher that reaches it waits briefly and then gets an error.
	DefaultAsyncMaxPending = 8192

	// flushTimeout bounds Flush when its context has no deadline.
	flushTimeout = 30 * time.Second

	// failureLogInterval rate-limits the log line for failed publishes.
	failureLogInterval = 10 * time.Second
)

// Bus is a connection to NATS with JetStream. It is safe for concurrent use.
// Close releases it.
type Bus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	owned  bool
	name   string
	source string
	logger *slog.Logger
	now    func() time.Time

	publishTimeout time.Duration

	failures atomic.Uint64

	// failMu protects the following.
	failMu         sync.Mutex
	lastFailureLog time.Time
	suppressed     uint64
}

type config struct {
	logger          *slog.Logger
	source          string
	now             func() time.Time
	natsOpts        []nats.Option
	asyncMaxPending int
	publishTimeout  time.Duration
}

// Option configures Connect, ConnectInProcess and New.
type Option func(*config)

// WithLogger sets the logger for connection changes and failed publishes.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithSource sets the envelope source, conventionally "<worker>/<instance>".
// The default is "<connection name>/<random id>".
func WithSource(source string) Option { return func(c *config) { c.source = source } }

// WithClock sets the clock that stamps envelopes.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithNATSOptions appends raw nats.go options (credentials, TLS).
func WithNATSOptions(opts ...nats.Option) Option {
	return func(c *config) { c.natsOpts = append(c.natsOpts, opts...) }
}

// WithAsyncMaxPending overrides DefaultAsyncMaxPending.
func WithAsyncMaxPending(n int) Option { return func(c *config) { c.asyncMaxPending = n } }

// WithPublishTimeout overrides DefaultPublishTimeout.
func WithPublishTimeout(d time.Duration) Option { return func(c *config) { c.publishTimeout = d } }

func newConfig(opts []Option) config {
	c := config{
		now:             time.Now,
		asyncMaxPending: DefaultAsyncMaxPending,
		publishTimeout:  DefaultPublishTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Connect dials url (for example the value of DECNET_BUS_URL) and waits until
// the first connection succeeds or ctx ends. Once connected the client
// reconnects forever; publishes made while disconnected are buffered by
// nats.go up to its reconnect buffer and fail past it.
func Connect(ctx context.Context, url, name string, opts ...Option) (*Bus, error) {
	c := newConfig(opts)
	logger := c.logger.With("bus_url", url, "conn", name)

	connected := make(chan struct{})
	var once sync.Once
	natsOpts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(*nats.Conn) { once.Do(func() { close(connected) }) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("bus disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("bus reconnected") }),
	}
	natsOpts = append(natsOpts, c.natsOpts...)

	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", url, err)
	}
	if nc.IsConnected() {
		once.Do(func() { close(connected) })
	}

	select {
	case <-connected:
	case <-ctx.Done():
		nc.Close()
		return nil, fmt.Errorf("bus: connect %s: %w", url, ctx.Err())
	}

	b, err := newBus(nc, name, true, c)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// ConnectInProcess connects to an embedded server without a socket. The
// connection ends with the server.
func ConnectInProcess(srv *Server, name string, opts ...Option) (*Bus, error) {
	c := newConfig(opts)
	natsOpts := append([]nats.Option{srv.InProcessOption(), nats.Name(name), nats.NoReconnect()}, c.natsOpts...)

	nc, err := nats.Connect("", natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect in-process: %w", err)
	}
	b, err := newBus(nc, name, true, c)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// New wraps a connection the caller owns; Close leaves it open.
func New(nc *nats.Conn, name string, opts ...Option) (*Bus, error) {
	return newBus(nc, name, false, newConfig(opts))
}

func newBus(nc *nats.Conn, name string, owned bool, c config) (*Bus, error) {
	b := &Bus{
		nc:             nc,
		owned:          owned,
		name:           name,
		source:         c.source,
		logger:         c.logger,
		now:            c.now,
		publishTimeout: c.publishTimeout,
	}
	if b.source == "" {
		b.source = name + "/" + uuid.NewString()[:8]
	}

	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(c.asyncMaxPending),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			b.recordFailure(m.Subject, err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream context: %w", err)
	}
	b.js = js
	return b, nil
}

// Conn returns the underlying connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Source returns the source written into envelopes.
func (b *Bus) Source() string { return b.source }

// Close closes the connection when the Bus opened it. Call Flush first to
// wait for outstanding PublishAsync acknowledgements.
func (b *Bus) Close() {
	if b.owned {
		b.nc.Close()
	}
}

// NewEnvelope builds the envelope Publish would send.
func (b *Bus) NewEnvelope(subject, typ string, payload any) (Envelope, error) {
	raw, err := encodePayload(payload)
	if err != nil {
		return Envelope{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, fmt.Errorf("bus: envelope id: %w", err)
	}
	return Envelope{
		SchemaVersion: SchemaVersion,
		ID:            id.String(),
		Subject:       subject,
		Type:          typ,
		TS:            b.now().UTC(),
		Source:        b.source,
		Payload:       raw,
	}, nil
}

func (b *Bus) buildMsg(subject, typ string, payload any) (*nats.Msg, Envelope, error) {
	if err := ValidateSubject(subject); err != nil {
		return nil, Envelope{}, err
	}
	env, err := b.NewEnvelope(subject, typ, payload)
	if err != nil {
		return nil, Envelope{}, err
	}
	data, err := env.MarshalJSON()
	if err != nil {
		return nil, Envelope{}, fmt.Errorf("bus: encode envelope: %w", err)
	}
	return &nats.Msg{Subject: subject, Data: data}, env, nil
}

// Publish sends payload in an envelope. A subject stored in a stream (see
// StreamFor) goes through JetStream and Publish returns once the server
// acknowledged that it stored the message; other subjects go over core NATS
// and Publish returns once the message is buffered for the server.
func (b *Bus) Publish(ctx context.Context, subject, typ string, payload any) error {
	msg, env, err := b.buildMsg(subject, typ, payload)
	if err != nil {
		return err
	}

	if StreamFor(subject) == "" {
		if err := b.nc.PublishMsg(msg); err != nil {
			return fmt.Errorf("bus: publish %s: %w", subject, err)
		}
		return nil
	}
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(env.ID)); err != nil {
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	return nil
}

// PublishAsync sends payload without waiting for the JetStream
// acknowledgement. A failed acknowledgement is logged and counted in
// PublishFailures. The returned error covers only what fails at once: an
// invalid subject or payload, a closed connection, or too many
// unacknowledged messages. Call Flush to wait for the acknowledgements.
func (b *Bus) PublishAsync(subject, typ string, payload any) error {
	msg, env, err := b.buildMsg(subject, typ, payload)
	if err != nil {
		return err
	}

	if StreamFor(subject) == "" {
		if err := b.nc.PublishMsg(msg); err != nil {
			return fmt.Errorf("bus: publish %s: %w", subject, err)
		}
		return nil
	}
	if _, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(env.ID)); err != nil {
		return fmt.Errorf("bus: publish async %s: %w", subject, err)
	}
	return nil
}

// Flush waits until every PublishAsync message is acknowledged and every
// core message has reached the server, or ctx ends. Without a deadline in
// ctx it gives up after 30 s.
func (b *Bus) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		// nats.go needs a deadline to flush core messages.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}

	select {
	case <-b.js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("bus: flush: %d publishes unacknowledged: %w", b.js.PublishAsyncPending(), ctx.Err())
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("bus: flush: %w", err)
	}
	return nil
}

// PublishSafely publishes like Publish but never returns an error and waits
// at most the publish timeout. A failure is logged (rate-limited) and
// counted in PublishFailures. Use it after a database commit: the row is
// the source of truth and a lost notification must not fail the write.
func (b *Bus) PublishSafely(ctx context.Context, subject, typ string, payload any) {
	ctx, cancel := context.WithTimeout(ctx, b.publishTimeout)
	defer cancel()

	if err := b.Publish(ctx, subject, typ, payload); err != nil {
		b.recordFailure(subject, err)
	}
}

// PublishFailures returns how many publishes failed since the Bus was made,
// counting PublishSafely failures and failed PublishAsync acknowledgements.
func (b *Bus) PublishFailures() uint64 { return b.failures.Load() }

// recordFailure counts a failed publish and logs it, at most once per
// failureLogInterval with the number of failures left unlogged.
func (b *Bus) recordFailure(subject string, err error) {
	b.failures.Add(1)
	if errors.Is(err, context.Canceled) {
		// NOTE: counted but not logged; cancellation is a shutdown, not
		// a bus fault.
		return
	}

	b.failMu.Lock()
	now := time.Now()
	if !b.lastFailureLog.IsZero() && now.Sub(b.lastFailureLog) < failureLogInterval {
		b.suppressed++
		b.failMu.Unlock()
		return
	}
	suppressed := b.suppressed
	b.suppressed = 0
	b.lastFailureLog = now
	b.failMu.Unlock()

	b.logger.Warn("bus publish failed", "subject", subject, "err", err, "suppressed_since_last_log", suppressed, "failures_total", b.failures.Load())
}
