package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/metrics"
	"github.com/decnet/decnet/internal/cluster/ukc"
)

const scenarioDir = "../testdata/scenarios"

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	doc, err := Parse([]byte(src), "inline.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

func mustGenerate(t *testing.T, doc *Document, seed uint64) *Corpus {
	t.Helper()
	c, err := Generate(doc, seed)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return c
}

const twoActors = `
campaign:
  id: demo
  duration_days: 2
  actors:
    - id: alpha
      asn: 100
      ja3: "ja3-alpha"
      hassh: "hassh-alpha"
    - id: beta
      asn: 200
  phases:
    - name: delivery
      actor: alpha
      target_selector: { count: 2 }
    - name: discovery
      actor: beta
      target_selector: { count: 3 }
`

func ids(c *Corpus) []string {
	var out []string
	for _, a := range c.Attackers {
		out = append(out, a.ID, a.IP)
		for _, s := range a.Sessions {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestGenerateDeterministic(t *testing.T) {
	doc := mustParse(t, twoActors)
	a := mustGenerate(t, doc, 42)
	b := mustGenerate(t, doc, 42)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed gave different corpora (-first +second):\n%s", diff)
	}
}

func TestGenerateSeedsDiffer(t *testing.T) {
	doc := mustParse(t, twoActors)
	a := ids(mustGenerate(t, doc, 1))
	b := ids(mustGenerate(t, doc, 2))
	for i := range a {
		if a[i] == b[i] {
			t.Errorf("seeds 1 and 2 share id %q at position %d", a[i], i)
		}
	}
}

func TestTruthLabelsMatchDSL(t *testing.T) {
	c := mustGenerate(t, mustParse(t, twoActors), 0)
	if len(c.Attackers) != 2 {
		t.Fatalf("got %d attackers, want 2", len(c.Attackers))
	}
	campaigns, err := c.TruthLabels(LevelCampaign)
	if err != nil {
		t.Fatal(err)
	}
	actors, err := c.TruthLabels(LevelActor)
	if err != nil {
		t.Fatal(err)
	}
	identities, err := c.TruthLabels(LevelIdentity)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alpha", "beta"}
	for i, a := range c.Attackers {
		if campaigns[a.ID] != "demo" {
			t.Errorf("attacker %d campaign = %q, want demo", i, campaigns[a.ID])
		}
		if actors[a.ID] != want[i] {
			t.Errorf("attacker %d actor = %q, want %q", i, actors[a.ID], want[i])
		}
		for _, s := range a.Sessions {
			if s.Truth != a.Truth {
				t.Errorf("session %s truth %+v differs from its attacker's %+v", s.ID, s.Truth, a.Truth)
			}
		}
	}
	if identities[c.Attackers[0].ID] == identities[c.Attackers[1].ID] {
		t.Errorf("two actors share identity %q", identities[c.Attackers[0].ID])
	}
	if got := len(c.Attackers[0].Sessions); got != 2 {
		t.Errorf("alpha has %d sessions, want 2", got)
	}
	if got := len(c.Attackers[1].Sessions); got != 3 {
		t.Errorf("beta has %d sessions, want 3", got)
	}
}

func TestTruthLabelsUnknownLevel(t *testing.T) {
	c := mustGenerate(t, mustParse(t, twoActors), 0)
	if _, err := c.TruthLabels(Level("galaxy")); err == nil || !strings.Contains(err.Error(), "unknown truth-label level") {
		t.Errorf("TruthLabels(galaxy) error = %v, want unknown truth-label level", err)
	}
	if _, err := ParseLevel("galaxy"); err == nil {
		t.Error("ParseLevel(galaxy) succeeded")
	}
}

func TestUnobservablePhaseEmitsNothing(t *testing.T) {
	doc := mustParse(t, `
campaign:
  id: c
  actors: [{id: a}]
  phases:
    - name: reconnaissance
      target_selector: { count: 4 }
    - name: delivery
`)
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Msg, "unobservable") {
		t.Errorf("warnings = %v, want one unobservable-phase warning", doc.Warnings)
	}
	if len(doc.Warnings) == 1 && doc.Warnings[0].Path != "campaign.phases[0].name" {
		t.Errorf("warning path = %q, want campaign.phases[0].name", doc.Warnings[0].Path)
	}
	sessions := mustGenerate(t, doc, 0).Sessions()
	if len(sessions) != 1 || sessions[0].Phase != ukc.Delivery {
		t.Errorf("sessions = %+v, want exactly one delivery session", sessions)
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantPath string
		wantMsg  string
	}{
		{"no campaign", `foo: 1`, "", "missing top-level 'campaign' key"},
		{"missing id", `campaign: {actors: [{id: a}], phases: []}`, "campaign", "campaign missing required key: id"},
		{"missing actors", `campaign: {id: c, phases: []}`, "campaign", "campaign missing required key: actors"},
		{"missing phases", `campaign: {id: c, actors: [{id: a}]}`, "campaign", "campaign missing required key: phases"},
		{"no actors", `campaign: {id: c, actors: [], phases: []}`, "campaign.actors", "at least one actor"},
		{"actor without id", `campaign: {id: c, actors: [{asn: 1}], phases: []}`, "campaign.actors[0]", "actor missing required key: id"},
		{"phase without name", `campaign: {id: c, actors: [{id: a}], phases: [{actor: a}]}`, "campaign.phases[0]", "phase[0] missing 'name'"},
		{"unknown phase", `campaign: {id: c, actors: [{id: a}], phases: [{name: lunch}]}`, "campaign.phases[0].name", "phase[0] has unknown UKC phase 'lunch'"},
		{"unknown actor", `campaign: {id: c, actors: [{id: a}], phases: [{name: delivery}, {name: delivery, actor: b}]}`, "campaign.phases[1].actor", "phase[1] references unknown actor 'b'"},
		{"asn not a number", `campaign: {id: c, actors: [{id: a, asn: big}], phases: []}`, "campaign.actors[0].asn", "must be a whole number"},
		{"hour out of range", `campaign: {id: c, actors: [{id: a, hours_active_utc: [25]}], phases: []}`, "campaign.actors[0].hours_active_utc[0]", "out of range"},
		{"bad pool", `campaign: {id: c, actors: [{id: a, ip_pool: cloud}], phases: []}`, "campaign.actors[0].ip_pool", "unknown pool"},
		{"duplicate actor", `campaign: {id: c, actors: [{id: a}, {id: a}], phases: []}`, "campaign.actors[1].id", "declared twice"},
		{"bad pause", `campaign: {id: c, actors: [{id: a}], phases: [], pause_windows: [[3, 1]]}`, "campaign.pause_windows[0]", "after end day"},
		{"bad credential", `campaign: {id: c, actors: [{id: a}], phases: [{name: delivery, tool_signature: {credentials: [[root]]}}]}`, "campaign.phases[0].tool_signature.credentials[0]", "[user, password] pair"},
		{"bad corpus campaign", `corpus: {campaigns: [{campaign: {id: c, actors: [{id: a}], phases: [{name: nope}]}}]}`, "corpus.campaigns[0].campaign.phases[0].name", "unknown UKC phase"},
		{"duplicate campaign", `corpus: {campaigns: [{campaign: {id: c, actors: [{id: a}], phases: []}}, {campaign: {id: c, actors: [{id: a}], phases: []}}]}`, "corpus.campaigns", "declared twice"},
		{"not a mapping", `- 1`, "", "document must be a mapping"},
		{"bad yaml", "campaign: [", "", "not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "bad.yaml")
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v, want a ValidationError", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if ve.Doc != "bad.yaml" {
				t.Errorf("error document = %q, want bad.yaml", ve.Doc)
			}
			if ve.Path != tt.wantPath {
				t.Errorf("error path = %q, want %q", ve.Path, tt.wantPath)
			}
			if !strings.Contains(ve.Msg, tt.wantMsg) {
				t.Errorf("error message = %q, want it to contain %q", ve.Msg, tt.wantMsg)
			}
		})
	}
}

