package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/store"
)

// canaryClock is a settable clock for canary store tests.
type canaryClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *canaryClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *canaryClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openCanaryStore(t *testing.T) (*Store, *canaryClock) {
	t.Helper()
	clock := &canaryClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), Options{Now: clock.now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

func newCanaryToken(t *testing.T, s *Store, decky, slug string, mod func(*CanaryToken)) CanaryToken {
	t.Helper()
	tok := CanaryToken{Kind: "http", DeckyName: decky, Generator: "git_config", PlacementPath: "/home/a/.git/config",
		CallbackToken: slug, HTTPBase: "http://127.0.0.1:8088", Persona: "linux", FileMode: 0o644, CreatedBy: "system"}
	if mod != nil {
		mod(&tok)
	}
	got, created, err := s.CreateCanaryToken(context.Background(), tok)
	if err != nil {
		t.Fatalf("CreateCanaryToken(%s): %v", slug, err)
	}
	if !created {
		t.Fatalf("CreateCanaryToken(%s) created = false", slug)
	}
	return got
}

func TestCanaryBlobUpsertDedupes(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)

	first, created, err := s.UpsertCanaryBlob(ctx, CanaryBlob{SHA256: "AB" + fmt.Sprintf("%062d", 1), Filename: "a.docx",
		ContentType: "application/x", SizeBytes: 10, UploadedBy: "u1"})
	if err != nil || !created {
		t.Fatalf("first upsert: created=%v err=%v", created, err)
	}
	clock.add(time.Minute)
	second, created, err := s.UpsertCanaryBlob(ctx, CanaryBlob{SHA256: first.SHA256, Filename: "b.docx", UploadedBy: "u2"})
	if err != nil {
		t.Fatalf("second upsert: %v", err)
	}
	if created {
		t.Error("second upsert of the same sha256 created a row")
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second upsert returned a different row (-first +second):\n%s", diff)
	}
	if first.SHA256 != "ab"+fmt.Sprintf("%062d", 1) {
		t.Errorf("sha256 stored as %q, want lowercase", first.SHA256)
	}

	bySHA, err := s.GetCanaryBlobBySHA256(ctx, first.SHA256)
	if err != nil || bySHA.UUID != first.UUID {
		t.Errorf("GetCanaryBlobBySHA256 = %+v, %v", bySHA, err)
	}
	if _, _, err := s.UpsertCanaryBlob(ctx, CanaryBlob{Filename: "x"}); err == nil {
		t.Error("upsert without sha256 succeeded")
	}
}

func TestCanaryBlobRefcountAndDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := openCanaryStore(t)

	b, _, err := s.UpsertCanaryBlob(ctx, CanaryBlob{SHA256: fmt.Sprintf("%064d", 7), Filename: "f", ContentType: "text/plain", UploadedBy: "u"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListCanaryBlobs(ctx)
	if err != nil || len(list) != 1 || list[0].TokenCount != 0 {
		t.Fatalf("ListCanaryBlobs before tokens = %+v, %v", list, err)
	}

	tok := newCanaryToken(t, s, "d1", "slugblob", func(c *CanaryToken) { c.Generator = ""; c.BlobUUID = b.UUID; c.Instrumenter = "plain" })
	list, _ = s.ListCanaryBlobs(ctx)
	if list[0].TokenCount != 1 {
		t.Errorf("token_count = %d after one token, want 1", list[0].TokenCount)
	}

	if _, err := s.DeleteCanaryBlob(ctx, b.UUID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete while referenced: %v, want ErrConflict", err)
	}
	if err := s.SetCanaryTokenState(ctx, tok.UUID, CanaryRevoked, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCanaryBlob(ctx, b.UUID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete while a revoked token references it: %v, want ErrConflict", err)
	}
	if _, err := s.DeleteCanaryBlob(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete missing: %v, want ErrNotFound", err)
	}
}

func TestCanaryBlobDeleteUnreferenced(t *testing.T) {
	ctx := context.Background()
	s, _ := openCanaryStore(t)
	b, _, err := s.UpsertCanaryBlob(ctx, CanaryBlob{SHA256: fmt.Sprintf("%064d", 8), Filename: "f", ContentType: "text/plain", UploadedBy: "u"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteCanaryBlob(ctx, b.UUID)
	if err != nil || got.SHA256 != b.SHA256 {
		t.Fatalf("DeleteCanaryBlob = %+v, %v", got, err)
	}
	if _, err := s.GetCanaryBlob(ctx, b.UUID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCanaryBlob after delete: %v, want ErrNotFound", err)
	}
}

func TestCanaryTokenSlugLookup(t *testing.T) {
	ctx := context.Background()
	s, _ := openCanaryStore(t)
	tok := newCanaryToken(t, s, "d1", "AbCdEf", nil)
	if tok.CallbackToken != "abcdef" {
		t.Errorf("slug stored as %q, want lowercase", tok.CallbackToken)
	}

	for _, slug := range []string{"abcdef", "ABCDEF", "aBcDeF"} {
		got, err := s.GetCanaryTokenBySlug(ctx, slug)
		if err != nil || got.UUID != tok.UUID {
			t.Errorf("GetCanaryTokenBySlug(%q) = %v, %v", slug, got.UUID, err)
		}
	}
	for _, state := range []string{CanaryFailed, CanaryRevoked} {
		if err := s.SetCanaryTokenState(ctx, tok.UUID, state, "boom"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCanaryTokenBySlug(ctx, "abcdef"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("slug of a %s token: %v, want ErrNotFound", state, err)
		}
	}
	got, _ := s.GetCanaryToken(ctx, tok.UUID)
	if got.LastError != "boom" || got.State != CanaryRevoked {
		t.Errorf("token after state change = %s/%q", got.State, got.LastError)
	}
	if err := s.SetCanaryTokenState(ctx, "missing", CanaryRevoked, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetCanaryTokenState(missing): %v, want ErrNotFound", err)
	}
	if _, err := s.GetCanaryToken(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCanaryToken(missing): %v, want ErrNotFound", err)
	}
	_, _, err := s.CreateCanaryToken(ctx, CanaryToken{Kind: "http", DeckyName: "d2", PlacementPath: "/x", CallbackToken: "ABCDEF", CreatedBy: "u"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second token with the same slug: %v, want ErrConflict", err)
	}
}

func TestCanaryTokenListFilters(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	a := newCanaryToken(t, s, "d1", "s1", nil)
	clock.add(time.Second)
	b := newCanaryToken(t, s, "d2", "s2", func(c *CanaryToken) { c.Kind = "dns"; c.Generator = "mysql_dump" })
	clock.add(time.Second)
	c := newCanaryToken(t, s, "d1", "s3", func(c *CanaryToken) { c.TopologyID = "topo"; c.State = CanaryFailed })

	ids := func(list []CanaryToken) []string {
		var out []string
		for _, t := range list {
			out = append(out, t.UUID)
		}
		return out
	}
	tests := []struct {
		name string
		f    CanaryTokenFilter
		want []string
	}{
		{"all newest first", CanaryTokenFilter{}, []string{c.UUID, b.UUID, a.UUID}},
		{"decky", CanaryTokenFilter{DeckyName: "d1"}, []string{c.UUID, a.UUID}},
		{"state", CanaryTokenFilter{State: CanaryFailed}, []string{c.UUID}},
		{"kind", CanaryTokenFilter{Kind: "dns"}, []string{b.UUID}},
		{"topology", CanaryTokenFilter{TopologyID: "topo"}, []string{c.UUID}},
		{"generator", CanaryTokenFilter{Generator: "mysql_dump"}, []string{b.UUID}},
		{"and", CanaryTokenFilter{DeckyName: "d1", State: CanaryPlanted}, []string{a.UUID}},
		{"unknown value", CanaryTokenFilter{State: "bogus"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListCanaryTokens(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("ListCanaryTokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryBaselineTokenIsUnique(t *testing.T) {
	ctx := context.Background()
	s, _ := openCanaryStore(t)
	first := newCanaryToken(t, s, "d1", "b1", func(c *CanaryToken) { c.Baseline = true })

	again, created, err := s.CreateCanaryToken(ctx, CanaryToken{Kind: "http", DeckyName: "d1", Generator: "git_config",
		PlacementPath: "/x", CallbackToken: "b2", CreatedBy: "system", Baseline: true})
	if err != nil {
		t.Fatal(err)
	}
	if created || again.UUID != first.UUID {
		t.Errorf("second baseline token: created=%v uuid=%s, want the first (%s)", created, again.UUID, first.UUID)
	}
	if _, created, _ := s.CreateCanaryToken(ctx, CanaryToken{Kind: "http", DeckyName: "d2", Generator: "git_config",
		PlacementPath: "/x", CallbackToken: "b3", CreatedBy: "system", Baseline: true}); !created {
		t.Error("baseline token of another decky was not created")
	}
	if _, created, _ := s.CreateCanaryToken(ctx, CanaryToken{Kind: "http", DeckyName: "d1", Generator: "git_config",
		PlacementPath: "/y", CallbackToken: "b4", CreatedBy: "admin"}); !created {
		t.Error("operator token next to a baseline token was not created")
	}
}

func TestCanaryMarkPlanted(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	tok := newCanaryToken(t, s, "d1", "p1", func(c *CanaryToken) { c.State = CanaryFailed; c.LastError = "x" })
	if err := s.MarkCanaryTokenPlanted(ctx, tok.UUID, clock.now(), "beef"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetCanaryToken(ctx, tok.UUID)
	if got.State != CanaryPlanted || got.LastError != "" || got.ContentSHA256 != "beef" || got.PlacedAt == nil || !got.PlacedAt.Equal(clock.now()) {
		t.Errorf("after MarkCanaryTokenPlanted: %+v", got)
	}
}

func httpHit(slug, src string, at time.Time, path string) CanaryHit {
	return CanaryHit{Slug: slug, Time: at, Trigger: CanaryTrigger{Protocol: CanaryProtoHTTP, SrcIP: src,
		PeerAddr: src + ":40000", ForwardedFor: []string{"198.51.100.7"}, Method: "GET", UserAgent: "curl/8",
		RequestPath: path, Headers: map[string][]string{"User-Agent": {"curl/8"}}, DedupeKey: src + "|GET|" + path}}
}

func TestCanaryRecordHitsCountsAndDedupes(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	tok := newCanaryToken(t, s, "d1", "slugone", nil)
	t0 := clock.now()

	now := FormatTime(t0)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO attackers (uuid, ip, first_seen, last_seen, updated_at) VALUES ('att-1', '127.0.0.9', ?, ?, ?)`, now, now, now); err != nil {
		t.Fatal(err)
	}

	hits := []CanaryHit{
		httpHit("SLUGONE", "127.0.0.9", t0, "/c/slugone"),
		httpHit("slugone", "127.0.0.9", t0.Add(2*time.Second), "/c/slugone"),
		httpHit("unknown", "127.0.0.9", t0, "/c/unknown"),
		httpHit("slugone", "127.0.0.8", t0.Add(3*time.Second), "/c/slugone"),
	}
	res, err := s.RecordCanaryHits(ctx, hits, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("RecordCanaryHits returned %d results, want 3 (the unknown slug skipped): %+v", len(res), res)
	}
	if res[0].Merged || !res[1].Merged || res[2].Merged {
		t.Errorf("merged flags = %v %v %v, want false true false", res[0].Merged, res[1].Merged, res[2].Merged)
	}
	if res[1].Trigger.UUID != res[0].Trigger.UUID || res[1].Trigger.HitCount != 2 {
		t.Errorf("repeat folded into %s with %d hits, want %s with 2", res[1].Trigger.UUID, res[1].Trigger.HitCount, res[0].Trigger.UUID)
	}
	if res[0].Trigger.AttackerID != "att-1" || res[2].Trigger.AttackerID != "" {
		t.Errorf("attacker ids = %q, %q; want att-1 and none", res[0].Trigger.AttackerID, res[2].Trigger.AttackerID)
	}
	if res[2].Index != 3 {
		t.Errorf("third result index = %d, want 3", res[2].Index)
	}

	got, _ := s.GetCanaryToken(ctx, tok.UUID)
	if got.TriggerCount != 2 || got.HitCount != 3 {
		t.Errorf("token counters = %d triggers / %d hits, want 2 / 3", got.TriggerCount, got.HitCount)
	}
	if got.LastTriggeredAt == nil || !got.LastTriggeredAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("last_triggered_at = %v, want %v", got.LastTriggeredAt, t0.Add(3*time.Second))
	}

	list, total, err := s.ListCanaryTriggers(ctx, tok.UUID, store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 1 {
		t.Fatalf("ListCanaryTriggers limit 1: %d rows, total %d; want 1 and 2", len(list), total)
	}
	if list[0].SrcIP != "127.0.0.8" {
		t.Errorf("newest trigger src = %s, want 127.0.0.8", list[0].SrcIP)
	}
	_, older, _ := s.ListCanaryTriggers(ctx, tok.UUID, store.Page{Limit: 1, Offset: 1})
	if older != 2 {
		t.Errorf("total on the second page = %d, want 2", older)
	}
	all, _, _ := s.ListCanaryTriggers(ctx, tok.UUID, store.Page{})
	first := all[1]
	want := CanaryTrigger{UUID: res[0].Trigger.UUID, TokenUUID: tok.UUID, OccurredAt: t0, LastHitAt: t0.Add(2 * time.Second),
		Protocol: "http", SrcIP: "127.0.0.9", PeerAddr: "127.0.0.9:40000", ForwardedFor: []string{"198.51.100.7"},
		Method: "GET", UserAgent: "curl/8", RequestPath: "/c/slugone", Headers: map[string][]string{"User-Agent": {"curl/8"}},
		DedupeKey: tok.UUID + "|127.0.0.9|GET|/c/slugone", HitCount: 2, AttackerID: "att-1"}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("stored trigger (-want +got):\n%s", diff)
	}
}

func TestCanaryRecordHitsMarksEchoes(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	tok := newCanaryToken(t, s, "d1", "echo", nil)
	t0 := clock.now()

	dns := func(at time.Time, qtype uint16, name string) CanaryHit {
		return CanaryHit{Slug: "echo", Time: at, Trigger: CanaryTrigger{Protocol: CanaryProtoDNS, SrcIP: "127.0.0.53",
			PeerAddr: "127.0.0.53:5300", DNSQName: name, DNSQType: qtype, DNSQClass: 1, DNSTransport: "udp",
			ResolverAddr: "127.0.0.53:5300", DedupeKey: "127.0.0.53|echo.t.test"}}
	}
	var all []CanaryHitResult
	for _, h := range []CanaryHit{dns(t0, 1, "EcHo.t.test"), dns(t0.Add(time.Second), 28, "echo.T.test")} {
		res, err := s.RecordCanaryHits(ctx, []CanaryHit{h}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res...)
	}
	res, err := s.RecordCanaryHits(ctx, []CanaryHit{dns(t0.Add(time.Minute), 1, "echo.t.test"), dns(t0.Add(2*time.Minute), 1, "echo.t.test")}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, res...)

	if all[0].Trigger.Echo || !all[1].Merged {
		t.Errorf("burst: first echo=%v, second merged=%v; want false, true", all[0].Trigger.Echo, all[1].Merged)
	}
	for i, r := range all[2:] {
		if r.Merged || !r.Trigger.Echo || r.Trigger.EchoOf != all[0].Trigger.UUID {
			t.Errorf("later repeat %d: merged=%v echo=%v echo_of=%s, want an echo of %s", i, r.Merged, r.Trigger.Echo, r.Trigger.EchoOf, all[0].Trigger.UUID)
		}
	}
	list, total, _ := s.ListCanaryTriggers(ctx, tok.UUID, store.Page{})
	if total != 3 {
		t.Fatalf("%d trigger rows, want 3", total)
	}
	oldest := list[2]
	if oldest.DNSQName != "EcHo.t.test" || oldest.DNSQType != 1 || oldest.DNSQClass != 1 || oldest.HitCount != 2 || oldest.DNSTransport != "udp" {
		t.Errorf("first DNS trigger = %+v", oldest)
	}
	if oldest.Method != "" || oldest.RequestPath != "" {
		t.Errorf("DNS trigger has HTTP fields: %+v", oldest)
	}
}

func TestCanaryRecordHitsSkipsRevoked(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	tok := newCanaryToken(t, s, "d1", "gone", nil)
	if err := s.SetCanaryTokenState(ctx, tok.UUID, CanaryRevoked, ""); err != nil {
		t.Fatal(err)
	}
	res, err := s.RecordCanaryHits(ctx, []CanaryHit{httpHit("gone", "127.0.0.1", clock.now(), "/c/gone")}, time.Second)
	if err != nil || len(res) != 0 {
		t.Errorf("hit on a revoked token: %+v, %v; want nothing recorded", res, err)
	}
}

// benchBatch is the batch size of BenchmarkRecordCanaryHits, the
// recorder's default.
const benchBatch = 2048

// BenchmarkRecordCanaryHits measures stored hits per second in batches of
// benchBatch, each hit a new trigger row of one of 1000 tokens.
func BenchmarkRecordCanaryHits(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "decnet.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	slugs := make([]string, 1000)
	for i := range slugs {
		slugs[i] = fmt.Sprintf("benchslug%04d", i)
		if _, _, err := s.CreateCanaryToken(ctx, CanaryToken{Kind: "http", DeckyName: "d", PlacementPath: "/x",
			CallbackToken: slugs[i], CreatedBy: "b"}); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	cpu0 := processCPU()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchBatch, b.N-done)
		batch := make([]CanaryHit, n)
		for i := range batch {
			k := done + i
			batch[i] = httpHit(slugs[k%len(slugs)], "127.0.0.9", now, fmt.Sprintf("/c/%s/%d", slugs[k%len(slugs)], k))
		}
		if _, err := s.RecordCanaryHits(ctx, batch, time.Second); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/hit")
}

// processCPU returns the user and system CPU time of the process, which
// unlike wall time does not grow when other processes load the machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCanaryDedupeHashBackfill clears the hash of a stored trigger, as a
// row written before the column existed, and checks that the migration
// fills it so that a later repeat is still found as an echo.
func TestCanaryDedupeHashBackfill(t *testing.T) {
	ctx := context.Background()
	s, clock := openCanaryStore(t)
	newCanaryToken(t, s, "d1", "slugone", nil)
	t0 := clock.now()

	first, err := s.RecordCanaryHits(ctx, []CanaryHit{httpHit("slugone", "127.0.0.9", t0, "/c/slugone")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE canary_triggers SET dedupe_hash = NULL`); err != nil {
		t.Fatal(err)
	}

	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := backfillDedupeHashes(ctx, tx); err != nil {
		t.Fatalf("backfillDedupeHashes: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var missing int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM canary_triggers WHERE dedupe_hash IS NULL`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d rows without a dedupe hash after the backfill, want 0", missing)
	}

	later, err := s.RecordCanaryHits(ctx, []CanaryHit{httpHit("slugone", "127.0.0.9", t0.Add(time.Minute), "/c/slugone")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 1 || !later[0].Trigger.Echo || later[0].Trigger.EchoOf != first[0].Trigger.UUID {
		t.Errorf("repeat after the backfill = %+v, want an echo of %s", later, first[0].Trigger.UUID)
	}
}
