package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/metrics"
	"github.com/decnet/decnet/internal/cluster/synth"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

var testT0 = time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)

// testClock is a settable clock shared by the store and the clusterer.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *testClock                   { return &testClock{t: testT0} }
func openStore(t *testing.T, clock *testClock) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{Now: clock.now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sequentialUUIDs mints predictable identity UUIDs in increasing order.
func sequentialUUIDs(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("%s-%04d", prefix, n)
	}
}

func newTestClusterer(st Store, clock *testClock, prefix string) *Clusterer {
	return New(st, Options{Now: clock.now, NewUUID: sequentialUUIDs(prefix)})
}

// source describes the traffic of one address for ingestOne.
type source struct {
	ip       string
	ja3      string
	hassh    string
	payloads []string
	c2       []string
	commands []string
	at       time.Time
}

var eventSeq int

// ingestOne writes one address's traffic through the ingester's batch
// write and returns the attacker row.
func ingestOne(t *testing.T, st *sqlstore.Store, src source) store.Attacker {
	t.Helper()
	at := src.at
	if at.IsZero() {
		at = testT0
	}
	fps := map[string]string{}
	if src.ja3 != "" {
		fps[store.FPJA3] = src.ja3
	}
	if src.hassh != "" {
		fps[store.FPHASSH] = src.hassh
	}
	eventSeq++
	batch := []sqlstore.Observation{{
		Event:         services.Event{ID: fmt.Sprintf("ev-%d", eventSeq), Time: at, Decky: "decky-01", Service: "ssh", Kind: services.KindConnect, SrcIP: src.ip, SrcPort: 40000},
		Fingerprints:  fps,
		PayloadHashes: src.payloads,
		C2Endpoints:   src.c2,
	}}
	for i, cmd := range src.commands {
		eventSeq++
		batch = append(batch, sqlstore.Observation{
			Event:   services.Event{ID: fmt.Sprintf("ev-%d", eventSeq), Time: at.Add(time.Duration(i+1) * time.Second), Decky: "decky-01", Service: "ssh", Kind: services.KindCommand, SrcIP: src.ip, SrcPort: 40000},
			Command: cmd,
		})
	}
	res, err := st.IngestBatch(context.Background(), batch)
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	return res.Attackers[0]
}

func tick(t *testing.T, c *Clusterer) Result {
	t.Helper()
	res, err := c.Tick(context.Background())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return res
}

func identityOf(t *testing.T, st *sqlstore.Store, attacker string) string {
	t.Helper()
	a, err := st.GetAttacker(context.Background(), attacker)
	if err != nil {
		t.Fatal(err)
	}
	if a.IdentityID == nil {
		return ""
	}
	return *a.IdentityID
}

func resolved(t *testing.T, st *sqlstore.Store, attacker string) string {
	t.Helper()
	lit := identityOf(t, st, attacker)
	if lit == "" {
		t.Fatalf("attacker %s has no identity", attacker)
	}
	id, err := st.GetIdentity(context.Background(), lit)
	if err != nil {
		t.Fatal(err)
	}
	return id.UUID
}

func TestTickEmptyDatabase(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	if res := tick(t, newTestClusterer(st, clock, "id")); !res.Empty() {
		t.Errorf("tick on an empty database = %+v, want nothing", res)
	}
}

