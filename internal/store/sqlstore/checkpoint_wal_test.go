package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/services"
)

// TestWALBoundedUnderSustainedWrites writes ingest batches back to
// back, as the ingester does while it catches up on a backlog, until the
// database file reaches 8 MB. A log that is checkpointed and restarted
// stays a few megabytes. If the log never restarts, it holds every page
// written and grows past the database file itself.
func TestWALBoundedUnderSustainedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decnet.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	const dbTarget = 8 << 20
	var dbSize, walSize, maxWAL int64
	for i := 0; dbSize < dbTarget && i < 2000; i++ {
		batch := make([]Observation, 0, 200)
		for j := range 200 {
			batch = append(batch, Observation{Event: ev(fmt.Sprintf("wal-%d-%d", i, j), fmt.Sprintf("127.0.%d.1", j%50),
				"decky-01", "ssh", services.KindConnect, identT0.Add(time.Duration(i)*time.Second),
				map[string]string{"cmd": "uname -a; cat /etc/passwd"})})
		}
		if _, err := s.IngestBatch(context.Background(), batch); err != nil {
			t.Fatalf("IngestBatch #%d: %v", i, err)
		}
		if fi, err := os.Stat(path); err == nil {
			dbSize = fi.Size()
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			walSize = fi.Size()
			maxWAL = max(maxWAL, walSize)
		}
	}
	if dbSize < dbTarget {
		t.Fatalf("database file is %d bytes after 2,000 batches, want at least %d", dbSize, dbTarget)
	}
	if maxWAL > dbSize {
		t.Errorf("WAL reached %d bytes (now %d) while the database file is %d bytes: the log was not restarted under sustained writes",
			maxWAL, walSize, dbSize)
	}
}
