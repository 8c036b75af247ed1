package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointerCopiesLogIntoDatabase writes enough rows to fill
// hundreds of pages and waits for them to reach the database file. SQLite's
// own checkpoint is off, so only the store's goroutine can copy them.
func TestCheckpointerCopiesLogIntoDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decnet.db")
	s, err := Open(context.Background(), path, Options{CheckpointEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	tx, err := s.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Repeat("x", 2000)
	for i := range 500 {
		if _, err := tx.Exec(`INSERT INTO attackers (uuid, ip, first_seen, last_seen, updated_at, commands) VALUES (?, ?, '', '', '', ?)`,
			fmt.Sprintf("a-%04d", i), fmt.Sprintf("127.0.%d.%d", i/250, i%250), notes); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	const want = 500 * 2000
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes after 10 s, want at least %d: the log was never checkpointed", fi.Size(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
