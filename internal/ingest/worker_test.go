package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func emit(t testing.TB, b *bus.Bus, from, to int) {
	t.Helper()
	emitFrom(t, b, from, to, 1750)
}

// emitFrom publishes command events numbered from..to-1, spread over the
// given number of source addresses.
func emitFrom(t testing.TB, b *bus.Bus, from, to, sources int) {
	t.Helper()
	sink := b.EventSink()
	for i := from; i < to; i++ {
		src := i % sources
		sink.Emit(services.Event{
			ID: fmt.Sprintf("ev-%06d", i), Time: time.Date(2026, 1, 1, 0, 0, 0, i, time.UTC),
			Decky: "decky-01", Service: "ssh", Kind: services.KindCommand,
			SrcIP: fmt.Sprintf("127.0.%d.%d", src/250, src%250+1), SrcPort: 40000 + i%1000,
			Fields: map[string]string{services.FieldCommand: fmt.Sprintf("echo %d", i)},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// waitForLogs polls until the store holds want log rows.
func waitForLogs(t *testing.T, st *sqlstore.Store, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := st.CountLogs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("store holds %d log rows, want %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startWorker(t *testing.T, b *bus.Bus, st *sqlstore.Store) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Bus: b, Store: st, Batch: 100}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("worker did not stop within 5 s")
		}
	}
}

func TestWorkerLosesNothingAcrossRestart(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "test")
	st := openStore(t)

	stop := startWorker(t, b, st)
	emit(t, b, 0, 300)
	waitForLogs(t, st, 300)
	stop()

	// Events published while no ingester runs wait in the stream.
	emit(t, b, 300, 700)
	stop = startWorker(t, b, st)
	waitForLogs(t, st, 700)

	// A redelivered copy of an old event is stored once.
	emit(t, b, 0, 10)
	time.Sleep(300 * time.Millisecond)
	waitForLogs(t, st, 700)
	stop()

	a, err := st.GetAttacker(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatalf("GetAttacker: %v", err)
	}
	if a.EventCount == 0 || len(a.Commands) == 0 {
		t.Errorf("attacker row not aggregated: %+v", a)
	}
}

func TestWorkerSkipsInvalidMessages(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "test")
	st := openStore(t)

	// A forged message without kind, then a valid one.
	if err := b.Publish(context.Background(), "log.decky-01.ssh", bus.TypeServiceEvent, map[string]string{"decky": "decky-01"}); err != nil {
		t.Fatal(err)
	}
	emit(t, b, 0, 1)

	stop := startWorker(t, b, st)
	defer stop()
	waitForLogs(t, st, 1)
}

// BenchmarkIngest measures events per second from the bus into SQLite: the
// events are published first, then one ingester drains the stream. The
// number of source addresses sets how many attacker rows each batch
// rewrites: a brute force comes from few addresses, a scan from many.
func BenchmarkIngest(b *testing.B) {
	for _, sources := range []int{50, 1750} {
		b.Run(fmt.Sprintf("sources=%d", sources), func(b *testing.B) { benchmarkIngest(b, sources) })
	}
}

func benchmarkIngest(b *testing.B, sources int) {
	srv := bustest.Start(b)
	bb := bustest.ConnectInProcess(b, srv, "bench")
	st := openStore(b)

	emitFrom(b, bb, 0, b.N, sources)
	b.ResetTimer()

	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Bus: bb, Store: st}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for w.Ingested() < uint64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
