package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// population generates observations shaped like honeypot traffic:
//   - 55% scanners: no fingerprint, or one of 20 stock clients;
//   - 30% bots: a stock client plus a botnet payload or C2 host shared by
//     about 60 sources;
//   - 15% operators: a rare JA3 and HASSH reused on 2 to 10 addresses,
//     sometimes with a private payload.
type population struct {
	rng       *rand.Rand
	next      int
	operators int
}

func newPopulation(seed uint64) *population {
	return &population{rng: rand.New(rand.NewPCG(seed, 77))}
}

func (p *population) stock() string {
	// Skewed towards the first few clients, as real traffic is.
	return "stock-" + strconv.Itoa(int(20*p.rng.Float64()*p.rng.Float64()))
}

func (p *population) one() Observation {
	p.next++
	o := Observation{ID: fmt.Sprintf("obs-%08d", p.next), ASN: int64(p.rng.IntN(60000)), HasASN: true}
	switch r := p.rng.Float64(); {
	case r < 0.55:
		if p.rng.IntN(2) == 0 {
			o.HASSH = p.stock()
		}
	case r < 0.85:
		o.HASSH = p.stock()
		if p.rng.IntN(3) == 0 {
			o.JA3 = p.stock()
		}
		net := p.rng.IntN(5000)
		if p.rng.IntN(2) == 0 {
			o.PayloadHashes = []string{"botnet-payload-" + strconv.Itoa(net)}
		} else {
			o.C2Endpoints = []string{"c2-" + strconv.Itoa(net) + ".example"}
		}
	default:
		// Operators are drawn so that each one shows up on a handful of
		// addresses across the whole set.
		op := p.rng.IntN(max(1, p.operators))
		o.JA3 = "op-ja3-" + strconv.Itoa(op)
		o.HASSH = "op-hassh-" + strconv.Itoa(op)
		if op%4 == 0 {
			o.PayloadHashes = []string{"op-payload-" + strconv.Itoa(op)}
		}
	}
	return o
}

func (p *population) batch(n int) []Observation {
	if p.operators == 0 {
		// About 6 addresses per operator.
		p.operators = max(1, n*15/100/6)
	}
	out := make([]Observation, n)
	for i := range out {
		out[i] = p.one()
	}
	return out
}

func benchSize(b *testing.B, def int) int {
	if v := os.Getenv("DECNET_BENCH_OBSERVATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("DECNET_BENCH_OBSERVATIONS=%q: use a whole number of at least 1000", v)
		}
		return n
	}
	return def
}

// BenchmarkClusterFromScratch builds the index over one million
// observations and computes every component.
func BenchmarkClusterFromScratch(b *testing.B) {
	n := benchSize(b, 1_000_000)
	obs := newPopulation(1).batch(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x := NewIndex(DefaultParams())
		x.Reserve(len(obs))
		for _, o := range obs {
			x.Upsert(o)
		}
		roots := x.Recompute()
		b.ReportMetric(float64(len(roots)), "components")
	}
}

// BenchmarkIncrementalAdd1000 adds 1,000 new observations to an index of
// one million and brings the partition up to date.
func BenchmarkIncrementalAdd1000(b *testing.B) {
	n := benchSize(b, 1_000_000)
	pop := newPopulation(2)
	x := NewIndex(DefaultParams())
	for _, o := range pop.batch(n) {
		x.Upsert(o)
	}
	x.Recompute()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for range 1000 {
			x.Upsert(pop.one())
		}
		x.Recompute()
	}
}

// BenchmarkIncrementalChange1000 changes the fingerprints of 1,000
// existing observations, which can remove edges, so every touched
// component is rebuilt.
func BenchmarkIncrementalChange1000(b *testing.B) {
	n := benchSize(b, 1_000_000)
	pop := newPopulation(3)
	base := pop.batch(n)
	x := NewIndex(DefaultParams())
	for _, o := range base {
		x.Upsert(o)
	}
	x.Recompute()
	rng := rand.New(rand.NewPCG(4, 4))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for range 1000 {
			o := base[rng.IntN(len(base))]
			o.JA3 = pop.stock()
			x.Upsert(o)
		}
		x.Recompute()
	}
}

