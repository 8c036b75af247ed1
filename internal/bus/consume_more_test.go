package bus_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
)

// legacyAckAllConsumer creates durable with AckAll, as the version before
// explicit acknowledgements did. It fetches the first fetch messages and
// acknowledges the one at index ackIndex, which under AckAll also
// acknowledges the ones before it. The other fetched messages stay delivered and unacknowledged.
func legacyAckAllConsumer(t *testing.T, js jetstream.JetStream, durable string, fetch, ackIndex int) {
	t.Helper()
	ctx := context.Background()

	old, err := js.CreateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable: durable, AckPolicy: jetstream.AckAllPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := old.Fetch(fetch)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range got.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != fetch {
		t.Fatalf("fetched %d messages from the legacy consumer, want %d", len(msgs), fetch)
	}
	if err := msgs[ackIndex].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
}

func connectJetStream(t *testing.T, srv *bus.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect("", srv.InProcessOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// consumeSeqs runs Consume on durable until want messages arrived or
// timeout passes, and returns the stream sequences it saw and Consume's
// error.
func consumeSeqs(b *bus.Bus, durable string, want int, timeout time.Duration) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var mu sync.Mutex
	var seen []uint64
	err := b.Consume(ctx, bus.ConsumeConfig{Stream: bus.EventsStream, Durable: durable, Batch: 10},
		func(_ context.Context, msgs []bus.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				seen = append(seen, m.Seq)
			}
			if len(seen) >= want {
				cancel()
			}
			return nil
		})
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(seen, func(i, j int) bool { return seen[i] < seen[j] })
	return seen, err
}

// TestConsumeRecreatedConsumerRestarts recreates a legacy AckAll consumer
// with two messages delivered above its ack floor, stops, and starts
// again. The second start takes the update path with the start sequence
// of the recreated consumer.
func TestConsumeRecreatedConsumerRestarts(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")
	js := connectJetStream(t, srv)
	publishEvents(t, b, 5)
	legacyAckAllConsumer(t, js, "legacy", 4, 1)

	first, err := consumeSeqs(b, "legacy", 3, 10*time.Second)
	if err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	if diff := cmp.Diff([]uint64{3, 4, 5}, first); diff != "" {
		t.Errorf("first start delivered (-want +got):\n%s", diff)
	}

	publishEvents(t, b, 2)
	second, err := consumeSeqs(b, "legacy", 2, 10*time.Second)
	if err != nil {
		t.Fatalf("second Consume: %v", err)
	}
	if diff := cmp.Diff([]uint64{6, 7}, second); diff != "" {
		t.Errorf("second start delivered (-want +got):\n%s", diff)
	}

	info, err := js.Consumer(context.Background(), bus.EventsStream, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.AckPolicy != jetstream.AckExplicitPolicy {
		t.Errorf("ack policy = %v, want explicit", cfg.AckPolicy)
	}
	if cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq != 3 {
		t.Errorf("deliver policy = %v from %d, want by start sequence from 3", cfg.DeliverPolicy, cfg.OptStartSeq)
	}
}

// TestConsumeCancelReturnsPreparedBatch cancels while the handler works on
// one batch and the fetch goroutine holds the next, prepared one. A new
// consumer on the durable must get every message well before AckWait.
func TestConsumeCancelReturnsPreparedBatch(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")
	publishEvents(t, b, 20)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	prepared := 0
	inHandler := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumePrepared(ctx, bus.ConsumeConfig{
			Stream: bus.EventsStream, Durable: "slow", Batch: 5, AckWait: time.Minute, Retry: 100 * time.Millisecond,
		}, func(msgs []bus.Msg) any {
			mu.Lock()
			defer mu.Unlock()
			prepared++
			return len(msgs)
		}, func(ctx context.Context, _ []bus.Msg, _ any) error {
			close(inHandler)
			<-ctx.Done()
			return ctx.Err()
		})
	}()

	<-inHandler
	waitFor(t, "a second prepared batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return prepared >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumePrepared: %v", err)
	}

	seen, err := consumeSeqs(b, "slow", 20, 5*time.Second)
	if err != nil {
		t.Fatalf("second Consume: %v", err)
	}
	want := make([]uint64, 20)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if diff := cmp.Diff(want, dedupeSeqs(seen)); diff != "" {
		t.Errorf("redelivered sequences within 5 s (-want +got):\n%s", diff)
	}
}

func dedupeSeqs(seqs []uint64) []uint64 {
	var out []uint64
	for i, s := range seqs {
		if i == 0 || s != seqs[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// TestConsumePreparePanicIsError panics in prepare, which runs on the
// fetch goroutine: ConsumePrepared must return the panic as an error
// instead of ending the process, and give the batch back.
func TestConsumePreparePanicIsError(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")
	publishEvents(t, b, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.ConsumePrepared(ctx, bus.ConsumeConfig{Stream: bus.EventsStream, Durable: "panics"},
		func([]bus.Msg) any { panic(errors.New("decoder bug")) },
		func(context.Context, []bus.Msg, any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "decoder bug") {
		t.Fatalf("ConsumePrepared = %v, want an error naming the panic", err)
	}

	seen, err := consumeSeqs(b, "panics", 1, 5*time.Second)
	if err != nil {
		t.Fatalf("second Consume: %v", err)
	}
	if diff := cmp.Diff([]uint64{1}, seen); diff != "" {
		t.Errorf("redelivered sequences (-want +got):\n%s", diff)
	}
}

// TestConsumeTrickleReachesHandler publishes one event every 10 ms to a
// consumer with the ingester's batch size of 2,000. Linger bounds the wait
// after a batch's first message, so events must reach the handler within
// a second. A cancel must end Consume well within the runner's grace
// period (3 s in decnet up).
func TestConsumeTrickleReachesHandler(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "ingester")

	pubCtx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan struct{})
	go func() {
		defer close(published)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		subject, _ := bus.Log("web1", "ssh")
		for pubCtx.Err() == nil {
			_ = b.Publish(pubCtx, subject, bus.TypeServiceEvent, map[string]int{"n": 1})
			select {
			case <-tick.C:
			case <-pubCtx.Done():
			}
		}
	}()
	defer func() {
		stopPublishing()
		<-published
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	handled := 0
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeEvents(ctx, "trickle", 2000, nil, func(_ context.Context, msgs []bus.Msg, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			handled += len(msgs)
			return nil
		})
	}()

	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	got := handled
	mu.Unlock()
	if got == 0 {
		t.Errorf("no event reached the handler after 1.5 s of a 100 events/s trickle")
	}

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ConsumeEvents: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("ConsumeEvents returned %v after cancel, want under 1 s", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ConsumeEvents did not return within 30 s of cancel")
	}
}
