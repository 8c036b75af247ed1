package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/services"
)

func benchEvent(i int) services.Event {
	return services.Event{
		Time: time.Now(), Decky: "web1", Service: "ssh", Kind: services.KindAuthAttempt,
		SrcIP: "127.0.0.9", SrcPort: 40000 + i%20000, DstPort: 22, Session: "s1",
		Fields: map[string]string{services.FieldUsername: "root", services.FieldSecretPrintable: "hunter2", services.FieldOutcome: "failure"},
	}
}

// publishAll publishes b.N events async, waiting for the acknowledgements
// after every flushEvery events as an emitter under load would.
func publishAll(b *testing.B, pub *bus.Bus, subject string) {
	const flushEvery = 4096
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if err := pub.PublishAsync(subject, bus.TypeServiceEvent, benchEvent(i)); err != nil {
			b.Fatal(err)
		}
		if i%flushEvery == flushEvery-1 {
			if err := pub.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPublishAsync measures service-event publishing to JetStream over
// an in-process connection: async publishes, acknowledgements awaited with
// one Flush at the end.
func BenchmarkPublishAsync(b *testing.B) {
	srv := bustest.Start(b)
	pub := bustest.ConnectInProcess(b, srv, "emitter")
	subject, _ := bus.Log("web1", "ssh")
	ctx := context.Background()

	b.ResetTimer()
	publishAll(b, pub, subject)
	if err := pub.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if f := pub.PublishFailures(); f != 0 {
		b.Fatalf("%d publish failures", f)
	}
}

// BenchmarkPublishSync is the same with one acknowledged Publish per event,
// the PublishSafely path.
func BenchmarkPublishSync(b *testing.B) {
	srv := bustest.Start(b)
	pub := bustest.ConnectInProcess(b, srv, "emitter")
	subject, _ := bus.Log("web1", "ssh")
	ctx := context.Background()

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pub.Publish(ctx, subject, bus.TypeServiceEvent, benchEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishConsume measures publish plus batched consumption with
// acknowledgements: b.N events published async, then read back through
// ConsumeEvents in batches of 500, decoding each envelope and payload.
func BenchmarkPublishConsume(b *testing.B) {
	srv := bustest.Start(b)
	pub := bustest.ConnectInProcess(b, srv, "emitter")
	sub := bustest.ConnectInProcess(b, srv, "ingester")
	subject, _ := bus.Log("web1", "ssh")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	got := make(chan int, 1024)
	done := make(chan error, 1)
	go func() {
		done <- sub.ConsumeEvents(ctx, "bench", 500, nil, func(_ context.Context, msgs []bus.Msg, _ any) error {
			for _, m := range msgs {
				env, err := m.Envelope()
				if err != nil {
					return err
				}
				var ev services.Event
				if err := env.UnmarshalPayload(&ev); err != nil {
					return err
				}
			}
			got <- len(msgs)
			return nil
		})
	}()

	b.ResetTimer()
	publishAll(b, pub, subject)
	for n := 0; n < b.N; {
		select {
		case k := <-got:
			n += k
		case err := <-done:
			b.Fatal(fmt.Errorf("consumer stopped: %w", err))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")

	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
