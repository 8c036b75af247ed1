package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// HitStore is the part of the store the recorder writes.
type HitStore interface {
	RecordCanaryHits(ctx context.Context, hits []sqlstore.CanaryHit, window time.Duration) ([]sqlstore.CanaryHitResult, error)
}

// Publisher sends bus events without waiting for each acknowledgement;
// *bus.Bus implements it.
type Publisher interface {
	PublishAsync(subject, typ string, payload any) error
	Flush(ctx context.Context) error
}

// Recorder defaults.
const (
	DefaultWindow    = 10 * time.Second
	DefaultBatchSize = 2048
	DefaultQueueSize = 16384
	// writeAttempts bounds the retries of one batch write.
	writeAttempts = 5
	// publishFlushTimeout bounds the wait for the bus acknowledgements of
	// one batch.
	publishFlushTimeout = 5 * time.Second
	// drainTimeout bounds the writes of hits still queued at shutdown.
	drainTimeout = 10 * time.Second
)

// EventTriggered is the envelope type of canary.<id>.triggered events.
const EventTriggered = "canary.triggered"

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Store HitStore
	// Bus receives canary.<id>.triggered events; nil publishes nothing.
	Bus Publisher
	// Window is how long repeats of a callback fold into its first
	// trigger (DefaultWindow when 0).
	Window time.Duration
	// BatchSize caps the hits written in one transaction.
	BatchSize int
	// QueueSize caps the hits waiting for a write; Submit blocks while
	// the queue is full.
	QueueSize int
	Logger    *slog.Logger
}

// Recorder queues hits from the receivers and writes them in batches, one
// transaction per batch, so that a burst costs a few commits instead of
// one per hit. After each commit it publishes a triggered event for every
// new trigger row; hits folded into an existing trigger publish nothing.
type Recorder struct {
	cfg   RecorderConfig
	log   *slog.Logger
	queue chan sqlstore.CanaryHit

	closeOnce sync.Once
	closed    chan struct{}
	// mu is held for reading by Submit while it sends and for writing by
	// Close, so the queue is never closed under a sender.
	mu sync.RWMutex

	recorded atomic.Uint64
	merged   atomic.Uint64
	lost     atomic.Uint64
	unknown  atomic.Uint64
}

// RecorderStats are the recorder's counters since it started.
type RecorderStats struct {
	// Triggers is the number of new trigger rows.
	Triggers uint64 `json:"triggers"`
	// Merged is the number of hits folded into an existing trigger.
	Merged uint64 `json:"merged"`
	// Unknown is the number of hits whose slug named no planted token.
	Unknown uint64 `json:"unknown"`
	// Lost is the number of hits dropped after every write attempt failed.
	Lost uint64 `json:"lost"`
}

// NewRecorder returns a recorder; start it with Run.
func NewRecorder(cfg RecorderConfig) *Recorder {
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg, log: log, queue: make(chan sqlstore.CanaryHit, cfg.QueueSize), closed: make(chan struct{})}
}

// ErrRecorderClosed is returned by Submit after Close.
var ErrRecorderClosed = errors.New("callback: recorder closed")

// Submit queues a hit. It blocks while the queue is full, until ctx ends
// or the recorder closes.
func (r *Recorder) Submit(ctx context.Context, h sqlstore.CanaryHit) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	select {
	case <-r.closed:
		return ErrRecorderClosed
	default:
	}

	select {
	case r.queue <- h:
		return nil
	case <-ctx.Done():
		r.lost.Add(1)
		return fmt.Errorf("callback: queue hit: %w", ctx.Err())
	}
}

// Close stops accepting hits. Run writes what is queued and returns.
func (r *Recorder) Close() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.mu.Lock()
		close(r.queue)
		r.mu.Unlock()
	})
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{Triggers: r.recorded.Load(), Merged: r.merged.Load(), Unknown: r.unknown.Load(), Lost: r.lost.Load()}
}

// Run writes queued hits until Close is called and the queue is empty.
// When ctx ends before Close, Run closes the recorder itself. Either way
// the hits still queued are written, within drainTimeout.
func (r *Recorder) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, r.Close)
	defer stop()

	// Writes outlive ctx so that queued hits are stored, but once the
	// recorder closes they get drainTimeout to finish.
	writeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-r.closed:
		case <-done:
			return
		}
		t := time.NewTimer(drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-done:
		}
	}()

	batch := make([]sqlstore.CanaryHit, 0, r.cfg.BatchSize)
	for {
		h, ok := <-r.queue
		if !ok {
			return nil
		}
		batch = append(batch[:0], h)
	fill:
		for len(batch) < r.cfg.BatchSize {
			select {
			case h, ok := <-r.queue:
				if !ok {
					break fill
				}
				batch = append(batch, h)
			default:
				break fill
			}
		}
		r.write(writeCtx, batch)
	}
}

