package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
)

var identT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func identRollup(n int64) IdentityRollup {
	return IdentityRollup{
		FirstSeenAt:      identT0,
		LastSeenAt:       identT0.Add(time.Hour),
		ObservationCount: n,
		Fingerprints:     map[string][]string{store.FPJA3: {"j1", "j2"}, store.FPSSHClientVersion: {"SSH-2.0-Go"}},
		PayloadHashes:    []string{"p"},
		ASNs:             []int64{64512},
		Digest:           fmt.Sprintf("d%d", n),
	}
}

// identIngest writes one attacker row per address through IngestBatch and
// returns their uuids in address order.
func identIngest(t *testing.T, s *Store, ips ...string) []string {
	t.Helper()
	var batch []Observation
	for i, ip := range ips {
		batch = append(batch, Observation{
			Event:        ev(fmt.Sprintf("ident-%s-%d", ip, i), ip, "decky-01", "ssh", services.KindConnect, identT0.Add(time.Duration(i)*time.Minute), nil),
			Fingerprints: map[string]string{store.FPHASSH: "h-" + ip},
		})
	}
	res, err := s.IngestBatch(context.Background(), batch)
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	var out []string
	for _, a := range res.Attackers {
		out = append(out, a.UUID)
	}
	return out
}

func TestIdentitySchema(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()

	cols := map[string]bool{}
	rows, err := s.DB().QueryContext(ctx, `SELECT name, "notnull" FROM pragma_table_info('attacker_identities')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var notNull bool
		if err := rows.Scan(&name, &notNull); err != nil {
			t.Fatal(err)
		}
		cols[name] = notNull
	}
	rows.Close()
	for _, c := range []string{"uuid", "schema_version", "campaign_id", "first_seen_at", "last_seen_at", "created_at",
		"updated_at", "confidence", "observation_count", "ja3_hashes", "hassh_hashes", "ja4h_hashes", "ja4_quic_hashes",
		"http_versions_seen", "tls_cert_sha256", "ipv6_link_local_iids", "payload_simhashes", "c2_endpoints",
		"kd_digraph_simhash", "merged_into_uuid", "notes"} {
		if _, ok := cols[c]; !ok {
			t.Errorf("attacker_identities has no column %s", c)
		}
	}
	for _, c := range []string{"campaign_id", "merged_into_uuid", "confidence", "ja3_hashes", "kd_digraph_simhash"} {
		if cols[c] {
			t.Errorf("column %s is NOT NULL, want nullable", c)
		}
	}

	indexed := map[string]bool{}
	rows, err = s.DB().QueryContext(ctx, `SELECT ii.name FROM pragma_index_list('attacker_identities') il, pragma_index_info(il.name) ii`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexed[name] = true
	}
	rows.Close()
	for _, c := range []string{"campaign_id", "updated_at", "merged_into_uuid"} {
		if !indexed[c] {
			t.Errorf("column %s is not indexed", c)
		}
	}

	now := FormatTime(identT0)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO attacker_identities (uuid, first_seen_at, last_seen_at, created_at, updated_at) VALUES ('i1', ?, ?, ?, ?)`, now, now, now, now); err != nil {
		t.Fatal(err)
	}
	var version int
	if err := s.DB().QueryRowContext(ctx, `SELECT schema_version FROM attacker_identities WHERE uuid = 'i1'`).Scan(&version); err != nil || version != 1 {
		t.Errorf("schema_version = %d (%v), want 1", version, err)
	}
}

