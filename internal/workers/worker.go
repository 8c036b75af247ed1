// Package workers runs decnet's long-running parts. A Worker has a name and
// a Run method; the Runner starts workers in order, publishes a heartbeat
// for each on system.<name>.health, obeys stop and restart requests on
// system.<name>.control and stops everything in reverse order within a
// grace period. The Registry turns heartbeats into ok, stale and unknown
// statuses for the API.
package workers

import (
	"context"

	"github.com/decnet/decnet/internal/bus"
)

// Worker is one long-running part of decnet.
//
// Run blocks until ctx ends or the work fails. It returns nil after ctx
// ends (a clean stop) and must return within the Runner's grace period
// (5 s by default) of ctx ending.
type Worker interface {
	Name() string
	Run(ctx context.Context) error
}

// ReadySignaler is implemented by workers that take a while to start
// serving. The Runner waits for Ready to be closed before it starts the
// next worker, so that for example the bus is up before its clients.
type ReadySignaler interface {
	Ready() <-chan struct{}
}

// HealthReporter is implemented by workers that add fields to their
// heartbeat (queue depth, last error). Health must be fast and safe to call
// concurrently with Run.
type HealthReporter interface {
	Health() map[string]any
}

// Func adapts a function to Worker.
type Func struct {
	WorkerName string
	Fn         func(ctx context.Context) error
}

// NewFunc returns a Worker named name that runs fn.
func NewFunc(name string, fn func(ctx context.Context) error) Func {
	return Func{WorkerName: name, Fn: fn}
}

// Name implements Worker.
func (f Func) Name() string { return f.WorkerName }

// Run implements Worker.
func (f Func) Run(ctx context.Context) error { return f.Fn(ctx) }

// Bus is the part of *bus.Bus the workers package uses.
type Bus interface {
	Publish(ctx context.Context, subject, typ string, payload any) error
	PublishSafely(ctx context.Context, subject, typ string, payload any)
	Subscribe(subject string, handler func(bus.Msg)) (*bus.Subscription, error)
}

var _ Bus = (*bus.Bus)(nil)

// KnownWorkers lists the worker names the Registry reports on, including
// those never heard from.
var KnownWorkers = []string{
	"bus", "api", "ingester", "fleet", "canary", "clusterer", "campaign-clusterer",
	"reconciler", "orchestrator", "emailgen", "sniffer", "webhook",
}