func TestUnknownKeyWarns(t *testing.T) {
	doc := mustParse(t, `
campaign:
  id: c
  colour: red
  actors: [{id: a, role: broker}]
  phases: [{name: delivery, success_rate: 0.5, tool_signature: {cve: CVE-2024-0001}}]
`)
	if len(doc.Warnings) != 1 || doc.Warnings[0].Path != "campaign.colour" {
		t.Errorf("warnings = %v, want one for campaign.colour", doc.Warnings)
	}
}

const noiseCorpus = `
corpus:
  campaigns:
    - campaign:
        id: only
        actors: [{id: a}]
        phases: [{name: delivery}]
  noise:
    scanner_count: 5
`

func TestNoiseScannersAreTruthSingletons(t *testing.T) {
	c := mustGenerate(t, mustParse(t, noiseCorpus), 0)
	labels, err := c.TruthLabels(LevelCampaign)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]int{}
	for _, l := range labels {
		distinct[l]++
	}
	if len(distinct) != 6 {
		t.Errorf("got %d distinct truth campaigns, want 6", len(distinct))
	}
	for i, a := range c.Attackers[1:] {
		if a.JA3 != "" || a.HASSH != "" || len(a.Sessions) != 1 || a.Sessions[0].Phase != ukc.Delivery {
			t.Errorf("scanner %d = %+v, want one delivery session and no fingerprints", i, a)
		}
		if a.ASN < 1000 || a.ASN > 65000 {
			t.Errorf("scanner %d ASN = %d, want 1000..65000", i, a.ASN)
		}
	}
	if want := "noise-scanner-0004"; c.Attackers[5].Truth.Campaign != want {
		t.Errorf("last scanner truth = %q, want %q", c.Attackers[5].Truth.Campaign, want)
	}
}

