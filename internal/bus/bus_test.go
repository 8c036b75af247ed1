package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/services"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publishEvents(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		subject, err := bus.Log("web1", "ssh")
		if err != nil {
			t.Fatal(err)
		}
		ev := services.Event{Decky: "web1", Service: "ssh", Kind: services.KindConnect, SrcIP: "127.0.0.9", SrcPort: 1000 + i}
		if err := b.Publish(ctx, subject, bus.TypeServiceEvent, ev); err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
}

// collectEvents runs ConsumeEvents until want distinct source ports arrived
// and returns them sorted.
func collectEvents(t *testing.T, b *bus.Bus, durable string, want int) []int {
	t.Helper()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	seen := map[int]bool{}
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeEvents(ctx, durable, 7, nil, func(_ context.Context, msgs []bus.Msg, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				env, err := m.Envelope()
				if err != nil {
					return err
				}
				var ev services.Event
				if err := env.UnmarshalPayload(&ev); err != nil {
					return err
				}
				if m.Seq == 0 {
					return fmt.Errorf("message %s has no stream sequence", env.ID)
				}
				seen[ev.SrcPort] = true
			}
			return nil
		})
	}()

	waitFor(t, fmt.Sprintf("%d events", want), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= want
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeEvents: %v", err)
	}

	ports := make([]int, 0, len(seen))
	for p := range seen {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return ports
}

func wantPorts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1000 + i
	}
	return out
}

func TestEventsPersistWithoutConsumer(t *testing.T) {
	dir := t.TempDir()

	srv := bustest.StartIn(t, dir)
	pub := bustest.Connect(t, srv, "emitter")
	publishEvents(t, pub, 25)

	// The consumer starts only after every event was published.
	sub := bustest.ConnectInProcess(t, srv, "ingester")
	if diff := cmp.Diff(collectEvents(t, sub, "ingester-a", 25), wantPorts(25)); diff != "" {
		t.Errorf("first consumer (-got +want):\n%s", diff)
	}
	pub.Close()
	sub.Close()
	bustest.Stop(t, srv)

	// Same data dir, new server: the stream and its messages are still there.
	srv2 := bustest.StartIn(t, dir)
	sub2 := bustest.ConnectInProcess(t, srv2, "ingester")
	if diff := cmp.Diff(collectEvents(t, sub2, "ingester-b", 25), wantPorts(25)); diff != "" {
		t.Errorf("consumer after restart (-got +want):\n%s", diff)
	}
}

func TestConsumeRedeliversFailedBatch(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")
	publishEvents(t, b, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	calls := 0
	var acked []uint64
	var redelivered bool
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, bus.ConsumeConfig{
			Stream: bus.EventsStream, Durable: "flaky", Batch: 10, Retry: 50 * time.Millisecond,
		}, func(_ context.Context, msgs []bus.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return errors.New("database is locked")
			}
			for _, m := range msgs {
				if m.NumDelivered > 1 {
					redelivered = true
				}
				acked = append(acked, m.Seq)
			}
			return nil
		})
	}()

	waitFor(t, "3 acknowledged messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if !redelivered {
		t.Errorf("no message was marked redelivered after the failed batch")
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	if diff := cmp.Diff(acked, []uint64{1, 2, 3}); diff != "" {
		t.Errorf("acknowledged sequences (-got +want):\n%s", diff)
	}
}

// TestConsumeLaterBatchKeepsFailedOne fails a batch and lets a later batch
// succeed while the failed one waits out its retry delay: the later
// acknowledgement must not cover the failed messages.
func TestConsumeLaterBatchKeepsFailedOne(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")
	publishEvents(t, b, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	failed := make(chan struct{})
	calls := 0
	var acked []uint64
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, bus.ConsumeConfig{
			Stream: bus.EventsStream, Durable: "flaky", Batch: 10, Retry: 500 * time.Millisecond,
		}, func(_ context.Context, msgs []bus.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				close(failed)
				return errors.New("database is locked")
			}
			for _, m := range msgs {
				acked = append(acked, m.Seq)
			}
			return nil
		})
	}()

	<-failed
	publishEvents(t, b, 3)
	waitFor(t, "6 acknowledged messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 6
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	if diff := cmp.Diff(acked, []uint64{1, 2, 3, 4, 5, 6}); diff != "" {
		t.Errorf("acknowledged sequences (-got +want):\n%s", diff)
	}
}

