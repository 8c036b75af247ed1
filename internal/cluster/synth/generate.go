package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

// deckyCount is the size of the decky pool, named decky-01 to decky-20.
const deckyCount = 20

// rngStream is the second PCG word. It is fixed so that a seed alone
// decides the corpus.
const rngStream = 0x6465636e6574 // "decnet"

// Generate builds the corpus of doc for seed. The same document and seed
// always give the same records, IDs included. Campaigns are generated in
// order, then the noise scanners, then the stock-tool bots, all from one
// random stream.
func Generate(doc *Document, seed uint64) (*Corpus, error) {
	g := &generator{
		rng:  rand.New(rand.NewPCG(seed, rngStream)),
		ips:  map[string]bool{},
		out:  &Corpus{},
		tool: map[string]bool{},
	}
	for _, c := range doc.Campaigns {
		g.campaign(c)
	}
	g.scanners(doc.Noise.ScannerCount)
	for _, t := range doc.Noise.StockTools {
		if g.tool[t.Name] {
			return nil, &ValidationError{Doc: doc.Path, Path: "noise.stock_tools", Msg: fmt.Sprintf("stock tool %q is declared twice", t.Name)}
		}
		g.tool[t.Name] = true
		g.stockTool(t)
	}

	for i := range g.out.Attackers {
		a := &g.out.Attackers[i]
		slices.SortStableFunc(a.Sessions, func(x, y Session) int { return x.Start.Compare(y.Start) })
	}
	return g.out, nil
}

type generator struct {
	rng  *rand.Rand
	ips  map[string]bool
	out  *Corpus
	tool map[string]bool
}

// between returns a uniform integer in [lo, hi].
func (g *generator) between(lo, hi int) int {
	return lo + g.rng.IntN(hi-lo+1)
}

func (g *generator) stableID(prefix string) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	u := uuid.UUID(b)
	return prefix + "-" + u.String()
}

// ip draws a public-looking IPv4 address outside 10/8, 127/8, 172.16/12 and
// 192.168/16, distinct from every address drawn before in this corpus.
func (g *generator) ip() string {
	for {
		a := g.between(1, 223)
		if a == 10 || a == 127 {
			continue
		}
		b := g.between(0, 255)
		if (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168) {
			continue
		}
		c := g.between(0, 255)
		d := g.between(1, 254)
		ip := fmt.Sprintf("%d.%d.%d.%d", a, b, c, d)
		if g.ips[ip] {
			continue
		}
		g.ips[ip] = true
		return ip
	}
}

