package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/decnet/decnet/internal/bus"
)

// Defaults for Config.
const (
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultReloadInterval = 30 * time.Second
	DefaultBatch          = 100
)

// Bus is the subset of *bus.Bus the worker uses.
type Bus interface {
	Consume(ctx context.Context, cfg bus.ConsumeConfig, handler bus.BatchHandler) error
	Subscribe(subject string, handler func(bus.Msg)) (*bus.Subscription, error)
}

// Config configures a Worker.
type Config struct {
	// FileTargets come from the YAML file; the database adds the targets
	// created through the API.
	FileTargets []Target
	// AllowUnsafe permits link-local and metadata addresses.
	AllowUnsafe bool
	// BackoffBase is the wait after the first failed attempt; each further
	// failure doubles it up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// ReloadInterval is how often targets are re-read even without a
	// system.webhook.subscriptions_changed message.
	ReloadInterval time.Duration
	// Batch is the maximum number of events read per consumer fetch.
	Batch    int
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Stats are the delivery counters of one target since the worker started.
type Stats struct {
	Delivered    uint64     `json:"delivered"`
	Failed       uint64     `json:"failed_attempts"`
	Retried      uint64     `json:"retries"`
	DeadLettered uint64     `json:"dead_lettered"`
	LastError    string     `json:"last_error,omitempty"`
	LastSuccess  *time.Time `json:"last_success,omitempty"`
}

type targetStats struct {
	delivered, failed, retried, dead atomic.Uint64

	mu          sync.Mutex // mu protects lastError and lastSuccess
	lastError   string
	lastSuccess time.Time
}

// Worker delivers bus events to every configured target. Run it once.
type Worker struct {
	cfg   Config
	bus   Bus
	store *Store
	log   *slog.Logger

	deliveries *prometheus.CounterVec

	// mu protects stats.
	mu    sync.Mutex
	stats map[string]*targetStats
}

// NewWorker builds a worker. st may be nil when only file targets are used
// and dead letters need not be kept. An event that exhausts its attempts is
// then logged at error level.
func NewWorker(cfg Config, b Bus, st *Store) (*Worker, error) {
	if b == nil {
		return nil, errors.New("webhook: a bus is required")
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, t := range cfg.FileTargets {
		if err := Validate(t, cfg.AllowUnsafe); err != nil {
			return nil, err
		}
	}

	w := &Worker{
		cfg:   cfg,
		bus:   b,
		store: st,
		log:   cfg.Logger.With("worker", "webhook"),
		stats: map[string]*targetStats{},
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "decnet_webhook_deliveries_total",
			Help: "Webhook and syslog delivery outcomes by target: delivered, failed (one attempt), retried, dead_letter.",
		}, []string{"target", "result"}),
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(w.deliveries); err != nil {
			return nil, fmt.Errorf("webhook: register metrics: %w", err)
		}
	}
	return w, nil
}

// Name returns "webhook".
func (w *Worker) Name() string { return "webhook" }

// Stats returns the counters of every target that delivered or failed.
func (w *Worker) Stats() map[string]Stats {
	w.mu.Lock()
	defer w.mu.Unlock()

	out := make(map[string]Stats, len(w.stats))
	for name, s := range w.stats {
		st := Stats{
			Delivered:    s.delivered.Load(),
			Failed:       s.failed.Load(),
			Retried:      s.retried.Load(),
			DeadLettered: s.dead.Load(),
		}
		s.mu.Lock()
		st.LastError = s.lastError
		if !s.lastSuccess.IsZero() {
			t := s.lastSuccess
			st.LastSuccess = &t
		}
		s.mu.Unlock()
		out[name] = st
	}
	return out
}

func (w *Worker) statsFor(name string) *targetStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.stats[name]
	if !ok {
		s = &targetStats{}
		w.stats[name] = s
	}
	return s
}

