package workers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/workers"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// journal records what workers did, in order.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, s)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.lines...)
}

// readyWorker records its start once running, signals ready, and records
// its stop when ctx ends.
type readyWorker struct {
	name  string
	j     *journal
	ready chan struct{}
	fail  error // returned before ready when set
}

func newReadyWorker(name string, j *journal) *readyWorker {
	return &readyWorker{name: name, j: j, ready: make(chan struct{})}
}

func (w *readyWorker) Name() string           { return w.name }
func (w *readyWorker) Ready() <-chan struct{} { return w.ready }

func (w *readyWorker) Run(ctx context.Context) error {
	w.j.add("start " + w.name)
	if w.fail != nil {
		return w.fail
	}
	close(w.ready)
	<-ctx.Done()
	w.j.add("stop " + w.name)
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunnerOrderAndReverseStop(t *testing.T) {
	j := &journal{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	done := make(chan error, 1)
	go func() {
		r := &workers.Runner{}
		done <- r.Run(ctx, newReadyWorker("bus", j), newReadyWorker("ingester", j), newReadyWorker("api", j))
	}()

	waitFor(t, "three starts", func() bool { return len(j.get()) == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := []string{"start bus", "start ingester", "start api", "stop api", "stop ingester", "stop bus"}
	if diff := cmp.Diff(j.get(), want); diff != "" {
		t.Errorf("journal (-got +want):\n%s", diff)
	}
}

func TestRunnerStopsAllOnFailure(t *testing.T) {
	j := &journal{}
	failing := newReadyWorker("ingester", j)
	failing.fail = errors.New("open database: disk full")

	// The failure happens after api started; api must still be stopped
	// before bus.
	gate := make(chan struct{})
	slowFail := workers.NewFunc("ingester", func(ctx context.Context) error {
		j.add("start ingester")
		select {
		case <-gate:
			return failing.fail
		case <-ctx.Done():
			return nil
		}
	})

	done := make(chan error, 1)
	go func() {
		r := &workers.Runner{}
		done <- r.Run(context.Background(), newReadyWorker("bus", j), slowFail, newReadyWorker("api", j))
	}()
	waitFor(t, "three starts", func() bool { return len(j.get()) == 3 })
	close(gate)

	err := <-done
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v, want the ingester failure", err)
	}
	got := j.get()[3:]
	if diff := cmp.Diff(got, []string{"stop api", "stop bus"}); diff != "" {
		t.Errorf("stops (-got +want):\n%s", diff)
	}
}

func TestRunnerFailureBeforeReady(t *testing.T) {
	j := &journal{}
	bad := newReadyWorker("ingester", j)
	bad.fail = errors.New("bind: address in use")
	never := newReadyWorker("api", j)

	r := &workers.Runner{}
	err := r.Run(context.Background(), newReadyWorker("bus", j), bad, never)
	if err == nil || !strings.Contains(err.Error(), "address in use") {
		t.Fatalf("Run = %v, want the ingester failure", err)
	}
	if diff := cmp.Diff(j.get(), []string{"start bus", "start ingester", "stop bus"}); diff != "" {
		t.Errorf("journal (-got +want):\n%s", diff)
	}
}

func TestRunnerReportsStuckWorker(t *testing.T) {
	j := &journal{}
	release := make(chan struct{})
	stuck := workers.NewFunc("sniffer", func(context.Context) error {
		<-release // ignores ctx on purpose
		return nil
	})
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		r := &workers.Runner{Grace: 200 * time.Millisecond}
		done <- r.Run(ctx, newReadyWorker("bus", j), stuck, newReadyWorker("api", j))
	}()
	waitFor(t, "two starts", func() bool { return len(j.get()) == 2 })
	cancel()

	err := <-done
	var ste *workers.StopTimeoutError
	if !errors.As(err, &ste) {
		t.Fatalf("Run = %v, want a StopTimeoutError", err)
	}
	if diff := cmp.Diff(ste.Workers, []string{"sniffer"}); diff != "" {
		t.Errorf("stuck workers (-got +want):\n%s", diff)
	}
	// bus is cancelled once the ordered phase gives up on sniffer.
	if diff := cmp.Diff(j.get(), []string{"start bus", "start api", "stop api", "stop bus"}); diff != "" {
		t.Errorf("journal (-got +want):\n%s", diff)
	}
}

func TestRunnerPanicIsFailure(t *testing.T) {
	r := &workers.Runner{}
	err := r.Run(context.Background(), workers.NewFunc("profiler", func(context.Context) error {
		panic("index out of range")
	}))
	if err == nil || !strings.Contains(err.Error(), "panic: index out of range") {
		t.Fatalf("Run = %v, want the panic as an error", err)
	}
}

func TestRunnerReturnsWhenAllFinish(t *testing.T) {
	r := &workers.Runner{}
	err := r.Run(context.Background(),
		workers.NewFunc("a", func(context.Context) error { return nil }),
		workers.NewFunc("b", func(context.Context) error { return nil }),
	)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestRunnerRejectsDuplicateNames(t *testing.T) {
	r := &workers.Runner{}
	noop := func(context.Context) error { return nil }
	if err := r.Run(context.Background(), workers.NewFunc("a", noop), workers.NewFunc("a", noop)); err == nil {
		t.Fatal("Run with two workers named a succeeded, want an error")
	}
}