// write stores one batch, retrying with backoff, then publishes events.
func (r *Recorder) write(ctx context.Context, batch []sqlstore.CanaryHit) {
	var (
		results []sqlstore.CanaryHitResult
		err     error
	)
	backoff := 50 * time.Millisecond
	for attempt := 1; attempt <= writeAttempts; attempt++ {
		results, err = r.cfg.Store.RecordCanaryHits(ctx, batch, r.cfg.Window)
		if err == nil {
			break
		}
		r.log.Warn("record canary hits failed", "hits", len(batch), "attempt", attempt, "err", err)
		if ctx.Err() != nil {
			break
		}
		time.Sleep(backoff)
		backoff *= 2
	}
	if err != nil {
		r.lost.Add(uint64(len(batch)))
		r.log.Error("canary hits lost after retries", "hits", len(batch), "err", err)
		return
	}

	newRows := 0
	for _, res := range results {
		if res.Merged {
			r.merged.Add(1)
			continue
		}
		newRows++
		r.recorded.Add(1)
		r.log.Debug("canary triggered", "token", res.Token.UUID, "decky", res.Token.DeckyName,
			"src", res.Trigger.SrcIP, "protocol", res.Trigger.Protocol, "echo", res.Trigger.Echo)
		r.publish(res)
	}
	r.unknown.Add(uint64(len(batch) - len(results)))

	if newRows > 0 && r.cfg.Bus != nil {
		fctx, cancel := context.WithTimeout(ctx, publishFlushTimeout)
		if err := r.cfg.Bus.Flush(fctx); err != nil {
			r.log.Warn("flush canary events", "events", newRows, "err", err)
		}
		cancel()
	}
}

// TriggeredEvent is the payload of canary.<id>.triggered.
type TriggeredEvent struct {
	TokenID       string    `json:"token_id"`
	TriggerID     string    `json:"trigger_id"`
	DeckyName     string    `json:"decky_name"`
	Kind          string    `json:"kind"`
	Generator     string    `json:"generator,omitempty"`
	PlacementPath string    `json:"placement_path"`
	Protocol      string    `json:"protocol"`
	OccurredAt    time.Time `json:"occurred_at"`
	SrcIP         string    `json:"src_ip"`
	PeerAddr      string    `json:"peer_addr"`
	ForwardedFor  []string  `json:"forwarded_for,omitempty"`
	Method        string    `json:"method,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`
	RequestPath   string    `json:"request_path,omitempty"`
	DNSQName      string    `json:"dns_qname,omitempty"`
	DNSQType      uint16    `json:"dns_qtype,omitempty"`
	AttackerID    string    `json:"attacker_id,omitempty"`
	Echo          bool      `json:"echo"`
	EchoOf        string    `json:"echo_of,omitempty"`
}

func (r *Recorder) publish(res sqlstore.CanaryHitResult) {
	if r.cfg.Bus == nil {
		return
	}
	subject, err := bus.CanaryTriggered(res.Token.UUID)
	if err != nil {
		r.log.Warn("canary event subject", "token", res.Token.UUID, "err", err)
		return
	}
	t := res.Trigger
	ev := TriggeredEvent{TokenID: res.Token.UUID, TriggerID: t.UUID, DeckyName: res.Token.DeckyName, Kind: res.Token.Kind,
		Generator: res.Token.Generator, PlacementPath: res.Token.PlacementPath, Protocol: t.Protocol,
		OccurredAt: t.OccurredAt, SrcIP: t.SrcIP, PeerAddr: t.PeerAddr, ForwardedFor: t.ForwardedFor, Method: t.Method,
		UserAgent: t.UserAgent, RequestPath: t.RequestPath, DNSQName: t.DNSQName, DNSQType: t.DNSQType,
		AttackerID: t.AttackerID, Echo: t.Echo, EchoOf: t.EchoOf}
	if err := r.cfg.Bus.PublishAsync(subject, EventTriggered, ev); err != nil {
		r.log.Warn("publish canary event", "token", res.Token.UUID, "trigger", t.UUID, "err", err)
	}
}