func TestMultiActorSharesCampaign(t *testing.T) {
	c := mustGenerate(t, mustParse(t, twoActors), 0)
	if c.Attackers[0].Truth.Campaign != c.Attackers[1].Truth.Campaign {
		t.Errorf("actors have campaigns %q and %q", c.Attackers[0].Truth.Campaign, c.Attackers[1].Truth.Campaign)
	}
}

func rotating(count int, asns string, sessions int) string {
	return `
campaign:
  id: rot
  actors:
    - id: hopper
      ip_pool: rotating
      rotation_count: ` + itoa(count) + `
      rotation_asns: ` + asns + `
      ja3: J
      hassh: H
  phases:
    - name: delivery
      target_selector: { count: ` + itoa(sessions) + ` }
`
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRotatingPool(t *testing.T) {
	c := mustGenerate(t, mustParse(t, rotating(5, "[]", 5)), 0)
	if len(c.Attackers) != 5 {
		t.Fatalf("got %d rows, want 5", len(c.Attackers))
	}
	ips := map[string]bool{}
	for _, a := range c.Attackers {
		if a.Truth != c.Attackers[0].Truth {
			t.Errorf("row %s truth %+v differs from row 0 %+v", a.ID, a.Truth, c.Attackers[0].Truth)
		}
		if a.JA3 != "J" || a.HASSH != "H" {
			t.Errorf("row %s fingerprints = %q/%q, want J/H", a.ID, a.JA3, a.HASSH)
		}
		ips[a.IP] = true
	}
	if len(ips) != 5 {
		t.Errorf("got %d distinct IPs, want 5", len(ips))
	}
}

func TestRotationASNs(t *testing.T) {
	tests := []struct {
		name  string
		count int
		asns  string
		want  []int64
	}{
		{"one per row", 3, "[10, 20, 30]", []int64{10, 20, 30}},
		{"cycle", 5, "[100, 200]", []int64{100, 200, 100, 200, 100}},
	}
	for _, tt := range tests {
		c := mustGenerate(t, mustParse(t, rotating(tt.count, tt.asns, 1)), 0)
		var got []int64
		for _, a := range c.Attackers {
			got = append(got, a.ASN)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: ASNs (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestRoundRobinSessions(t *testing.T) {
	c := mustGenerate(t, mustParse(t, rotating(3, "[]", 9)), 0)
	for _, a := range c.Attackers {
		if len(a.Sessions) != 3 {
			t.Errorf("row %s has %d sessions, want 3", a.ID, len(a.Sessions))
		}
		for _, s := range a.Sessions {
			if s.Truth.Identity != a.Truth.Identity || s.AttackerID != a.ID {
				t.Errorf("session %s carries identity %q attacker %q, want %q %q", s.ID, s.Truth.Identity, s.AttackerID, a.Truth.Identity, a.ID)
			}
		}
	}
}

func TestStickyDefaultOneRow(t *testing.T) {
	c := mustGenerate(t, mustParse(t, `
campaign:
  id: s
  actors: [{id: a, rotation_count: 4}]
  phases: [{name: delivery, target_selector: {count: 4}}]
`), 0)
	if len(c.Attackers) != 1 || len(c.Attackers[0].Sessions) != 4 {
		t.Errorf("got %d rows, want 1 row with 4 sessions", len(c.Attackers))
	}
}

func TestTorOneRowPerSession(t *testing.T) {
	c := mustGenerate(t, mustParse(t, `
campaign:
  id: t
  actors: [{id: a, ip_pool: tor, rotation_asns: [1, 2]}]
  phases: [{name: delivery, target_selector: {count: 4}}]
`), 0)
	if len(c.Attackers) != 4 {
		t.Fatalf("got %d rows, want 4", len(c.Attackers))
	}
	for i, a := range c.Attackers {
		if len(a.Sessions) != 1 {
			t.Errorf("row %d has %d sessions, want 1", i, len(a.Sessions))
		}
		if want := int64(1 + i%2); a.ASN != want {
			t.Errorf("row %d ASN = %d, want %d", i, a.ASN, want)
		}
	}
}

func TestIdentityKeySharesTruthIdentity(t *testing.T) {
	c := mustGenerate(t, mustParse(t, `
campaign:
  id: c
  actors: [{id: a, identity: op}, {id: b, identity: op}, {id: x}]
  phases: [{name: delivery, actor: a}, {name: delivery, actor: b}, {name: delivery, actor: x}]
`), 0)
	ids, err := c.TruthLabels(LevelIdentity)
	if err != nil {
		t.Fatal(err)
	}
	a, b, x := ids[c.Attackers[0].ID], ids[c.Attackers[1].ID], ids[c.Attackers[2].ID]
	if a != b {
		t.Errorf("actors with one identity key got identities %q and %q", a, b)
	}
	if a == x {
		t.Errorf("actor without identity key shares identity %q", a)
	}
}

func TestScheduleRespectsPausesHoursAndDays(t *testing.T) {
	doc, err := Load(filepath.Join(scenarioDir, "paused_campaign.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(10) {
		c := mustGenerate(t, doc, seed)
		for _, a := range c.Attackers {
			for _, s := range a.Sessions {
				day := int(s.Start.Sub(Epoch) / (24 * time.Hour))
				if day >= 2 && day <= 4 {
					t.Errorf("seed %d: session %s on paused day %d", seed, s.ID, day)
				}
				if h := s.Start.Hour(); h < 9 || h > 16 {
					t.Errorf("seed %d: session %s at hour %d, outside 9..16", seed, s.ID, h)
				}
				if a.Truth.Actor == "sprint-one" && day > 1 || a.Truth.Actor == "sprint-two" && day < 5 {
					t.Errorf("seed %d: %s session on day %d", seed, a.Truth.Actor, day)
				}
			}
		}
	}
}

func TestSessionContent(t *testing.T) {
	c := mustGenerate(t, mustParse(t, `
campaign:
  id: c
  actors: [{id: a}]
  phases:
    - name: exploitation
      tool_signature: {payload_hash: seed-1, c2_callback: c2.example}
    - name: persistence
      target_selector: {decky: previous_success, count: 2}
    - name: discovery
    - name: credential_access
      tool_signature: {commands: [], credentials: [[root, toor]]}
`), 0)
	s := c.Attackers[0].Sessions
	byPhase := map[ukc.Phase][]Session{}
	for _, x := range s {
		byPhase[x.Phase] = append(byPhase[x.Phase], x)
	}
	sum := sha256.Sum256([]byte("seed-1"))
	exp := byPhase[ukc.Exploitation][0]
	if exp.PayloadHash != hex.EncodeToString(sum[:]) || exp.C2Callback != "c2.example" {
		t.Errorf("exploitation session = %+v, want sha256(seed-1) and c2.example", exp)
	}
	for _, p := range byPhase[ukc.Persistence] {
		if p.Decky != exp.Decky {
			t.Errorf("previous_success session on %s, want %s", p.Decky, exp.Decky)
		}
	}
	if diff := cmp.Diff(DefaultCommands(ukc.Discovery), byPhase[ukc.Discovery][0].Commands); diff != "" {
		t.Errorf("discovery commands (-want +got):\n%s", diff)
	}
	ca := byPhase[ukc.CredentialAccess][0]
	if len(ca.Commands) != 0 || len(ca.Credentials) != 1 || ca.Credentials[0] != (Credential{"root", "toor"}) {
		t.Errorf("credential_access session = %+v, want no commands and root/toor", ca)
	}
	for i := 1; i < len(s); i++ {
		if s[i].Start.Before(s[i-1].Start) {
			t.Errorf("sessions not in time order at %d", i)
		}
	}
}

func TestScenarioShapes(t *testing.T) {
	tests := []struct {
		file      string
		attackers int
		sessions  int
		campaigns int
		identity  int
	}{
		{"lone_wolf.yaml", 9, 9, 9, 9},
		{"shared_wordlist.yaml", 2, 8, 2, 2},
		{"vpn_hopping.yaml", 5, 15, 1, 1},
		{"paused_campaign.yaml", 2, 10, 1, 1},
		{"multi_operator.yaml", 2, 14, 1, 2},
		{"slow_burn.yaml", 3, 18, 1, 1},
		{"noise_floor.yaml", 30, 66, 24, 25},
		{"stock_client.yaml", 353, 363, 343, 343},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := Load(filepath.Join(scenarioDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c := mustGenerate(t, doc, 0)
			if len(c.Attackers) != tt.attackers {
				t.Errorf("attackers = %d, want %d", len(c.Attackers), tt.attackers)
			}
			if got := len(c.Sessions()); got != tt.sessions {
				t.Errorf("sessions = %d, want %d", got, tt.sessions)
			}
			for level, want := range map[Level]int{LevelCampaign: tt.campaigns, LevelIdentity: tt.identity} {
				labels, err := c.TruthLabels(level)
				if err != nil {
					t.Fatal(err)
				}
				distinct := map[string]bool{}
				for _, l := range labels {
					distinct[l] = true
				}
				if len(distinct) != want {
					t.Errorf("distinct %s labels = %d, want %d", level, len(distinct), want)
				}
			}
			floors, err := LoadFloors(ExpectedPath(filepath.Join(scenarioDir, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(floors) != 4 {
				t.Errorf("floors = %v, want all four metrics", floors)
			}
		})
	}
}

func TestComposite(t *testing.T) {
	doc, err := Load(filepath.Join(scenarioDir, "noise_floor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Noise.ScannerCount != 18 {
		t.Errorf("scanner count = %d, want 8 inherited + 10 extra", doc.Noise.ScannerCount)
	}
	var got []string
	for _, c := range doc.Campaigns {
		got = append(got, c.ID)
	}
	want := []string{"wordlist-east", "wordlist-west", "vpn-hopper", "lone-wolf", "paused-op", "two-crews"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("campaigns (-want +got):\n%s", diff)
	}
	c := mustGenerate(t, doc, 0)
	last := c.Attackers[len(c.Attackers)-1]
	if last.Truth.Campaign != "noise-scanner-0017" {
		t.Errorf("last scanner = %q, want noise-scanner-0017", last.Truth.Campaign)
	}
}

func TestCompositeErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loop := write("loop.yaml", "include_fixtures: [loop.yaml]\n")
	bad := write("bad.yaml", "campaign: {id: c, actors: [{id: a}], phases: [{name: nope}]}\n")
	outer := write("outer.yaml", "include_fixtures: [bad.yaml]\n")

	if _, err := Load(loop); err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Errorf("Load(loop) error = %v, want includes itself", err)
	}
	_, err := Load(outer)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "unknown UKC phase") {
		t.Errorf("Load(outer) error = %v, want it to name %s and the bad phase", err, bad)
	}
	if _, err := Parse([]byte("include_fixtures: [a.yaml]"), "mem"); err == nil {
		t.Error("Parse of a composite succeeded")
	}
}

func TestFloors(t *testing.T) {
	floors, err := ParseFloors([]byte("adjusted_rand_index: {min: 0.85}\nhomogeneity:\n  min: 1\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fails := floors.Check(metrics.Scores{ARI: 0.5, Homogeneity: 1, Completeness: 0, SingletonRecall: 0})
	if len(fails) != 1 || fails[0].String() != "adjusted_rand_index=0.500 < min 0.850" {
		t.Errorf("Check = %v, want one ARI failure", fails)
	}

	bad := []struct{ src, want string }{
		{"purity: {min: 1}", "unknown metric"},
		{"homogeneity: {max: 1}", "only the key 'min'"},
		{"homogeneity: {min: high}", "must be a number"},
		{"homogeneity: {}", "missing required key: min"},
	}
	for _, b := range bad {
		if _, err := ParseFloors([]byte(b.src), "f.yaml"); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseFloors(%q) error = %v, want %q", b.src, err, b.want)
		}
	}
	if got := ExpectedPath("dir/x.yaml"); got != "dir/x.expected.yaml" {
		t.Errorf("ExpectedPath = %q", got)
	}
}

func TestShift(t *testing.T) {
	c := mustGenerate(t, mustParse(t, twoActors), 0)
	d := 90 * 24 * time.Hour
	s := c.Shift(d)
	for i, a := range s.Attackers {
		if !a.FirstSeen.Equal(c.Attackers[i].FirstSeen.Add(d)) {
			t.Errorf("attacker %d first seen not shifted", i)
		}
		for j, x := range a.Sessions {
			if !x.Start.Equal(c.Attackers[i].Sessions[j].Start.Add(d)) {
				t.Errorf("attacker %d session %d not shifted", i, j)
			}
		}
	}
	if c.Attackers[0].Sessions[0].Start.Equal(s.Attackers[0].Sessions[0].Start) {
		t.Error("Shift changed the original corpus")
	}
}

func TestRecord(t *testing.T) {
	c := mustGenerate(t, mustParse(t, `
campaign:
  id: c
  actors: [{id: a, asn: 7, ja3: J, hassh: H}]
  phases:
    - name: exploitation
      tool_signature: {payload_hash: p, c2_callback: c2.example}
      target_selector: {count: 2}
`), 0)
	rec := c.Attackers[0].Record()
	if rec.UUID != c.Attackers[0].ID || rec.Fingerprints["ja3"] != "J" || rec.Fingerprints["hassh"] != "H" {
		t.Errorf("record = %+v", rec)
	}
	if rec.ASN == nil || *rec.ASN != 7 || len(rec.PayloadHashes) != 1 || len(rec.C2Endpoints) != 1 {
		t.Errorf("record = %+v, want asn 7, one payload, one c2", rec)
	}
}
