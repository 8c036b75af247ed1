package api

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/workers"
)

// KnownWorkers are the workers /api/v1/workers lists even before their
// first heartbeat (as "unknown").
var KnownWorkers = workers.KnownWorkers

// HeartbeatStaleAfter is when a worker turns stale: three missed 30-second
// heartbeats.
const HeartbeatStaleAfter = 90 * time.Second

// heartbeatTracker records the last heartbeat per worker from
// system.<name>.health.
type heartbeatTracker struct {
	now func() time.Time

	mu   sync.Mutex // mu protects last and extra
	last map[string]time.Time
	info map[string]map[string]any
}

func newHeartbeatTracker(now func() time.Time) *heartbeatTracker {
	return &heartbeatTracker{now: now, last: map[string]time.Time{}, info: map[string]map[string]any{}}
}

// start subscribes to heartbeats; the returned function unsubscribes.
func (t *heartbeatTracker) start(b Bus) (func(), error) {
	sub, err := b.Subscribe(bus.FilterAllHealth, t.record)
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// record stores one heartbeat. The time is the receive time, so a worker
// with a skewed clock is judged by this host's clock.
func (t *heartbeatTracker) record(m bus.Msg) {
	worker, leaf, err := bus.ParseSystem(m.Subject)
	if err != nil || leaf != "health" {
		return
	}
	var extra map[string]any
	if env, err := m.Envelope(); err == nil {
		_ = json.Unmarshal(env.Payload, &extra)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.last[worker]; !seen && len(t.last) >= 256 {
		return // bound the map against junk worker names
	}
	t.last[worker] = t.now()
	t.info[worker] = extra
}

// ListWorkers implements WorkerLister.
func (t *heartbeatTracker) ListWorkers() []WorkerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()

	names := map[string]bool{}
	for _, n := range KnownWorkers {
		names[n] = true
	}
	for n := range t.last {
		names[n] = true
	}

	now := t.now()
	out := make([]WorkerStatus, 0, len(names))
	for n := range names {
		ws := WorkerStatus{Name: n, Status: "unknown"}
		if last, ok := t.last[n]; ok {
			last := last
			ws.LastHeartbeat = &last
			ws.Extra = t.info[n]
			ws.Status = "ok"
			if now.Sub(last) >= HeartbeatStaleAfter {
				ws.Status = "stale"
			}
		}
		out = append(out, ws)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
