package callback

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// testWorker is a running Worker with its store and bus.
type testWorker struct {
	w     *Worker
	store *sqlstore.Store
	bus   *bus.Bus

	mu     sync.Mutex
	events []TriggeredEvent
}

const testZone = "t.test"

// startWorker runs a worker on loopback ports picked by the kernel, with
// a real SQLite store and an embedded NATS server, and collects the
// triggered events it publishes.
func startWorker(t testing.TB, trusted ...netip.Prefix) *testWorker {
	t.Helper()
	tw := &testWorker{store: openStore(t)}

	srv := bustest.Start(t)
	tw.bus = bustest.ConnectInProcess(t, srv, "canary-test")
	sub, err := tw.bus.Subscribe(bus.FilterAllCanary, func(m bus.Msg) {
		env, err := m.Envelope()
		if err != nil {
			return
		}
		var ev TriggeredEvent
		if env.UnmarshalPayload(&ev) == nil {
			tw.mu.Lock()
			tw.events = append(tw.events, ev)
			tw.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })

	rec := NewRecorder(RecorderConfig{Store: tw.store, Bus: tw.bus, Window: 5 * time.Second})
	w, err := NewWorker(Config{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", Zone: testZone,
		TrustedProxies: trusted, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	tw.w = w

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("worker stopped before it was ready: %v", err)
	}
	return tw
}

// eventsFor returns the triggered events of one token seen so far.
func (tw *testWorker) eventsFor(tokenUUID string) []TriggeredEvent {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []TriggeredEvent
	for _, ev := range tw.events {
		if ev.TokenID == tokenUUID {
			out = append(out, ev)
		}
	}
	return out
}

func (tw *testWorker) waitEvents(t testing.TB, tokenUUID string, n int) []TriggeredEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := tw.eventsFor(tokenUUID)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(evs)
			t.Fatalf("got %d triggered events for %s within 10 s, want %d: %s", len(evs), tokenUUID, n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerStopsWithHalfSentRequest holds an HTTP request half sent,
// as a slow client does, and stops the worker: Run must return within the
// 3 s that decnet up gives a worker.
func TestWorkerStopsWithHalfSentRequest(t *testing.T) {
	rec := NewRecorder(RecorderConfig{Store: openStore(t), Window: time.Second})
	w, err := NewWorker(Config{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", Zone: testZone, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Ready()

	conn, err := net.Dial("tcp", w.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /c/x HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return within 3 s of the cancel while a request was half sent")
	}
}