// seedAttackers inserts one attackers row per observation with the
// columns and JSON shapes the ingester writes. The rows' updated_at values
// are spread evenly over the span that ends at at, as rows that arrived
// over time would be.
func seedAttackers(b *testing.B, st *sqlstore.Store, obs []Observation, at time.Time, span time.Duration) {
	b.Helper()
	ctx := context.Background()
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO attackers (uuid, ip, first_seen, last_seen, deckies, services, event_count,
		commands, fingerprints, fingerprint_history, payload_hashes, c2_endpoints, asn, identity_id, updated_at)
		VALUES (?, ?, ?, ?, '["decky-01"]', '["ssh"]', 1, '[]', ?, ?, ?, ?, ?, NULL, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i, o := range obs {
		ts := sqlstore.FormatTime(at.Add(-time.Duration(len(obs)-1-i) * (span / time.Duration(len(obs)))))
		fps := map[string]string{}
		hist := map[string][]string{}
		if o.JA3 != "" {
			fps[store.FPJA3], hist[store.FPJA3] = o.JA3, []string{o.JA3}
		}
		if o.HASSH != "" {
			fps[store.FPHASSH], hist[store.FPHASSH] = o.HASSH, []string{o.HASSH}
		}
		seq := seededRows + i
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+seq>>24&0x7f, seq>>16&0xff, seq>>8&0xff, seq&0xff)
		if _, err := stmt.ExecContext(ctx, o.ID, ip, ts, ts, jsonText(fps), jsonText(hist),
			jsonText(nonNil(o.PayloadHashes)), jsonText(nonNil(o.C2Endpoints)), o.ASN, ts); err != nil {
			b.Fatal(err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	seededRows += len(obs)
}

// seededRows numbers attackers rows across calls so that addresses stay
// unique.
var seededRows int

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// BenchmarkTickFromScratch runs the first tick over a database of
// attackers rows: read every row, cluster, create every identity, link
// every row and write every rollup. DECNET_BENCH_OBSERVATIONS sets the
// number of rows (default 100,000).
func BenchmarkTickFromScratch(b *testing.B) {
	n := benchSize(b, 100_000)
	obs := newPopulation(5).batch(n)
	for b.Loop() {
		b.StopTimer()
		clock := &testClock{t: testT0}
		st, err := sqlstore.Open(context.Background(), b.TempDir()+"/decnet.db", sqlstore.Options{Now: clock.now})
		if err != nil {
			b.Fatal(err)
		}
		seedAttackers(b, st, obs, testT0, 24*time.Hour)
		c := New(st, Options{Now: clock.now})
		b.StartTimer()

		res, err := c.Tick(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(len(res.Formed)), "identities")
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkTickIncremental1000 measures one tick after 1,000 new attackers
// rows arrive in a database that the clusterer has already processed:
// read the changed rows, update the components, write the new links,
// identities and rollups. DECNET_BENCH_OBSERVATIONS sets the base size
// (default 100,000).
func BenchmarkTickIncremental1000(b *testing.B) {
	n := benchSize(b, 100_000)
	pop := newPopulation(6)
	clock := &testClock{t: testT0}
	st, err := sqlstore.Open(context.Background(), b.TempDir()+"/decnet.db", sqlstore.Options{Now: clock.now})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedAttackers(b, st, pop.batch(n), testT0, 24*time.Hour)
	c := New(st, Options{Now: clock.now})
	if _, err := c.Tick(context.Background()); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		clock.advance(time.Minute)
		seedAttackers(b, st, pop.batch(1000), clock.t, time.Minute)
		b.StartTimer()
		if _, err := c.Tick(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func jsonText(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}
