package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/bus"
)

// Runner defaults.
const (
	DefaultGrace        = 5 * time.Second
	DefaultReadyTimeout = 30 * time.Second
)

// StopTimeoutError lists the workers that were still running when the grace
// period ended.
type StopTimeoutError struct {
	Workers []string
	Grace   time.Duration
}

func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("workers did not stop within %s: %s", e.Grace, strings.Join(e.Workers, ", "))
}

// Runner runs a set of workers. The zero value works without a bus; set the
// fields before calling Run.
//
// Run starts the workers in the order given, each in its own goroutine,
// waiting for a ReadySignaler to be ready before starting the next. When
// ctx ends or a worker returns an error, it stops the running workers in
// reverse order, all within Grace. A worker that returns nil on its own
// (or after a stop request) just leaves the set; Run returns nil once none
// is left.
type Runner struct {
	// Bus carries heartbeats and control requests; nil disables both.
	Bus Bus

	Logger *slog.Logger

	// InstanceID identifies this process in heartbeats (default a random
	// uuid).
	InstanceID string

	Grace             time.Duration    // default DefaultGrace
	ReadyTimeout      time.Duration    // default DefaultReadyTimeout
	HeartbeatInterval time.Duration    // default DefaultHeartbeatInterval
	Now               func() time.Time // default time.Now
}

// slot is one worker under the runner. Only the Run goroutine touches it.
type slot struct {
	w       Worker
	cancel  context.CancelFunc
	done    chan struct{} // closed when the current run returns
	running bool

	stopRequested    bool
	restartRequested bool

	ctlSub *bus.Subscription
}

type exitEvent struct {
	idx  int
	done chan struct{}
	err  error
}

type controlEvent struct {
	idx int
	req ControlRequest
}

