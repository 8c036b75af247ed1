package identity

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// Worker defaults.
const (
	DefaultDebounce     = 2 * time.Second
	DefaultPollInterval = 60 * time.Second
)

// WorkerName is the clusterer's worker name: its heartbeat goes to
// system.clusterer.health and its control requests come on
// system.clusterer.control.
const WorkerName = "clusterer"

// Event types: the subject leaf after "identity.".
const (
	TypeFormed            = "formed"
	TypeObservationLinked = "observation.linked"
	TypeMerged            = "merged"
	TypeUnmerged          = "unmerged"
)

// Bus is the part of *bus.Bus the worker uses.
type Bus interface {
	PublishSafely(ctx context.Context, subject, typ string, payload any)
	Subscribe(subject string, handler func(bus.Msg)) (*bus.Subscription, error)
}

var _ Bus = (*bus.Bus)(nil)

// Ticker runs one clustering pass. *Clusterer implements it.
type Ticker interface {
	Tick(ctx context.Context) (Result, error)
}

// Worker runs the clusterer: a tick at start, a tick shortly after
// attacker.observed or attacker.scored events (Debounce gathers a burst
// into one tick), and a tick every PollInterval in any case. After each
// tick that changed something it publishes identity.formed,
// identity.observation.linked, identity.merged and identity.unmerged, in
// that order; the tick has committed by then. The workers.Runner adds the
// heartbeat and the control listener.
type Worker struct {
	Clusterer Ticker
	// Bus may be nil: the worker then only polls and publishes nothing.
	Bus    Bus
	Logger *slog.Logger

	Debounce     time.Duration // default DefaultDebounce
	PollInterval time.Duration // default DefaultPollInterval

	ticks    atomic.Int64
	failures atomic.Int64
	lastErr  atomic.Pointer[string]
}

// Name implements workers.Worker.
func (w *Worker) Name() string { return WorkerName }

// Health implements workers.HealthReporter.
func (w *Worker) Health() map[string]any {
	h := map[string]any{"ticks": w.ticks.Load(), "tick_failures": w.failures.Load()}
	if e := w.lastErr.Load(); e != nil {
		h["last_error"] = *e
	}
	return h
}

// Run implements workers.Worker. It returns nil when ctx ends; a failing
// tick is logged and retried on the next wake-up or poll.
func (w *Worker) Run(ctx context.Context) error {
	if w.Clusterer == nil {
		return errors.New("clusterer worker: no clusterer")
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	debounce, poll := w.Debounce, w.PollInterval
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	if poll <= 0 {
		poll = DefaultPollInterval
	}

	wake := make(chan struct{}, 1)
	if w.Bus != nil {
		for _, subject := range []string{bus.AttackerObserved, bus.AttackerScored} {
			sub, err := w.Bus.Subscribe(subject, func(bus.Msg) {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			if err != nil {
				log.Warn("clusterer subscribe failed; polling only", "subject", subject, "err", err)
				continue
			}
			defer sub.Unsubscribe()
		}
	} else {
		log.Info("clusterer has no bus; polling only", "interval", poll)
	}

	log.Info("clusterer started", "debounce", debounce, "poll_interval", poll)
	defer log.Info("clusterer stopped")

	timer := time.NewTimer(0) // the first tick runs at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			// Let a burst of events settle into one tick.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(debounce):
			}
		}

		// Clear the wake-up before the tick, so that an event arriving
		// during the tick causes another one.
		select {
		case <-wake:
		default:
		}
		w.tick(ctx, log)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(poll)
	}
}

func (w *Worker) tick(ctx context.Context, log *slog.Logger) {
	start := time.Now()
	res, err := w.Clusterer.Tick(ctx)
	w.ticks.Add(1)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		w.failures.Add(1)
		msg := err.Error()
		w.lastErr.Store(&msg)
		log.Error("identity tick failed", "err", err)
		return
	}
	if !res.Empty() {
		log.Info("identity tick", "formed", len(res.Formed), "linked", len(res.Linked),
			"merged", len(res.Merged), "unmerged", len(res.Unmerged), "duration", time.Since(start))
	}
	if w.Bus != nil {
		Publish(ctx, w.Bus, res)
	}
}

// Publisher is the publishing half of Bus.
type Publisher interface {
	PublishSafely(ctx context.Context, subject, typ string, payload any)
}

// Publish sends a tick's events: every formed identity, then every link,
// every merge and every unmerge. Failures are logged and counted by the
// bus and never returned.
func Publish(ctx context.Context, p Publisher, res Result) {
	for _, f := range res.Formed {
		p.PublishSafely(ctx, bus.IdentityFormed, TypeFormed, f)
	}
	for _, l := range res.Linked {
		p.PublishSafely(ctx, bus.IdentityObservationLinked, TypeObservationLinked, l)
	}
	for _, m := range res.Merged {
		p.PublishSafely(ctx, bus.IdentityMerged, TypeMerged, m)
	}
	for _, u := range res.Unmerged {
		p.PublishSafely(ctx, bus.IdentityUnmerged, TypeUnmerged, u)
	}
}
