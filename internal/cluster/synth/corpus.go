package synth

import (
	"fmt"
	"slices"
	"time"

	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/store"
)

// Epoch is the start of day 0 of every generated campaign.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Truth holds the ground-truth labels attached to generated records.
// Clustering code must never read them. Only scoring does.
type Truth struct {
	Campaign string `json:"campaign"`
	Actor    string `json:"actor"`
	Identity string `json:"identity"`
}

// Session is one synthetic interaction of an attacker with a decky.
type Session struct {
	ID          string        `json:"session_id"`
	AttackerID  string        `json:"attacker_id"`
	Decky       string        `json:"decky_id"`
	Start       time.Time     `json:"started_at"`
	Duration    time.Duration `json:"duration"`
	Phase       ukc.Phase     `json:"phase"`
	Commands    []string      `json:"commands"`
	Credentials []Credential  `json:"credentials_tried"`
	PayloadHash string        `json:"payload_hash,omitempty"`
	C2Callback  string        `json:"c2_callback,omitempty"`
	Truth       Truth         `json:"truth"`
}

// Attacker is one synthetic source address: the unit the identity layer
// clusters. Sessions are in start-time order.
type Attacker struct {
	ID        string    `json:"attacker_id"`
	IP        string    `json:"ip"`
	ASN       int64     `json:"asn"`
	JA3       string    `json:"ja3,omitempty"`
	HASSH     string    `json:"hassh,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Truth     Truth     `json:"truth"`
	Sessions  []Session `json:"sessions"`
}

// Corpus is the output of Generate.
type Corpus struct {
	Attackers []Attacker `json:"attackers"`
}

// Sessions returns every session of every attacker, attackers in order.
func (c *Corpus) Sessions() []Session {
	var out []Session
	for _, a := range c.Attackers {
		out = append(out, a.Sessions...)
	}
	return out
}

// Level selects which truth label TruthLabels returns.
type Level string

// Truth levels.
const (
	LevelCampaign Level = "campaign"
	LevelIdentity Level = "identity"
	LevelActor    Level = "actor"
)

// ParseLevel checks a level name.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case LevelCampaign, LevelIdentity, LevelActor:
		return l, nil
	}
	return "", fmt.Errorf("unknown truth-label level %q: use campaign, identity or actor", s)
}

// TruthLabels maps every attacker ID to its truth label at level.
func (c *Corpus) TruthLabels(level Level) (map[string]string, error) {
	pick := map[Level]func(Truth) string{
		LevelCampaign: func(t Truth) string { return t.Campaign },
		LevelIdentity: func(t Truth) string { return t.Identity },
		LevelActor:    func(t Truth) string { return t.Actor },
	}[level]
	if pick == nil {
		return nil, fmt.Errorf("unknown truth-label level %q: use campaign, identity or actor", level)
	}
	out := make(map[string]string, len(c.Attackers))
	for _, a := range c.Attackers {
		out[a.ID] = pick(a.Truth)
	}
	return out, nil
}

// Shift returns a copy of the corpus with every time moved by d. Edges that
// depend only on differences between times must give the same clusters on
// the shifted copy.
func (c *Corpus) Shift(d time.Duration) *Corpus {
	out := &Corpus{Attackers: make([]Attacker, len(c.Attackers))}
	for i, a := range c.Attackers {
		a.FirstSeen = a.FirstSeen.Add(d)
		a.LastSeen = a.LastSeen.Add(d)
		a.Sessions = slices.Clone(a.Sessions)
		for j := range a.Sessions {
			a.Sessions[j].Start = a.Sessions[j].Start.Add(d)
		}
		out.Attackers[i] = a
	}
	return out
}

// Record renders the attacker as the attackers row the ingester would write
// for the same traffic: fingerprints keyed by kind, the command list in
// session order, and the distinct payload hashes and C2 endpoints. Truth
// labels are not carried over.
func (a Attacker) Record() store.Attacker {
	rec := store.Attacker{
		UUID:               a.ID,
		IP:                 a.IP,
		FirstSeen:          a.FirstSeen,
		LastSeen:           a.LastSeen,
		EventCount:         int64(len(a.Sessions)),
		Deckies:            []string{},
		Services:           []string{"ssh"},
		Commands:           []string{},
		Fingerprints:       map[string]string{},
		FingerprintHistory: map[string][]string{},
		PayloadHashes:      []string{},
		C2Endpoints:        []string{},
		UpdatedAt:          a.LastSeen,
	}
	if a.JA3 != "" {
		rec.Fingerprints[store.FPJA3] = a.JA3
		rec.FingerprintHistory[store.FPJA3] = []string{a.JA3}
	}
	if a.HASSH != "" {
		rec.Fingerprints[store.FPHASSH] = a.HASSH
		rec.FingerprintHistory[store.FPHASSH] = []string{a.HASSH}
	}
	asn := a.ASN
	rec.ASN = &asn

	for _, s := range a.Sessions {
		rec.Deckies = appendNew(rec.Deckies, s.Decky)
		rec.Commands = append(rec.Commands, s.Commands...)
		if s.PayloadHash != "" {
			rec.PayloadHashes = appendNew(rec.PayloadHashes, s.PayloadHash)
		}
		if s.C2Callback != "" {
			rec.C2Endpoints = appendNew(rec.C2Endpoints, s.C2Callback)
		}
	}
	slices.Sort(rec.Deckies)
	slices.Sort(rec.PayloadHashes)
	slices.Sort(rec.C2Endpoints)
	return rec
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
