package ssh

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// BenchmarkConcurrentLogins logs 200 x/crypto/ssh clients in at once per
// iteration over loopback, each running one exec command, and fails on
// any error.
func BenchmarkConcurrentLogins(b *testing.B) {
	const clients = 200
	ts := startServer(b, Config{Policy: WeakPasswords{"*": {"pw"}}, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	cfg := &gossh.ClientConfig{
		User:            "root",
		Auth:            []gossh.AuthMethod{gossh.Password("pw")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	}

	var failures atomic.Int64
	var firstErr atomic.Value
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := loginAndRun(ts.addr, cfg)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()

	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d logins failed; first: %v", n, b.N*clients, firstErr.Load())
	}
	b.ReportMetric(float64(b.N*clients)/b.Elapsed().Seconds(), "logins/s")
}

func loginAndRun(addr string, cfg *gossh.ClientConfig) error {
	client, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	defer sess.Close()
	if _, err := sess.Output("id"); err != nil {
		return fmt.Errorf("exec id: %w", err)
	}
	return nil
}