func TestIdentityForeignKeys(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	ids := identIngest(t, s, "127.0.1.1")
	now := FormatTime(identT0)

	_, err := s.DB().ExecContext(ctx, `UPDATE attackers SET identity_id = 'missing' WHERE uuid = ?`, ids[0])
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("linking to a missing identity: error = %v, want a foreign key failure", err)
	}
	_, err = s.DB().ExecContext(ctx, `INSERT INTO attackers (uuid, ip, first_seen, last_seen, identity_id, updated_at) VALUES ('a2', '127.0.1.2', ?, ?, 'missing', ?)`, now, now, now)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("inserting an orphan: error = %v, want a foreign key failure", err)
	}
	_, err = s.DB().ExecContext(ctx, `INSERT INTO attacker_identities (uuid, first_seen_at, last_seen_at, created_at, updated_at, merged_into_uuid) VALUES ('i9', ?, ?, ?, ?, 'missing')`, now, now, now, now)
	if err == nil {
		t.Error("merging into a missing identity succeeded")
	}

	if err := s.ApplyIdentityChanges(ctx, IdentityChanges{
		Now:    identT0,
		Create: []IdentityCreate{{UUID: "i1", Rollup: identRollup(1)}},
		Links:  []IdentityLink{{AttackerUUID: ids[0], IdentityUUID: "i1"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM attacker_identities WHERE uuid = 'i1'`); err == nil {
		t.Error("deleting a referenced identity succeeded")
	}
}

func TestApplyIdentityChanges(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	ids := identIngest(t, s, "127.0.2.1", "127.0.2.2", "127.0.2.3")

	err := s.ApplyIdentityChanges(ctx, IdentityChanges{
		Now: identT0,
		Create: []IdentityCreate{
			{UUID: "i-a", Rollup: identRollup(2)},
			{UUID: "i-b", Rollup: IdentityRollup{FirstSeenAt: identT0, LastSeenAt: identT0, ObservationCount: 1, Digest: "empty"}},
		},
		Links: []IdentityLink{{ids[0], "i-a"}, {ids[1], "i-a"}, {ids[2], "i-b"}},
	})
	if err != nil {
		t.Fatalf("ApplyIdentityChanges: %v", err)
	}

	a, err := s.GetIdentity(ctx, "i-a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"j1", "j2"}, a.JA3Hashes); diff != "" {
		t.Errorf("ja3_hashes (-want +got):\n%s", diff)
	}
	if a.ObservationCount != 2 || !a.FirstSeenAt.Equal(identT0) || a.Fingerprints[store.FPSSHClientVersion][0] != "SSH-2.0-Go" {
		t.Errorf("identity = %+v", a)
	}
	var ja3, hassh any
	if err := s.DB().QueryRowContext(ctx, `SELECT ja3_hashes, hassh_hashes FROM attacker_identities WHERE uuid = 'i-b'`).Scan(&ja3, &hassh); err != nil {
		t.Fatal(err)
	}
	if ja3 != nil || hassh != nil {
		t.Errorf("empty lists stored as %v / %v, want NULL", ja3, hassh)
	}

	// The ingester keeps its updated_at: linking is not activity.
	got, err := s.GetAttacker(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.IdentityID == nil || *got.IdentityID != "i-a" {
		t.Errorf("attacker identity = %v, want i-a", got.IdentityID)
	}

	// A failing step writes nothing.
	err = s.ApplyIdentityChanges(ctx, IdentityChanges{
		Now:    identT0,
		Create: []IdentityCreate{{UUID: "i-c", Rollup: identRollup(1)}},
		Links:  []IdentityLink{{"no-such-attacker", "i-c"}},
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link to a missing attacker: error = %v, want ErrNotFound", err)
	}
	if err == nil || !strings.Contains(err.Error(), "no-such-attacker") {
		t.Errorf("link to a missing attacker: error = %v, want it to name the attacker", err)
	}
	if _, err := s.GetIdentity(ctx, "i-c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("identity of a failed transaction exists: %v", err)
	}
}

func TestIdentityMergeChainAndListings(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	ids := identIngest(t, s, "127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.4")

	create := []IdentityCreate{}
	for _, u := range []string{"w", "l1", "l2", "solo"} {
		create = append(create, IdentityCreate{UUID: u, Rollup: identRollup(1)})
	}
	if err := s.ApplyIdentityChanges(ctx, IdentityChanges{
		Now:    identT0,
		Create: create,
		Links:  []IdentityLink{{ids[0], "w"}, {ids[1], "l1"}, {ids[2], "l2"}, {ids[3], "solo"}},
		// l2 → l1 → w: a two-hop chain, as older data may hold.
		Merges: []IdentityMerge{{"l1", "w"}, {"l2", "l1"}},
	}); err != nil {
		t.Fatal(err)
	}

	for _, u := range []string{"w", "l1", "l2"} {
		got, err := s.GetIdentity(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if got.UUID != "w" {
			t.Errorf("GetIdentity(%s) = %s, want w", u, got.UUID)
		}
	}
	if _, err := s.GetIdentity(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity(nope) error = %v, want ErrNotFound", err)
	}

	list, total, err := s.ListIdentities(ctx, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range list {
		names = append(names, i.UUID)
	}
	slices.Sort(names)
	if total != 2 || !slices.Equal(names, []string{"solo", "w"}) {
		t.Errorf("ListIdentities = %v total %d, want [solo w] total 2", names, total)
	}
	page, total, err := s.ListIdentities(ctx, store.Page{Limit: 1, Offset: 1})
	if err != nil || len(page) != 1 || total != 2 {
		t.Errorf("second page = %d rows total %d (%v), want 1 row total 2", len(page), total, err)
	}

	for _, u := range []string{"w", "l2"} {
		obs, total, err := s.ListObservationsForIdentity(ctx, u, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range obs {
			got = append(got, a.UUID)
		}
		slices.Sort(got)
		want := []string{ids[0], ids[1], ids[2]}
		slices.Sort(want)
		if total != 3 || !slices.Equal(got, want) {
			t.Errorf("observations of %s = %v total %d, want the three merged rows", u, got, total)
		}
	}
	if _, _, err := s.ListObservationsForIdentity(ctx, "nope", store.Page{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("observations of an unknown identity: error = %v, want ErrNotFound", err)
	}

	// Revoking the merge brings l1 (and l2 behind it) back.
	if err := s.ApplyIdentityChanges(ctx, IdentityChanges{Now: identT0, Merges: []IdentityMerge{{"l1", ""}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetIdentity(ctx, "l2"); got.UUID != "l1" {
		t.Errorf("after revoking, GetIdentity(l2) = %s, want l1", got.UUID)
	}
}

func TestGetIdentityHopCap(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	var create []IdentityCreate
	var merges []IdentityMerge
	for i := range 12 {
		create = append(create, IdentityCreate{UUID: fmt.Sprintf("c%02d", i), Rollup: identRollup(1)})
		if i > 0 {
			merges = append(merges, IdentityMerge{fmt.Sprintf("c%02d", i-1), fmt.Sprintf("c%02d", i)})
		}
	}
	if err := s.ApplyIdentityChanges(ctx, IdentityChanges{Now: identT0, Create: create, Merges: merges}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdentity(ctx, "c00")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("c%02d", MaxMergeHops); got.UUID != want {
		t.Errorf("GetIdentity at the hop cap = %s, want %s", got.UUID, want)
	}
}

func TestScanAttackersForClustering(t *testing.T) {
	clock := identT0
	s, err := Open(context.Background(), t.TempDir()+"/decnet.db", Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	first := identIngest(t, s, "127.0.4.1")
	clock = identT0.Add(time.Minute)
	second := identIngest(t, s, "127.0.4.2")

	collect := func(since time.Time) []string {
		var out []string
		err := s.ScanAttackersForClustering(ctx, since, func(a store.Attacker) error {
			if a.Fingerprints[store.FPHASSH] != "h-"+a.IP {
				t.Errorf("row %s fingerprints = %v", a.IP, a.Fingerprints)
			}
			out = append(out, a.UUID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := collect(time.Time{}); !slices.Equal(got, []string{first[0], second[0]}) {
		t.Errorf("full scan = %v, want both rows oldest first", got)
	}
	if got := collect(identT0.Add(30 * time.Second)); !slices.Equal(got, second) {
		t.Errorf("scan since 30s = %v, want only the second row", got)
	}

	var states []IdentityState
	if err := s.ApplyIdentityChanges(ctx, IdentityChanges{Now: identT0, Create: []IdentityCreate{{UUID: "x", Rollup: identRollup(3)}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ScanIdentityStates(ctx, func(st IdentityState) error { states = append(states, st); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]IdentityState{{UUID: "x", Digest: "d3"}}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestScanAttackersMalformedJSON(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	now := FormatTime(identT0)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO attackers (uuid, ip, first_seen, last_seen, fingerprints, payload_hashes, updated_at)
		VALUES ('bad', '127.0.5.1', ?, ?, '{"ja3": ', '["p1"]', ?)`, now, now, now); err != nil {
		t.Fatal(err)
	}
	var got []store.Attacker
	if err := s.ScanAttackersForClustering(ctx, time.Time{}, func(a store.Attacker) error {
		got = append(got, a)
		return nil
	}); err != nil {
		t.Fatalf("scan with a malformed row: %v", err)
	}
	if len(got) != 1 || len(got[0].Fingerprints) != 0 || !slices.Equal(got[0].PayloadHashes, []string{"p1"}) {
		t.Errorf("rows = %+v, want the row with empty fingerprints and its payload", got)
	}
}