func payloadHash(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// actorState tracks one actor's rows and targeting while its campaign is
// generated.
type actorState struct {
	spec        Actor
	truth       Truth
	rows        []int // indexes into the corpus attackers
	lastSuccess string
}

func (g *generator) addRow(st *actorState) int {
	row := len(st.rows)
	asn := st.spec.ASN
	if n := len(st.spec.RotationASNs); n > 0 {
		asn = st.spec.RotationASNs[row%n]
	}
	g.out.Attackers = append(g.out.Attackers, Attacker{
		ID:        g.stableID("att"),
		IP:        g.ip(),
		ASN:       asn,
		JA3:       st.spec.JA3,
		HASSH:     st.spec.HASSH,
		FirstSeen: Epoch,
		LastSeen:  Epoch,
		Truth:     st.truth,
	})
	idx := len(g.out.Attackers) - 1
	st.rows = append(st.rows, idx)
	return idx
}

func (g *generator) campaign(c Campaign) {
	identities := map[string]string{}
	states := map[string]*actorState{}
	for _, a := range c.Actors {
		key := a.Identity
		if key == "" {
			key = "actor:" + a.ID
		}
		id, ok := identities[key]
		if !ok {
			id = g.stableID("id")
			identities[key] = id
		}
		st := &actorState{spec: a, truth: Truth{Campaign: c.ID, Actor: a.ID, Identity: id}}
		states[a.ID] = st

		rows := 1
		switch a.IPPool {
		case PoolRotating:
			rows = a.RotationCount
		case PoolTor:
			rows = 0 // one row per session, added as sessions are drawn
		}
		for range rows {
			g.addRow(st)
		}
	}

	paused := func(day int) bool {
		for _, w := range c.PauseWindows {
			if day >= w[0] && day <= w[1] {
				return true
			}
		}
		return false
	}
	var open []int
	for day := range c.DurationDays {
		if !paused(day) {
			open = append(open, day)
		}
	}

	for _, p := range c.Phases {
		if !p.Name.Observable() {
			continue
		}
		g.phase(c, p, states[p.Actor], open, paused)
	}
}

func (g *generator) phase(c Campaign, p Phase, st *actorState, open []int, paused func(int) bool) {
	pool := open
	if st.spec.ActiveDays != nil {
		pool = nil
		for _, day := range st.spec.ActiveDays {
			if day < c.DurationDays && !paused(day) {
				pool = append(pool, day)
			}
		}
	}
	if len(pool) == 0 {
		return
	}

	for s := range p.Count {
		day := pool[g.rng.IntN(len(pool))]
		hour := st.spec.HoursActive[g.rng.IntN(len(st.spec.HoursActive))]
		start := g.start(day, hour, st.spec.JitterSeconds)
		sessionID := g.stableID("sess")

		decky := g.decky()
		if p.PreviousSuccess {
			decky = st.lastSuccess
			if decky == "" {
				decky = deckyName(1)
			}
		}

		var row int
		if st.spec.IPPool == PoolTor {
			row = g.addRow(st)
		} else {
			row = st.rows[s%len(st.rows)]
		}
		a := &g.out.Attackers[row]
		sess := Session{
			ID:          sessionID,
			AttackerID:  a.ID,
			Decky:       decky,
			Start:       start,
			Duration:    time.Duration(p.DwellSeconds * float64(time.Second)),
			Phase:       p.Name,
			Commands:    slices.Clone(p.Commands),
			Credentials: slices.Clone(p.Credentials),
			C2Callback:  p.C2Callback,
			Truth:       st.truth,
		}
		if p.PayloadSeed != "" {
			sess.PayloadHash = payloadHash(p.PayloadSeed)
		}
		a.Sessions = append(a.Sessions, sess)
		if a.FirstSeen.Equal(Epoch) || start.Before(a.FirstSeen) {
			a.FirstSeen = start
		}
		if start.After(a.LastSeen) {
			a.LastSeen = start
		}

		if p.Name == ukc.Exploitation || p.Name == ukc.Persistence {
			if p.SuccessRate == nil || g.rng.Float64() < *p.SuccessRate {
				st.lastSuccess = decky
			}
		}
	}
}

// start draws a session start on day at hour: the top of the hour plus up
// to an hour, plus or minus the jitter, clamped into that hour so that the
// actor's working hours hold exactly.
func (g *generator) start(day, hour, jitter int) time.Time {
	base := Epoch.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour)
	offset := g.between(-jitter, jitter) + g.between(0, 3600)
	offset = max(0, min(offset, 3599))
	return base.Add(time.Duration(offset) * time.Second)
}

func (g *generator) decky() string {
	return deckyName(g.between(1, deckyCount))
}

func deckyName(n int) string { return fmt.Sprintf("decky-%02d", n) }

// scanners adds n background scanners: one delivery session each, no
// fingerprint and nothing shared, each its own truth campaign.
func (g *generator) scanners(n int) {
	for i := range n {
		label := fmt.Sprintf("noise-scanner-%04d", i)
		g.bot(label, "", "")
	}
}

// stockTool adds t.Count bots that share t's fingerprints but are otherwise
// unrelated, each its own truth campaign.
func (g *generator) stockTool(t StockTool) {
	for i := range t.Count {
		label := fmt.Sprintf("noise-%s-%04d", t.Name, i)
		g.bot(label, t.JA3, t.HASSH)
	}
}

func (g *generator) bot(label, ja3, hassh string) {
	a := Attacker{
		ID:    g.stableID("att"),
		IP:    g.ip(),
		ASN:   int64(g.between(1000, 65000)),
		JA3:   ja3,
		HASSH: hassh,
		Truth: Truth{Campaign: label, Actor: label, Identity: label},
	}
	start := Epoch.Add(time.Duration(g.between(0, 86_400)) * time.Second)
	a.Sessions = []Session{{
		ID:         g.stableID("sess"),
		AttackerID: a.ID,
		Decky:      g.decky(),
		Start:      start,
		Duration:   time.Second,
		Phase:      ukc.Delivery,
		Commands:   []string{},
		Truth:      a.Truth,
	}}
	a.FirstSeen, a.LastSeen = start, start
	g.out.Attackers = append(g.out.Attackers, a)
}