func (r *Runner) defaults() {
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.InstanceID == "" {
		r.InstanceID = uuid.NewString()
	}
	if r.Grace <= 0 {
		r.Grace = DefaultGrace
	}
	if r.ReadyTimeout <= 0 {
		r.ReadyTimeout = DefaultReadyTimeout
	}
	if r.HeartbeatInterval <= 0 {
		r.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

// run holds the state of one Run call.
type run struct {
	r        *Runner
	slots    []*slot
	exits    chan exitEvent
	controls chan controlEvent
	hbWG     sync.WaitGroup
}

// Run runs ws until ctx ends, a worker fails, or every worker has stopped.
// It returns the first worker error, joined with a *StopTimeoutError when
// some worker outlived the grace period.
func (r *Runner) Run(ctx context.Context, ws ...Worker) error {
	r.defaults()

	seen := map[string]bool{}
	for _, w := range ws {
		if seen[w.Name()] {
			return fmt.Errorf("workers: duplicate worker name %q", w.Name())
		}
		seen[w.Name()] = true
	}

	rn := &run{
		r:        r,
		exits:    make(chan exitEvent, len(ws)),
		controls: make(chan controlEvent, 16),
	}
	defer rn.hbWG.Wait()

	for i, w := range ws {
		rn.slots = append(rn.slots, &slot{w: w})
		if err := rn.startAndWaitReady(ctx, i); err != nil {
			return errors.Join(err, rn.stopAll())
		}
		if ctx.Err() != nil {
			return rn.stopAll()
		}
	}
	return rn.loop(ctx)
}

func (rn *run) loop(ctx context.Context) error {
	for rn.live() > 0 {
		select {
		case <-ctx.Done():
			rn.r.Logger.Info("stopping workers", "reason", context.Cause(ctx))
			return rn.stopAll()

		case ev := <-rn.exits:
			if err := rn.handleExit(ctx, ev); err != nil {
				return errors.Join(err, rn.stopAll())
			}

		case ce := <-rn.controls:
			rn.handleControl(ce)
		}
	}
	rn.unsubscribeAll()
	return nil
}

func (rn *run) live() int {
	n := 0
	for _, s := range rn.slots {
		if s.running {
			n++
		}
	}
	return n
}

// handleExit processes a finished run and returns a non-nil error when
// everything must stop.
func (rn *run) handleExit(ctx context.Context, ev exitEvent) error {
	s := rn.slots[ev.idx]
	if s.done != ev.done {
		return nil // a run already accounted for during a restart
	}
	s.running = false
	name := s.w.Name()

	switch {
	case s.restartRequested:
		s.restartRequested = false
		rn.r.Logger.Info("worker restarting", "worker", name, "err", ev.err)
		return rn.start(ctx, ev.idx)
	case s.stopRequested:
		rn.r.Logger.Info("worker stopped on request", "worker", name, "err", ev.err)
		rn.unsubscribe(s)
		return nil
	case ev.err != nil:
		rn.r.Logger.Error("worker failed", "worker", name, "err", ev.err)
		return fmt.Errorf("worker %s: %w", name, ev.err)
	default:
		rn.r.Logger.Info("worker finished", "worker", name)
		rn.unsubscribe(s)
		return nil
	}
}

func (rn *run) handleControl(ce controlEvent) {
	s := rn.slots[ce.idx]
	name := s.w.Name()
	if !s.running {
		rn.r.Logger.Info("control request for a stopped worker ignored", "worker", name, "action", ce.req.Action)
		return
	}

	switch ce.req.Action {
	case ActionStop:
		rn.r.Logger.Info("stop requested", "worker", name, "requested_by", ce.req.RequestedBy)
		s.stopRequested = true
		s.cancel()
	case ActionRestart:
		rn.r.Logger.Info("restart requested", "worker", name, "requested_by", ce.req.RequestedBy)
		s.restartRequested = true
		s.cancel()
	default:
		rn.r.Logger.Info("unknown control action ignored", "worker", name, "action", ce.req.Action)
	}
}

// startAndWaitReady starts worker idx and, for a ReadySignaler, waits until
// it is ready.
func (rn *run) startAndWaitReady(ctx context.Context, idx int) error {
	if err := rn.start(ctx, idx); err != nil {
		return err
	}
	s := rn.slots[idx]
	rs, ok := s.w.(ReadySignaler)
	if !ok {
		return nil
	}

	timer := time.NewTimer(rn.r.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-rs.Ready():
		return nil
	case ev := <-rn.exits:
		// Only this worker can have exited without being ready; others
		// are handled the usual way.
		if err := rn.handleExit(ctx, ev); err != nil {
			return err
		}
		if ev.idx == idx {
			return fmt.Errorf("worker %s exited before it was ready", s.w.Name())
		}
		return rn.waitReadyAgain(ctx, idx, rs, timer)
	case <-ctx.Done():
		return nil
	case <-timer.C:
		return fmt.Errorf("worker %s not ready after %s", s.w.Name(), rn.r.ReadyTimeout)
	}
}

func (rn *run) waitReadyAgain(ctx context.Context, idx int, rs ReadySignaler, timer *time.Timer) error {
	select {
	case <-rs.Ready():
		return nil
	case <-ctx.Done():
		return nil
	case <-timer.C:
		return fmt.Errorf("worker %s not ready after %s", rn.slots[idx].w.Name(), rn.r.ReadyTimeout)
	}
}

// start launches one run of worker idx with its heartbeat and, on the first
// run, its control listener.
func (rn *run) start(ctx context.Context, idx int) error {
	s := rn.slots[idx]
	name := s.w.Name()

	// The worker context does not follow ctx: stopAll cancels the workers
	// one by one in reverse order, which a shared parent would defeat.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.cancel, s.done, s.running = cancel, done, true
	s.stopRequested = false

	if rn.r.Bus != nil && s.ctlSub == nil {
		sub, err := ListenControl(rn.r.Bus, name, rn.r.Logger, func(req ControlRequest) {
			select {
			case rn.controls <- controlEvent{idx: idx, req: req}:
			default:
				rn.r.Logger.Warn("control request dropped, queue full", "worker", name, "action", req.Action)
			}
		})
		if err != nil {
			cancel()
			s.running = false
			return fmt.Errorf("worker %s: control listener: %w", name, err)
		}
		s.ctlSub = sub
	}

	rn.r.Logger.Info("worker starting", "worker", name)
	go func() {
		err := runProtected(wctx, s.w)
		cancel()
		close(done)
		rn.exits <- exitEvent{idx: idx, done: done, err: err}
	}()

	if rn.r.Bus != nil {
		rn.startHeartbeat(wctx, s.w)
	}
	return nil
}

func (rn *run) startHeartbeat(ctx context.Context, w Worker) {
	host, _ := os.Hostname()
	hb := &heartbeater{
		bus:      rn.r.Bus,
		interval: rn.r.HeartbeatInterval,
		now:      rn.r.Now,
		base: Heartbeat{
			Worker:     w.Name(),
			InstanceID: rn.r.InstanceID,
			PID:        os.Getpid(),
			Host:       host,
			StartedAt:  rn.r.Now().UTC(),
		},
	}
	if hr, ok := w.(HealthReporter); ok {
		hb.extra = hr.Health
	}

	rn.hbWG.Add(1)
	go func() {
		defer rn.hbWG.Done()
		hb.run(ctx)
	}()
}

// runProtected calls w.Run and turns a panic into an error.
func runProtected(ctx context.Context, w Worker) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return w.Run(ctx)
}

// stopAll cancels the running workers in reverse start order, waiting for
// each before cancelling the previous one. When four fifths of the grace
// period have passed it cancels all the remaining workers at once and
// waits for them until the grace period ends.
func (rn *run) stopAll() error {
	final := time.NewTimer(rn.r.Grace)
	defer final.Stop()
	ordered := time.NewTimer(rn.r.Grace * 4 / 5)
	defer ordered.Stop()

	i := len(rn.slots) - 1
sequential:
	for ; i >= 0; i-- {
		s := rn.slots[i]
		if !s.running {
			continue
		}
		s.cancel()
		select {
		case <-s.done:
			s.running = false
		case <-ordered.C:
			break sequential
		}
	}

	for j := i; j >= 0; j-- {
		if s := rn.slots[j]; s.running {
			s.cancel()
		}
	}
	var stuck []string
	expired := false
	for j := i; j >= 0; j-- {
		s := rn.slots[j]
		if !s.running {
			continue
		}
		if !expired {
			select {
			case <-s.done:
				s.running = false
				continue
			case <-final.C:
				expired = true
			}
		}
		select {
		case <-s.done:
			s.running = false
		default:
			stuck = append(stuck, s.w.Name())
		}
	}
	rn.unsubscribeAll()

	if len(stuck) > 0 {
		rn.r.Logger.Error("workers did not stop in time", "workers", stuck, "grace", rn.r.Grace)
		return &StopTimeoutError{Workers: stuck, Grace: rn.r.Grace}
	}
	return nil
}

func (rn *run) unsubscribe(s *slot) {
	if s.ctlSub == nil {
		return
	}
	if err := s.ctlSub.Unsubscribe(); err != nil {
		rn.r.Logger.Warn("control unsubscribe failed", "worker", s.w.Name(), "err", err)
	}
	s.ctlSub = nil
}

func (rn *run) unsubscribeAll() {
	for _, s := range rn.slots {
		rn.unsubscribe(s)
	}
}