func TestPublishSafelyOnClosedConnection(t *testing.T) {
	srv := bustest.Start(t)

	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	b, err := bus.ConnectInProcess(srv, "closed", bus.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	for _, subject := range []string{bus.AttackerObserved, "system.api.health", bus.AttackerScored} {
		b.PublishSafely(context.Background(), subject, "attacker", map[string]string{"ip": "127.0.0.9"})
	}

	if got := b.PublishFailures(); got != 3 {
		t.Errorf("PublishFailures() = %d, want 3", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := bytes.Count(logs.Bytes(), []byte("bus publish failed")); n != 1 {
		t.Errorf("logged %d failure lines, want 1 (rate-limited):\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestPublishRejectsInvalidSubject(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "pub")

	for _, subject := range []string{"", "log.>", "log.*.ssh", "log..ssh", "log.a b.ssh"} {
		if err := b.Publish(context.Background(), subject, "x", nil); err == nil {
			t.Errorf("Publish(%q) succeeded, want an error", subject)
		}
	}
}

func TestEnvelopeOnTheWire(t *testing.T) {
	srv := bustest.Start(t)
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	b := bustest.ConnectInProcess(t, srv, "api", bus.WithSource("api/i1"), bus.WithClock(func() time.Time { return fixed }))

	got := make(chan bus.Msg, 1)
	sub, err := b.Subscribe("system.api.health", func(m bus.Msg) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	if err := b.Publish(context.Background(), "system.api.health", "heartbeat", map[string]int{"pid": 7}); err != nil {
		t.Fatal(err)
	}
	var m bus.Msg
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no message received")
	}

	var raw map[string]any
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatal(err)
	}
	id, _ := raw["id"].(string)
	want := map[string]any{
		"schema_version": float64(1),
		"id":             id,
		"subject":        "system.api.health",
		"type":           "heartbeat",
		"ts":             "2025-01-02T02:04:05.123456789Z",
		"source":         "api/i1",
		"payload":        map[string]any{"pid": float64(7)},
	}
	if diff := cmp.Diff(raw, want); diff != "" {
		t.Errorf("envelope (-got +want):\n%s", diff)
	}
	if len(id) != 36 {
		t.Errorf("id = %q, want a uuid", id)
	}
	if m.Seq != 0 {
		t.Errorf("core message Seq = %d, want 0", m.Seq)
	}
}

func TestReplayResumesAfterSequence(t *testing.T) {
	tests := []struct {
		name     string
		afterSeq uint64
		lastN    int
		want     []uint64 // stream sequences of attacker.observed messages
	}{
		{"after sequence", 5, 0, []uint64{7, 9}},
		{"last n", 0, 4, []uint64{7, 9}},
		{"from start", 0, 100, []uint64{1, 3, 5, 7, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bustest.Start(t)
			b := bustest.ConnectInProcess(t, srv, "api")
			ctx := context.Background()
			for i := range 5 {
				if err := b.Publish(ctx, bus.AttackerObserved, "attacker", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
				if err := b.Publish(ctx, bus.CredentialCaptured, "credential", map[string]int{"n": i}); err != nil {
					t.Fatal(err)
				}
			}

			rctx, rcancel := context.WithCancel(ctx)
			defer rcancel()
			ch, err := b.Replay(rctx, bus.AttackerObserved, tt.afterSeq, tt.lastN)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for len(got) < len(tt.want) {
				select {
				case m := <-ch:
					got = append(got, m.Seq)
				case <-time.After(10 * time.Second):
					t.Fatalf("got %v, then nothing", got)
				}
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("sequences (-got +want):\n%s", diff)
			}

			// Live messages follow the history.
			if err := b.Publish(ctx, bus.AttackerObserved, "attacker", nil); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-ch:
				if m.Subject != bus.AttackerObserved || m.Seq <= tt.want[len(tt.want)-1] {
					t.Errorf("live message %s seq %d, want a later attacker.observed", m.Subject, m.Seq)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no live message after the history")
			}

			rcancel()
			for range ch {
			}
		})
	}
}

func TestReplayRejectsCoreSubject(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "api")
	if _, err := b.Replay(context.Background(), bus.FilterAllHealth, 0, 0); err == nil {
		t.Error("Replay(system.*.health) succeeded, want an error")
	}
}

func TestEventSinkPublishesAsync(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "decky")

	sink := b.EventSink()
	for i := range 10 {
		sink.Emit(services.Event{Decky: "10.0.0.1", Service: "ssh", Kind: services.KindConnect, SrcPort: 1000 + i})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(collectEvents(t, b, "ingester", 10), wantPorts(10)); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
	if got := b.PublishFailures(); got != 0 {
		t.Errorf("PublishFailures() = %d, want 0", got)
	}
}

func TestStreamLimitsUpdatedOnRestart(t *testing.T) {
	dir := t.TempDir()
	srv := bustest.StartIn(t, dir)
	bustest.Stop(t, srv)

	srv2, err := bus.StartServer(bus.ServerOptions{DataDir: dir, Port: bus.RandomPort, Streams: bus.StreamLimits{BusMaxAge: time.Hour}})
	if err != nil {
		t.Fatalf("restart with new limits: %v", err)
	}
	t.Cleanup(func() { bustest.Stop(t, srv2) })

	b := bustest.ConnectInProcess(t, srv2, "check")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, want := range map[string]time.Duration{bus.BusStream: time.Hour, bus.EventsStream: bus.DefaultStreamLimits.EventsMaxAge} {
		st, err := b.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if got := st.CachedInfo().Config.MaxAge; got != want {
			t.Errorf("stream %s MaxAge = %s, want %s", name, got, want)
		}
	}
}