// targets returns file targets plus stored ones; stored targets that no
// longer validate are logged and skipped.
func (w *Worker) targets(ctx context.Context) ([]Target, error) {
	out := append([]Target(nil), w.cfg.FileTargets...)
	if w.store == nil {
		return out, nil
	}
	stored, err := w.store.ListTargets(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, t := range out {
		names[t.Name] = true
	}
	for _, t := range stored {
		if names[t.Name] {
			w.log.Warn("stored webhook target shadowed by the config file", "target", t.Name)
			continue
		}
		if err := Validate(t, w.cfg.AllowUnsafe); err != nil {
			w.log.Warn("stored webhook target skipped", "target", t.Name, "err", err)
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

type running struct {
	target Target
	cancel context.CancelFunc
	done   chan struct{}
}

// Run delivers events until ctx ends. It re-reads the targets when
// system.webhook.subscriptions_changed arrives and every ReloadInterval.
func (w *Worker) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	sub, err := w.bus.Subscribe(bus.SystemWebhookSubscriptionsChanged, func(bus.Msg) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("webhook: subscribe to target changes: %w", err)
	}
	defer sub.Unsubscribe()

	w.log.Info("webhook worker started", "file_targets", len(w.cfg.FileTargets))
	active := map[string]*running{}
	defer func() {
		for _, r := range active {
			r.cancel()
		}
		for _, r := range active {
			<-r.done
		}
		w.log.Info("webhook worker stopped")
	}()

	ticker := time.NewTicker(w.cfg.ReloadInterval)
	defer ticker.Stop()
	for {
		targets, err := w.targets(ctx)
		if err != nil {
			w.log.Warn("reading webhook targets failed, keeping the running ones", "err", err)
		} else {
			w.reconcile(ctx, active, targets)
		}

		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-ticker.C:
		}
	}
}

// reconcile starts new targets, restarts changed ones and stops removed
// ones.
func (w *Worker) reconcile(ctx context.Context, active map[string]*running, targets []Target) {
	want := map[string]Target{}
	for _, t := range targets {
		want[t.Name] = t.withDefaults()
	}

	for name, r := range active {
		if t, ok := want[name]; ok && reflect.DeepEqual(t, r.target) {
			continue
		}
		r.cancel()
		<-r.done
		delete(active, name)
		w.log.Info("webhook target stopped", "target", name)
	}

	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := active[name]; ok {
			continue
		}
		t := want[name]
		tctx, cancel := context.WithCancel(ctx)
		r := &running{target: t, cancel: cancel, done: make(chan struct{})}
		active[name] = r
		go func() {
			defer close(r.done)
			w.runTarget(tctx, t)
		}()
		w.log.Info("webhook target started", "target", name, "kind", t.Kind, "subjects", t.Subjects)
	}
}

// runTarget runs one durable consumer per stream the target's subjects
// live in, restarting a consumer that fails.
func (w *Worker) runTarget(ctx context.Context, t Target) {
	d, err := w.newDeliverer(t)
	if err != nil {
		w.log.Error("webhook target cannot start", "target", t.Name, "err", err)
		return
	}
	defer d.close()

	byStream := map[string][]string{}
	for _, f := range t.Subjects {
		st := bus.StreamFor(f)
		byStream[st] = append(byStream[st], f)
	}

	var wg sync.WaitGroup
	for stream, filters := range byStream {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := bus.ConsumeConfig{
				Stream:  stream,
				Durable: "webhook_" + t.Name + "_" + stream,
				Filter:  filters,
				Batch:   w.cfg.Batch,
				AckWait: w.ackWait(t),
			}
			for ctx.Err() == nil {
				err := w.bus.Consume(ctx, cfg, func(ctx context.Context, msgs []bus.Msg) error {
					return d.handle(ctx, msgs)
				})
				if err == nil || ctx.Err() != nil {
					return
				}
				w.log.Warn("webhook consumer failed, restarting", "target", t.Name, "stream", stream, "err", err)
				if !sleep(ctx, w.cfg.BackoffMax/4) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// ackWait is long enough for a whole batch to exhaust its retries, so the
// server does not redeliver a batch the worker is still working on.
func (w *Worker) ackWait(t Target) time.Duration {
	per := time.Duration(t.MaxAttempts) * (w.cfg.Timeout + w.cfg.BackoffMax)
	d := per * time.Duration(w.cfg.Batch)
	if d < time.Minute {
		d = time.Minute
	}
	return d
}

// backoff returns the wait after the given failed attempt (1-based).
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.BackoffBase
	for i := 1; i < attempt && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	if d > w.cfg.BackoffMax {
		d = w.cfg.BackoffMax
	}
	return d
}

// attempt runs send up to t.MaxAttempts times with backoff. It returns the
// number of attempts and the last error; a context error means the worker
// is stopping and the events must stay unacknowledged.
func (w *Worker) attempt(ctx context.Context, t Target, send func(context.Context) error) (int, error) {
	st := w.statsFor(t.Name)
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		err := send(actx)
		cancel()
		if err == nil {
			st.delivered.Add(1)
			w.deliveries.WithLabelValues(t.Name, "delivered").Inc()
			st.mu.Lock()
			st.lastSuccess = time.Now().UTC()
			st.mu.Unlock()
			return n, nil
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}

		st.failed.Add(1)
		w.deliveries.WithLabelValues(t.Name, "failed").Inc()
		st.mu.Lock()
		st.lastError = err.Error()
		st.mu.Unlock()

		var de *deliveryError
		retryable := !errors.As(err, &de) || de.retryable
		if !retryable || n >= t.MaxAttempts {
			return n, err
		}
		st.retried.Add(1)
		w.deliveries.WithLabelValues(t.Name, "retried").Inc()
		w.log.Debug("webhook delivery failed, retrying", "target", t.Name, "attempt", n, "err", err)
		if !sleep(ctx, w.backoff(n)) {
			return n, ctx.Err()
		}
	}
}

// deadLetter records an event that exhausted its attempts. An error here
// keeps the batch unacknowledged, so the event is tried again later rather
// than lost.
func (w *Worker) deadLetter(ctx context.Context, t Target, m bus.Msg, attempts int, cause error) error {
	st := w.statsFor(t.Name)
	st.dead.Add(1)
	w.deliveries.WithLabelValues(t.Name, "dead_letter").Inc()
	w.log.Warn("webhook delivery gave up, event stored as dead letter", "target", t.Name, "subject", m.Subject, "seq", m.Seq, "attempts", attempts, "err", cause)

	if w.store == nil {
		w.log.Error("no database for dead letters, event not delivered", "target", t.Name, "subject", m.Subject, "seq", m.Seq)
		return nil
	}
	payload := json.RawMessage(m.Data)
	if !json.Valid(payload) {
		payload, _ = json.Marshal(string(m.Data))
	}
	return w.store.AddDeadLetter(ctx, DeadLetter{
		Target: t.Name, Subject: m.Subject, StreamSeq: m.Seq, Payload: payload,
		Attempts: attempts, LastError: cause.Error(),
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
