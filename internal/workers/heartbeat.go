package workers

import (
	"context"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// DefaultHeartbeatInterval is how often a worker publishes its heartbeat.
const DefaultHeartbeatInterval = 30 * time.Second

// TypeHeartbeat is the envelope type of a heartbeat.
const TypeHeartbeat = "heartbeat"

// Heartbeat is the payload published on system.<worker>.health.
type Heartbeat struct {
	Worker     string         `json:"worker"`
	InstanceID string         `json:"instance_id"`
	PID        int            `json:"pid"`
	Host       string         `json:"host"`
	StartedAt  time.Time      `json:"started_at"`
	TS         time.Time      `json:"ts"`
	Extra      map[string]any `json:"extra,omitempty"`
}

// heartbeater publishes one worker's heartbeats.
type heartbeater struct {
	bus      Bus
	base     Heartbeat
	interval time.Duration
	now      func() time.Time
	extra    func() map[string]any
}

// run publishes a heartbeat at once and then every interval until ctx ends.
// A failed publish is counted by the bus and never stops the loop.
func (h *heartbeater) run(ctx context.Context) {
	subject, err := bus.SystemHealth(h.base.Worker)
	if err != nil {
		return
	}

	ticker := time.NewTicker(h.interval)
	defer ticker.Stop()
	for {
		hb := h.base
		hb.TS = h.now().UTC()
		if h.extra != nil {
			hb.Extra = h.extra()
		}
		h.bus.PublishSafely(ctx, subject, TypeHeartbeat, hb)

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
