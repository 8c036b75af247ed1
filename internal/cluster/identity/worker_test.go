package identity

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
)

// fakeTicker counts ticks; block, when set, holds the first tick until it
// is closed.
type fakeTicker struct {
	mu      sync.Mutex
	n       int
	fail    bool
	block   chan struct{}
	started chan struct{}
	res     Result
}

func (f *fakeTicker) Tick(ctx context.Context) (Result, error) {
	f.mu.Lock()
	f.n++
	n, block, fail := f.n, f.block, f.fail
	f.mu.Unlock()
	if n == 1 && block != nil {
		close(f.started)
		<-block
	}
	if fail {
		return Result{}, errors.New("tick exploded")
	}
	return f.res, nil
}

func (f *fakeTicker) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// waitFor polls cond until it holds or 10 seconds pass.
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

func runWorker(t *testing.T, w *Worker) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func TestWorkerPollsAndSurvivesFailures(t *testing.T) {
	ft := &fakeTicker{fail: true}
	w := &Worker{Clusterer: ft, PollInterval: 10 * time.Millisecond}
	stop := runWorker(t, w)
	waitFor(t, "three failing ticks", func() bool { return ft.count() >= 3 })
	stop()
	if h := w.Health(); h["tick_failures"].(int64) < 3 || h["last_error"] != "tick exploded" {
		t.Errorf("health = %v, want failures counted and the last error", h)
	}
}

func TestWorkerWakesOnAttackerObserved(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "clusterer-test")
	pub := bustest.Connect(t, srv, "ingester-test")

	ft := &fakeTicker{}
	w := &Worker{Clusterer: ft, Bus: b, Debounce: 10 * time.Millisecond, PollInterval: time.Hour}
	stop := runWorker(t, w)
	defer stop()
	waitFor(t, "the first tick", func() bool { return ft.count() == 1 })

	for _, subject := range []string{bus.AttackerObserved, bus.AttackerScored} {
		before := ft.count()
		// The subscription may not be live yet right after the first tick,
		// so publish until a tick follows.
		waitFor(t, "a tick after "+subject, func() bool {
			pub.PublishSafely(context.Background(), subject, "observed", map[string]string{"ip": "127.0.0.1"})
			time.Sleep(20 * time.Millisecond)
			return ft.count() > before
		})
	}
}

func TestWorkerWakeDuringTickIsNotLost(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "clusterer-test")
	pub := bustest.Connect(t, srv, "ingester-test")

	ft := &fakeTicker{block: make(chan struct{}), started: make(chan struct{})}
	w := &Worker{Clusterer: ft, Bus: b, Debounce: time.Millisecond, PollInterval: time.Hour}
	stop := runWorker(t, w)
	defer stop()

	<-ft.started
	// The subscriptions are made before the first tick starts.
	if err := pub.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	pub.PublishSafely(context.Background(), bus.AttackerObserved, "observed", map[string]string{})
	if err := pub.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	close(ft.block)
	waitFor(t, "a second tick for the wake-up during the first", func() bool { return ft.count() >= 2 })
}

func TestPublishOrderAndPayloads(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "clusterer-test")
	sub := bustest.Connect(t, srv, "reader")

	var mu sync.Mutex
	var got []string
	var payloads []json.RawMessage
	s, err := sub.Subscribe(bus.FilterAllIdentity, func(m bus.Msg) {
		env, err := m.Envelope()
		if err != nil {
			t.Errorf("decode envelope: %v", err)
			return
		}
		mu.Lock()
		got = append(got, m.Subject+" "+env.Type)
		payloads = append(payloads, env.Payload)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := sub.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	Publish(context.Background(), b, Result{
		Formed:   []Formed{{IdentityUUID: "i-1", ObservationUUIDs: []string{"o-1", "o-2"}}},
		Linked:   []Linked{{IdentityUUID: "i-1", ObservationUUID: "o-3"}},
		Merged:   []Merged{{WinnerUUID: "i-1", LoserUUID: "i-2", IdentityUUID: "i-1"}},
		Unmerged: []Unmerged{{ResurrectedUUID: "i-3", FormerWinnerUUID: "i-1"}},
	})
	waitFor(t, "four identity events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4
	})
	want := []string{
		"identity.formed formed",
		"identity.observation.linked observation.linked",
		"identity.merged merged",
		"identity.unmerged unmerged",
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	var formed Formed
	if err := json.Unmarshal(payloads[0], &formed); err != nil || formed.IdentityUUID != "i-1" || len(formed.ObservationUUIDs) != 2 {
		t.Errorf("formed payload = %s (%v)", payloads[0], err)
	}
}

// TestWorkerEndToEnd runs the real clusterer on real SQLite behind the
// worker and checks the events a subscriber on identity.> receives.
func TestWorkerEndToEnd(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "clusterer-test")
	pub := bustest.Connect(t, srv, "ingester-test")
	reader := bustest.Connect(t, srv, "reader")

	events := make(chan string, 16)
	s, err := reader.Subscribe(bus.FilterAllIdentity, func(m bus.Msg) {
		env, err := m.Envelope()
		if err == nil {
			events <- m.Subject + " " + string(env.Payload)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := reader.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	a := ingestOne(t, st, source{ip: "127.2.0.1", ja3: "J"})
	c := New(st, Options{Now: clock.now, NewUUID: sequentialUUIDs("id")})
	w := &Worker{Clusterer: c, Bus: b, Debounce: 10 * time.Millisecond, PollInterval: time.Hour}
	stop := runWorker(t, w)
	defer stop()

	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no identity event within 10 s")
			return ""
		}
	}
	if got, want := next(), `identity.formed {"identity_uuid":"id-0001","observation_uuids":["`+a.UUID+`"]}`; got != want {
		t.Errorf("first event = %s, want %s", got, want)
	}

	clock.advance(time.Minute)
	n := ingestOne(t, st, source{ip: "127.2.0.2", ja3: "J"})
	pub.PublishSafely(context.Background(), bus.AttackerObserved, "observed", map[string]string{"ip": "127.2.0.2"})
	if got, want := next(), `identity.observation.linked {"identity_uuid":"id-0001","observation_uuid":"`+n.UUID+`"}`; got != want {
		t.Errorf("second event = %s, want %s", got, want)
	}
}