func TestTickSharedJA3FormsOneIdentity(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	a := ingestOne(t, st, source{ip: "127.1.0.1", ja3: "J"})
	b := ingestOne(t, st, source{ip: "127.1.0.2", ja3: "J"})

	res := tick(t, newTestClusterer(st, clock, "id"))
	want := Result{Formed: []Formed{{IdentityUUID: "id-0001", ObservationUUIDs: sortedIDs(a.UUID, b.UUID)}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	for _, id := range []string{a.UUID, b.UUID} {
		if got := identityOf(t, st, id); got != "id-0001" {
			t.Errorf("attacker %s identity = %q, want id-0001", id, got)
		}
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestTickDistinctJA3FormsSingletons(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	ingestOne(t, st, source{ip: "127.1.0.1", ja3: "J1"})
	ingestOne(t, st, source{ip: "127.1.0.2", ja3: "J2"})
	res := tick(t, newTestClusterer(st, clock, "id"))
	if len(res.Formed) != 2 || len(res.Linked)+len(res.Merged)+len(res.Unmerged) != 0 {
		t.Errorf("result = %+v, want two formed singletons", res)
	}
	list, total, err := st.ListIdentities(context.Background(), store.Page{})
	if err != nil || total != 2 || len(list) != 2 {
		t.Errorf("identities = %d (%v), want 2", total, err)
	}
}

func TestTickLinksNewObservation(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	c := newTestClusterer(st, clock, "id")
	ingestOne(t, st, source{ip: "127.1.0.1", ja3: "J"})
	ingestOne(t, st, source{ip: "127.1.0.2", ja3: "J"})
	tick(t, c)

	clock.advance(time.Minute)
	n := ingestOne(t, st, source{ip: "127.1.0.3", ja3: "J", at: testT0.Add(time.Hour)})
	res := tick(t, c)
	want := Result{Linked: []Linked{{IdentityUUID: "id-0001", ObservationUUID: n.UUID}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	id, err := st.GetIdentity(context.Background(), "id-0001")
	if err != nil {
		t.Fatal(err)
	}
	if id.ObservationCount != 3 || !id.LastSeenAt.Equal(testT0.Add(time.Hour)) || !id.FirstSeenAt.Equal(testT0) {
		t.Errorf("rollup after link = count %d first %v last %v, want 3, %v, %v", id.ObservationCount, id.FirstSeenAt, id.LastSeenAt, testT0, testT0.Add(time.Hour))
	}
}

func TestTickMergeAndUnmerge(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	c := newTestClusterer(st, clock, "id")
	ctx := context.Background()

	a := ingestOne(t, st, source{ip: "127.1.0.1", ja3: "JA", hassh: "HA"})
	b := ingestOne(t, st, source{ip: "127.1.0.2", ja3: "JB"})
	tick(t, c)
	ida, idb := identityOf(t, st, a.UUID), identityOf(t, st, b.UUID)
	if ida == idb {
		t.Fatalf("a and b share identity %s before the bridge", ida)
	}

	// A bridge shares a's HASSH and a payload that b also drops. It has no
	// JA3, so b's JA3 cannot veto the payload.
	clock.advance(time.Minute)
	ingestOne(t, st, source{ip: "127.1.0.2", ja3: "JB", payloads: []string{"p-shared"}})
	bridge := ingestOne(t, st, source{ip: "127.1.0.3", hassh: "HA", payloads: []string{"p-shared"}, at: testT0.Add(time.Hour)})
	res := tick(t, c)

	winner, loser := min(ida, idb), max(ida, idb)
	wantMerged := []Merged{{WinnerUUID: winner, LoserUUID: loser, IdentityUUID: winner}}
	if diff := cmp.Diff(wantMerged, res.Merged); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Linked{{IdentityUUID: winner, ObservationUUID: bridge.UUID}}, res.Linked); diff != "" {
		t.Errorf("linked (-want +got):\n%s", diff)
	}
	if identityOf(t, st, a.UUID) != ida || identityOf(t, st, b.UUID) != idb {
		t.Error("merge moved an observation's identity_id")
	}
	lost, err := st.GetIdentity(ctx, loser)
	if err != nil || lost.UUID != winner {
		t.Errorf("GetIdentity(loser) = %s (%v), want the winner %s", lost.UUID, err, winner)
	}
	obs, total, err := st.ListObservationsForIdentity(ctx, winner, store.Page{})
	if err != nil || total != 3 || len(obs) != 3 {
		t.Errorf("observations of the winner = %d (%v), want 3", total, err)
	}
	if win, _ := st.GetIdentity(ctx, winner); win.ObservationCount != 3 {
		t.Errorf("winner observation_count = %d, want 3", win.ObservationCount)
	}

	// The payload evidence goes away: nothing connects the two sides any
	// more, so the merge is revoked.
	clock.advance(time.Minute)
	if _, err := st.DB().ExecContext(ctx, `UPDATE attackers SET payload_hashes = '[]', updated_at = ? WHERE uuid IN (?, ?)`,
		sqlstore.FormatTime(clock.now()), b.UUID, bridge.UUID); err != nil {
		t.Fatal(err)
	}
	res = tick(t, c)
	wantUnmerged := []Unmerged{{ResurrectedUUID: loser, FormerWinnerUUID: winner}}
	if diff := cmp.Diff(wantUnmerged, res.Unmerged); diff != "" {
		t.Errorf("unmerged (-want +got):\n%s", diff)
	}
	if len(res.Formed) != 1 || !res.Formed[0].Resurrected || res.Formed[0].IdentityUUID != loser {
		t.Errorf("formed = %+v, want the resurrected loser", res.Formed)
	}
	if got, _ := st.GetIdentity(ctx, loser); got.UUID != loser {
		t.Errorf("after unmerge GetIdentity(loser) = %s, want itself", got.UUID)
	}
}

func TestTickIdempotent(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	c := newTestClusterer(st, clock, "id")
	ingestOne(t, st, source{ip: "127.1.0.1", ja3: "J", payloads: []string{"p"}, commands: []string{"id", "uname -a"}})
	ingestOne(t, st, source{ip: "127.1.0.2", ja3: "J"})
	ingestOne(t, st, source{ip: "127.1.0.3", c2: []string{"c2.example"}})
	tick(t, c)
	before := snapshot(t, st)

	clock.advance(time.Minute)
	if res := tick(t, c); !res.Empty() {
		t.Errorf("second tick = %+v, want nothing", res)
	}
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Errorf("second tick rewrote rows (-before +after):\n%s", diff)
	}

	// A restarted clusterer finds nothing to do either.
	if res := tick(t, newTestClusterer(st, clock, "other")); !res.Empty() {
		t.Errorf("tick after restart = %+v, want nothing", res)
	}
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Errorf("restart rewrote rows (-before +after):\n%s", diff)
	}
}

// snapshot reads every identity row and every attacker link.
func snapshot(t *testing.T, st *sqlstore.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows, err := st.DB().Query(`SELECT uuid, updated_at, COALESCE(merged_into_uuid, ''), rollup_digest FROM attacker_identities`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u, upd, m, d string
		if err := rows.Scan(&u, &upd, &m, &d); err != nil {
			t.Fatal(err)
		}
		out["identity "+u] = upd + " " + m + " " + d
	}
	rows2, err := st.DB().Query(`SELECT uuid, COALESCE(identity_id, '') FROM attackers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var u, i string
		if err := rows2.Scan(&u, &i); err != nil {
			t.Fatal(err)
		}
		out["attacker "+u] = i
	}
	return out
}

func TestTickRollupColumns(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	c := newTestClusterer(st, clock, "id")
	ctx := context.Background()
	first := ingestOne(t, st, source{ip: "127.1.0.1", hassh: "H", ja3: "J2", c2: []string{"c2.b", "c2.a"}, at: testT0.Add(2 * time.Hour)})
	ingestOne(t, st, source{ip: "127.1.0.2", hassh: "H", ja3: "J1", at: testT0})
	bare := ingestOne(t, st, source{ip: "127.1.0.3"})
	tick(t, c)
	pair, single := identityOf(t, st, first.UUID), identityOf(t, st, bare.UUID)

	id, err := st.GetIdentity(ctx, pair)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"J1", "J2"}, id.JA3Hashes); diff != "" {
		t.Errorf("ja3_hashes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"H"}, id.HASSHHashes); diff != "" {
		t.Errorf("hassh_hashes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c2.a", "c2.b"}, id.C2Endpoints); diff != "" {
		t.Errorf("c2_endpoints (-want +got):\n%s", diff)
	}
	if !id.FirstSeenAt.Equal(testT0) || !id.LastSeenAt.Equal(testT0.Add(2*time.Hour)) || id.ObservationCount != 2 {
		t.Errorf("times/count = %v %v %d", id.FirstSeenAt, id.LastSeenAt, id.ObservationCount)
	}
	if id.Confidence == nil || *id.Confidence <= 0 || *id.Confidence > 1 {
		t.Errorf("confidence = %v, want in (0, 1]", id.Confidence)
	}

	var ja3, hassh any
	if err := st.DB().QueryRow(`SELECT ja3_hashes, hassh_hashes FROM attacker_identities WHERE uuid = ?`, single).Scan(&ja3, &hassh); err != nil {
		t.Fatal(err)
	}
	if ja3 != nil || hassh != nil {
		t.Errorf("fingerprint columns of an unfingerprinted identity = %v %v, want NULL", ja3, hassh)
	}
	if got, _ := st.GetIdentity(ctx, single); got.Confidence != nil {
		t.Errorf("singleton confidence = %v, want NULL", *got.Confidence)
	}

	// A new fingerprint value on a member updates the list.
	clock.advance(time.Minute)
	ingestOne(t, st, source{ip: "127.1.0.2", hassh: "H", ja3: "J3"})
	tick(t, c)
	id, _ = st.GetIdentity(ctx, pair)
	if diff := cmp.Diff([]string{"J1", "J2", "J3"}, id.JA3Hashes); diff != "" {
		t.Errorf("ja3_hashes after update (-want +got):\n%s", diff)
	}
}

// failingStore fails ApplyIdentityChanges while fail is set.
type failingStore struct {
	*sqlstore.Store
	fail bool
}

func (f *failingStore) ApplyIdentityChanges(ctx context.Context, c sqlstore.IdentityChanges) error {
	if f.fail {
		return errors.New("disk on fire")
	}
	return f.Store.ApplyIdentityChanges(ctx, c)
}

func TestTickRecoversFromWriteFailure(t *testing.T) {
	clock := newClock()
	st := openStore(t, clock)
	fs := &failingStore{Store: st, fail: true}
	c := newTestClusterer(fs, clock, "id")
	a := ingestOne(t, st, source{ip: "127.1.0.1", ja3: "J"})
	if _, err := c.Tick(context.Background()); err == nil {
		t.Fatal("tick with a failing store succeeded")
	}
	if got := identityOf(t, st, a.UUID); got != "" {
		t.Errorf("failed tick linked the attacker to %q", got)
	}
	fs.fail = false
	res := tick(t, c)
	if len(res.Formed) != 1 || identityOf(t, st, a.UUID) == "" {
		t.Errorf("tick after recovery = %+v, want the identity formed", res)
	}
}

// corpusLoader writes a synthetic corpus through the ingester and returns
// attacker UUID → truth label.
func ingestCorpus(t *testing.T, st *sqlstore.Store, corpus *synth.Corpus, level synth.Level, order []int) map[string]string {
	t.Helper()
	truthByID, err := corpus.TruthLabels(level)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, i := range order {
		a := corpus.Attackers[i]
		rec := a.Record()
		src := source{ip: a.IP, ja3: a.JA3, hassh: a.HASSH, payloads: rec.PayloadHashes, c2: rec.C2Endpoints, commands: rec.Commands, at: a.FirstSeen}
		row := ingestOne(t, st, src)
		out[row.UUID] = truthByID[a.ID]
	}
	return out
}

func predictFromStore(t *testing.T, st *sqlstore.Store, truth map[string]string) map[string]string {
	t.Helper()
	pred := map[string]string{}
	for id := range truth {
		pred[id] = resolved(t, st, id)
	}
	return pred
}

func TestScenarioFloorsThroughSQLite(t *testing.T) {
	for _, file := range scenarioFiles {
		path := filepath.Join(scenarioDir, file)
		doc, err := synth.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		floors, err := synth.LoadFloors(synth.ExpectedPath(path))
		if err != nil {
			t.Fatal(err)
		}
		seeds := uint64(10)
		if testing.Short() {
			seeds = 2
		}
		for seed := range seeds {
			corpus, err := synth.Generate(doc, seed)
			if err != nil {
				t.Fatal(err)
			}
			clock := newClock()
			st := openStore(t, clock)
			order := rand.New(rand.NewPCG(seed, 1)).Perm(len(corpus.Attackers))
			truth := ingestCorpus(t, st, corpus, synth.LevelIdentity, order)
			c := newTestClusterer(st, clock, "id")
			tick(t, c)
			s, err := metrics.Score(predictFromStore(t, st, truth), truth)
			if err != nil {
				t.Fatal(err)
			}
			if fails := floors.Check(s); len(fails) > 0 {
				t.Errorf("%s seed %d: %v", file, seed, fails)
			}
			if res := tick(t, c); !res.Empty() {
				t.Errorf("%s seed %d: second tick = %+v, want nothing", file, seed, res)
			}
		}
	}
}

// TestIncrementalTicksMatchFullLoad feeds a corpus in batches with a tick
// after each, then checks that the partition equals a from-scratch
// clustering and that a fresh clusterer finds nothing to change.
func TestIncrementalTicksMatchFullLoad(t *testing.T) {
	for _, file := range []string{"noise_floor.yaml", "stock_client.yaml"} {
		doc, err := synth.Load(filepath.Join(scenarioDir, file))
		if err != nil {
			t.Fatal(err)
		}
		corpus, err := synth.Generate(doc, 3)
		if err != nil {
			t.Fatal(err)
		}
		clock := newClock()
		st := openStore(t, clock)
		c := newTestClusterer(st, clock, "id")
		order := rand.New(rand.NewPCG(9, 9)).Perm(len(corpus.Attackers))
		truth := map[string]string{}
		for start := 0; start < len(order); start += 37 {
			end := min(start+37, len(order))
			for k, v := range ingestCorpus(t, st, corpus, synth.LevelIdentity, order[start:end]) {
				truth[k] = v
			}
			clock.advance(time.Minute)
			tick(t, c)
		}
		pred := predictFromStore(t, st, truth)
		s, err := metrics.Score(pred, truth)
		if err != nil {
			t.Fatal(err)
		}
		if s.ARI != 1 || s.SingletonRecall != 1 {
			t.Errorf("%s: incremental ticks scored %+v, want perfect", file, s)
		}
		before := snapshot(t, st)
		if res := tick(t, newTestClusterer(st, clock, "fresh")); !res.Empty() {
			t.Errorf("%s: fresh clusterer after incremental ticks = %+v, want nothing", file, res)
		}
		if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
			t.Errorf("%s: fresh clusterer rewrote rows (-before +after):\n%s", file, diff)
		}
	}
}

// TestTickPartitionIgnoresOrderAndTime ingests the same corpus in two
// orders and with all times shifted, and compares the partitions.
func TestTickPartitionIgnoresOrderAndTime(t *testing.T) {
	doc, err := synth.Load(filepath.Join(scenarioDir, "slow_burn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := synth.Generate(doc, 5)
	if err != nil {
		t.Fatal(err)
	}
	partition := func(c *synth.Corpus, order []int) map[string]string {
		clock := newClock()
		st := openStore(t, clock)
		byUUID := ingestCorpus(t, st, c, synth.LevelActor, order)
		tick(t, newTestClusterer(st, clock, "id"))
		// Relabel by IP so that runs are comparable.
		out := map[string]string{}
		canon := map[string]string{}
		for id := range byUUID {
			a, err := st.GetAttacker(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			root := resolved(t, st, id)
			if cur, ok := canon[root]; !ok || a.IP < cur {
				canon[root] = a.IP
			}
			out[a.IP] = root
		}
		for ip, root := range out {
			out[ip] = canon[root]
		}
		return out
	}
	n := len(corpus.Attackers)
	forward := partition(corpus, rand.New(rand.NewPCG(1, 1)).Perm(n))
	backward := partition(corpus, rand.New(rand.NewPCG(2, 2)).Perm(n))
	shifted := partition(corpus.Shift(90*24*time.Hour), rand.New(rand.NewPCG(3, 3)).Perm(n))
	if diff := cmp.Diff(forward, backward); diff != "" {
		t.Errorf("input order changed the partition:\n%s", diff)
	}
	if diff := cmp.Diff(forward, shifted); diff != "" {
		t.Errorf("a time shift changed the partition:\n%s", diff)
	}
}

func TestDigraphCentroid(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   uint64
		ok     bool
	}{
		{"none", nil, 0, false},
		{"single", []string{"00000000000000ff"}, 0xff, true},
		{"majority", []string{"0000000000000003", "0000000000000001", "0000000000000001"}, 0x1, true},
		{"tie clears", []string{"0000000000000001", "0000000000000000"}, 0, true},
		{"garbage skipped", []string{"xyz", "0000000000000001", "zzzzzzzzzzzzzzzz", "01"}, 0x1, true},
	}
	for _, tt := range tests {
		got, ok := DigraphCentroid(tt.values)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: DigraphCentroid = %x, %v; want %x, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
