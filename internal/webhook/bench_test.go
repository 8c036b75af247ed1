package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanout measures end-to-end delivery: b.N events published on
// the bus, each delivered to four signed HTTP targets on loopback. The
// events/s metric counts deliveries (b.N × 4) per second.
func BenchmarkFanout(b *testing.B) {
	const targets = 4
	b.StopTimer()
	env := newEnv(b)
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var ts []Target
	for i := 0; i < targets; i++ {
		ts = append(ts, Target{Name: fmt.Sprintf("t%d", i), Kind: KindHTTP, URL: srv.URL, Secret: "k", Subjects: []string{"attacker.>"}})
	}
	env.runWorker(b, ts...)

	b.StartTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := env.bus.PublishAsync("attacker.observed", "attacker.observed", map[string]int{"n": i}); err != nil {
			b.Fatalf("PublishAsync: %v", err)
		}
	}
	want := int64(b.N * targets)
	deadline := time.Now().Add(5 * time.Minute)
	for delivered.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", delivered.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
}
