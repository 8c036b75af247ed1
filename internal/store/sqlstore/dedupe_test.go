package sqlstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestDedupeHashFilledOnOpen stores a trigger without a
// dedupe hash after migration 51 has run, as a binary from before the hash
// column writes it when an upgrade is rolled back without running the Down
// migrations. Opening the database again with this version must fill the
// hash, or a later repeat of the key is not found as an echo.
func TestDedupeHashFilledOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "decnet.db")
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	newCanaryToken(t, s, "d1", "slugone", nil)
	first, err := s.RecordCanaryHits(ctx, []CanaryHit{httpHit("slugone", "127.0.0.9", t0, "/c/slugone")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE canary_triggers SET dedupe_hash = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	var missing int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM canary_triggers WHERE dedupe_hash IS NULL`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d trigger rows without a dedupe hash after Open, want 0", missing)
	}

	later, err := s.RecordCanaryHits(ctx, []CanaryHit{httpHit("slugone", "127.0.0.9", t0.Add(time.Hour), "/c/slugone")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 1 {
		t.Fatalf("%d results for one hit, want 1", len(later))
	}
	if got := later[0].Trigger; !got.Echo || got.EchoOf != first[0].Trigger.UUID {
		t.Errorf("repeat: echo = %v, echo_of = %q, want an echo of %s", got.Echo, got.EchoOf, first[0].Trigger.UUID)
	}
}
