package workers

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// Status of a worker in the Registry.
type Status string

// Worker statuses.
const (
	StatusOK      Status = "ok"      // heartbeat received less than StaleAfter ago
	StatusStale   Status = "stale"   // last heartbeat older than StaleAfter
	StatusUnknown Status = "unknown" // a known worker never heard from
)

// Registry defaults.
const (
	// DefaultStaleAfter is three heartbeat intervals.
	DefaultStaleAfter = 3 * DefaultHeartbeatInterval

	// DefaultForgetAfter drops an instance silent for that long, so
	// restarted processes do not pile up.
	DefaultForgetAfter = 24 * time.Hour

	maxHeartbeatBytes = 16 << 10
)

// WorkerStatus is one line of the Registry: a worker instance, or a known
// worker with no instance heard from.
type WorkerStatus struct {
	Name       string     `json:"name"`
	InstanceID string     `json:"instance_id,omitempty"`
	Status     Status     `json:"status"`
	LastSeen   time.Time  `json:"last_seen,omitzero"`
	Heartbeat  *Heartbeat `json:"heartbeat,omitempty"`
}

type registryEntry struct {
	hb       Heartbeat
	lastSeen time.Time
}

// Registry keeps the last heartbeat of every worker instance. Ages are
// measured from the time the Registry received a heartbeat, on its own
// clock, so clock skew between hosts does not matter. It is safe for
// concurrent use.
type Registry struct {
	known       []string
	now         func() time.Time
	staleAfter  time.Duration
	forgetAfter time.Duration

	// mu protects seen: worker name → instance id → entry.
	mu   sync.Mutex
	seen map[string]map[string]registryEntry
}

// NewRegistry returns a Registry that reports on known (KnownWorkers when
// nil) and ignores heartbeats of other names. now may be nil for time.Now.
func NewRegistry(known []string, now func() time.Time) *Registry {
	if known == nil {
		known = KnownWorkers
	}
	if now == nil {
		now = time.Now
	}
	return &Registry{
		known:       slices.Clone(known),
		now:         now,
		staleAfter:  DefaultStaleAfter,
		forgetAfter: DefaultForgetAfter,
		seen:        map[string]map[string]registryEntry{},
	}
}

// Subscribe feeds the Registry with every system.*.health message until the
// subscription ends.
func (r *Registry) Subscribe(b Bus) (*bus.Subscription, error) {
	return b.Subscribe(bus.FilterAllHealth, r.HandleMsg)
}

// HandleMsg records a heartbeat message. The worker name comes from the
// subject; messages that do not parse or name an unknown worker are
// dropped.
func (r *Registry) HandleMsg(m bus.Msg) {
	name, leaf, err := bus.ParseSystem(m.Subject)
	if err != nil || leaf != "health" || len(m.Data) > maxHeartbeatBytes {
		return
	}
	env, err := m.Envelope()
	if err != nil {
		return
	}
	var hb Heartbeat
	if err := json.Unmarshal(env.Payload, &hb); err != nil {
		return
	}
	hb.Worker = name
	r.Observe(hb)
}

// Observe records hb as received now.
func (r *Registry) Observe(hb Heartbeat) {
	if !slices.Contains(r.known, hb.Worker) {
		return
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	insts := r.seen[hb.Worker]
	if insts == nil {
		insts = map[string]registryEntry{}
		r.seen[hb.Worker] = insts
	}
	insts[hb.InstanceID] = registryEntry{hb: hb, lastSeen: r.now()}
}

// Snapshot returns the status of every known worker: one line per instance
// heard from, newest first, or one StatusUnknown line. Workers keep the
// order of the known list.
func (r *Registry) Snapshot() []WorkerStatus {
	now := r.now()

	r.mu.Lock()
	defer r.mu.Unlock()

	var out []WorkerStatus
	for _, name := range r.known {
		insts := r.seen[name]
		for id, e := range insts {
			if now.Sub(e.lastSeen) > r.forgetAfter {
				delete(insts, id)
			}
		}
		if len(insts) == 0 {
			out = append(out, WorkerStatus{Name: name, Status: StatusUnknown})
			continue
		}

		lines := make([]WorkerStatus, 0, len(insts))
		for id, e := range insts {
			hb := e.hb
			st := StatusOK
			if now.Sub(e.lastSeen) >= r.staleAfter {
				st = StatusStale
			}
			lines = append(lines, WorkerStatus{Name: name, InstanceID: id, Status: st, LastSeen: e.lastSeen, Heartbeat: &hb})
		}
		sort.Slice(lines, func(i, j int) bool {
			if !lines[i].LastSeen.Equal(lines[j].LastSeen) {
				return lines[i].LastSeen.After(lines[j].LastSeen)
			}
			return lines[i].InstanceID < lines[j].InstanceID
		})
		out = append(out, lines...)
	}
	return out
}

// Status returns the best status of one worker across its instances (ok
// over stale over unknown) and false for a name not in the known list.
func (r *Registry) Status(name string) (Status, bool) {
	if !slices.Contains(r.known, name) {
		return "", false
	}
	best := StatusUnknown
	for _, ws := range r.Snapshot() {
		if ws.Name != name {
			continue
		}
		if ws.Status == StatusOK {
			return StatusOK, true
		}
		if ws.Status == StatusStale {
			best = StatusStale
		}
	}
	return best, true
}
