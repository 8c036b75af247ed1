package callback

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

var (
	sqlstoreAll       = store.Page{Limit: 1000}
	sqlstoreFilterAll = sqlstore.CanaryTokenFilter{}
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"))
}

// openStore opens a fresh SQLite store in a temporary directory.
func openStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plantToken inserts a planted token row with the given slug.
func plantToken(t testing.TB, s *sqlstore.Store, slug string) sqlstore.CanaryToken {
	t.Helper()
	tok, _, err := s.CreateCanaryToken(context.Background(), sqlstore.CanaryToken{Kind: "http", DeckyName: "decky-01",
		Generator: "git_config", PlacementPath: "/home/a/.git/config", CallbackToken: slug,
		HTTPBase: "http://127.0.0.1:8088", Persona: "linux", CreatedBy: "system"})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return tok
}

// waitTriggers polls until the token has want trigger rows.
func waitTriggers(t testing.TB, s *sqlstore.Store, tokenUUID string, want int) []sqlstore.CanaryTrigger {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, total, err := s.ListCanaryTriggers(context.Background(), tokenUUID, sqlstoreAll)
		if err != nil {
			t.Fatal(err)
		}
		if total >= want {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("token %s has %d triggers after 10 s, want %d", tokenUUID, total, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
