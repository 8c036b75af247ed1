package callback

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/canary/slug"
)

// benchWorker runs a worker over a real store and bus for a benchmark.
func benchWorker(b *testing.B, rate float64) (*Worker, *Recorder, []string) {
	b.Helper()
	st := openStore(b)
	srv := bustest.Start(b)
	bs := bustest.ConnectInProcess(b, srv, "canary-bench")

	slugs := make([]string, 1000)
	for i := range slugs {
		slugs[i] = slug.MustNew()
		plantToken(b, st, slugs[i])
	}

	rec := NewRecorder(RecorderConfig{Store: st, Bus: bs, Window: time.Second})
	w, err := NewWorker(Config{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", Zone: testZone, Rate: rate, Recorder: rec})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	<-w.Ready()
	return w, rec, slugs
}

// BenchmarkHTTPCallbacks measures recorded callbacks per second over real
// HTTP with keep-alive, each request a new trigger row (distinct paths),
// from 64 loopback source addresses. The per-source limiter is off, so
// every hit must be stored. The benchmark waits until all b.N hits are
// committed and fails if any was lost.
//
// The load generator shares the two cores with the receiver, so it is kept
// lean: each goroutine writes requests on its own keep-alive connection and
// reads each response with http.ReadResponse, without the goroutines and
// channels of net/http's client transport.
func BenchmarkHTTPCallbacks(b *testing.B) {
	w, rec, slugs := benchWorker(b, -1)
	addr := w.HTTPAddr()

	var next atomic.Int64
	b.SetParallelism(32)
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 9, byte(1+n%64))}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()

		br := bufio.NewReader(conn)
		var req []byte
		for pb.Next() {
			i := next.Add(1)
			req = fmt.Appendf(req[:0], "GET /c/%s/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench\r\n\r\n", slugs[i%int64(len(slugs))], i, addr)
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET %d: status %d, want 200", i, resp.StatusCode)
				return
			}
		}
	})
	for rec.Stats().Triggers+rec.Stats().Lost < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	st := rec.Stats()
	if st.Lost != 0 || st.Triggers != uint64(b.N) {
		b.Fatalf("stored %d triggers and lost %d of %d hits", st.Triggers, st.Lost, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "callbacks/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/callback")
}

// processCPU returns the user and system CPU time of the process (client,
// server, database and bus together), which unlike wall time does not
// grow when other processes load the machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDNSQueries measures answered queries per second over UDP for
// token hosts, with the default per-source limiter deciding which lookups
// are recorded.
func BenchmarkDNSQueries(b *testing.B) {
	w, _, slugs := benchWorker(b, 0)
	addr := w.DNSAddr()

	queries := make([][]byte, len(slugs))
	for i, s := range slugs {
		queries[i] = query(b, uint16(i), s+".t.test.", dnsmessage.TypeA, false)
	}

	var next atomic.Int64
	b.SetParallelism(4)
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 10, byte(1+n%64))}, net.UDPAddrFromAddrPort(mustAddrPort(addr)))
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		for pb.Next() {
			q := queries[next.Add(1)%int64(len(queries))]
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(q); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/query")
}
