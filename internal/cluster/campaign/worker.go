package campaign

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// WorkerName is the campaign clusterer's worker name, used for its
// heartbeat and control subjects.
const WorkerName = "campaign-clusterer"

// Worker defaults.
const (
	DefaultDebounce     = 2 * time.Second
	DefaultPollInterval = 60 * time.Second
)

// Bus is the part of *bus.Bus the worker uses.
type Bus interface {
	Subscribe(subject string, handler func(bus.Msg)) (*bus.Subscription, error)
	PublishSafely(ctx context.Context, subject, typ string, payload any)
}

var _ Bus = (*bus.Bus)(nil)

// Ticker is the part of *Clusterer the worker drives.
type Ticker interface {
	Tick(ctx context.Context) (Result, error)
}

// Worker runs campaign ticks. It wakes on identity events (except the
// identity.campaign.assigned events it publishes itself), waits Debounce
// for more to arrive, and otherwise ticks every PollInterval. The wake flag
// is cleared before each tick, so a wake that arrives during a tick causes
// another one. Heartbeats and the control listener come from the
// workers.Runner that hosts it.
type Worker struct {
	Clusterer Ticker
	// Bus carries wake-ups and results; nil means poll only.
	Bus          Bus
	Logger       *slog.Logger
	Debounce     time.Duration
	PollInterval time.Duration

	mu      sync.Mutex
	ticks   uint64
	lastErr string
}

// Name implements workers.Worker.
func (w *Worker) Name() string { return WorkerName }

// Health implements workers.HealthReporter.
func (w *Worker) Health() map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := map[string]any{"ticks": w.ticks}
	if w.lastErr != "" {
		h["last_error"] = w.lastErr
	}
	return h
}

// Run implements workers.Worker. It returns nil when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
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
		sub, err := w.Bus.Subscribe(bus.FilterAllIdentity, func(m bus.Msg) {
			if m.Subject == bus.IdentityCampaignAssigned {
				return // our own output
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		if err != nil {
			log.Warn("campaign clusterer runs without bus wake-ups", "err", err)
		} else {
			defer sub.Unsubscribe()
		}
	}
	log.Info("campaign clusterer started", "poll_interval", poll)

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("campaign clusterer stopped")
			return nil
		case <-wake:
			// Debounce: let a burst of identity events settle.
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(debounce)
			continue
		case <-timer.C:
		}

		select {
		case <-wake:
		default:
		}
		w.tick(ctx, log)
		timer.Reset(poll)
	}
}

func (w *Worker) tick(ctx context.Context, log *slog.Logger) {
	res, err := w.Clusterer.Tick(ctx)
	w.mu.Lock()
	w.ticks++
	w.lastErr = ""
	if err != nil {
		w.lastErr = err.Error()
	}
	w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			log.Error("campaign tick failed", "err", err)
		}
		return
	}
	if !res.Empty() {
		log.Info("campaign tick", "formed", len(res.Formed), "assigned", len(res.Assigned),
			"merged", len(res.Merged), "unmerged", len(res.Unmerged), "identities_moved", len(res.IdentityAssigned))
	}
	if w.Bus != nil {
		Publish(ctx, w.Bus, res)
	}
}

// Publish sends a tick's results: campaign.formed, campaign.identity.assigned,
// campaign.merged and campaign.unmerged, then identity.campaign.assigned
// for every identity whose effective campaign changed. Failures are logged
// by the bus and never stop the worker.
func Publish(ctx context.Context, b Bus, res Result) {
	for _, f := range res.Formed {
		b.PublishSafely(ctx, bus.CampaignFormed, "formed", f)
	}
	for _, a := range res.Assigned {
		b.PublishSafely(ctx, bus.CampaignIdentityAssigned, "identity.assigned", a)
	}
	for _, m := range res.Merged {
		b.PublishSafely(ctx, bus.CampaignMerged, "merged", m)
	}
	for _, u := range res.Unmerged {
		b.PublishSafely(ctx, bus.CampaignUnmerged, "unmerged", u)
	}
	for _, a := range res.IdentityAssigned {
		b.PublishSafely(ctx, bus.IdentityCampaignAssigned, "campaign.assigned", a)
	}
}
