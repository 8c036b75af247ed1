// Package identity resolves attacker observations (one attackers row per
// source address) into identities: groups of observations that come from
// the same operator.
//
// Two observations are linked when they share strong evidence (a JA3 or
// HASSH fingerprint, a payload hash or a C2 endpoint) unless their
// fingerprints disagree. Identities are the connected components of that
// graph. Index finds the components without comparing every pair and
// recomputes only what changed; Clusterer reconciles the components with
// the attacker_identities table on every tick and reports what it formed,
// linked, merged and unmerged; Worker runs ticks on bus wake-ups.
package identity

import (
	"slices"
	"strings"

	"github.com/decnet/decnet/internal/cluster/synth"
	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/store"
)

// Caps on what one observation carries into clustering. Attacker rows hold
// attacker-controlled strings; the ingester already caps its lists, and
// these bound the work if a row arrives from elsewhere.
const (
	maxSetItems    = 500
	maxCommands    = 2000
	maxValueBytes  = 2048
	maxCredentials = 500
)

// Observation is the clustering view of one attacker row. It deliberately
// has no time fields: edges must not depend on when something happened, so
// that a campaign spread over months links as well as one spread over hours.
//
// Sets are sorted and free of duplicates; an empty string means unknown.
type Observation struct {
	ID    string
	JA3   string
	HASSH string
	// ASN is valid when HasASN is true.
	ASN           int64
	HasASN        bool
	PayloadHashes []string
	C2Endpoints   []string
	Credentials   []Credential
	// CommandsByPhase holds the distinct commands run in each kill-chain
	// phase, sorted.
	CommandsByPhase map[ukc.Phase][]string
}

// Credential is one username and password pair tried by an observation.
type Credential struct {
	User string
	Pass string
}

func compareCredential(a, b Credential) int {
	if c := strings.Compare(a.User, b.User); c != 0 {
		return c
	}
	return strings.Compare(a.Pass, b.Pass)
}

// FromAttacker projects an attackers row as the ingester writes it: JA3 and
// HASSH are the newest values of those fingerprint kinds, and payload
// hashes, C2 endpoints and commands come from the row's lists.
//
// NOTE: attackers rows keep commands without their kill-chain phase, so
// every command is filed under execution, and credentials live in their own
// table and are not projected. Both feed only the weak tiers, which never
// decide an edge on their own.
func FromAttacker(a store.Attacker) Observation {
	o := Observation{
		ID:            a.UUID,
		JA3:           clean(a.Fingerprints[store.FPJA3]),
		HASSH:         clean(a.Fingerprints[store.FPHASSH]),
		PayloadHashes: normalizeSet(a.PayloadHashes, maxSetItems),
		C2Endpoints:   normalizeSet(a.C2Endpoints, maxSetItems),
	}
	if a.ASN != nil {
		o.ASN, o.HasASN = *a.ASN, true
	}
	if cmds := normalizeSet(tail(a.Commands, maxCommands), maxCommands); len(cmds) > 0 {
		o.CommandsByPhase = map[ukc.Phase][]string{ukc.Execution: cmds}
	}
	return o
}

// FromSynthetic projects a synthetic attacker from its sessions. The truth
// labels are not read.
func FromSynthetic(a synth.Attacker) Observation {
	o := Observation{
		ID:     a.ID,
		JA3:    clean(a.JA3),
		HASSH:  clean(a.HASSH),
		ASN:    a.ASN,
		HasASN: true,
	}
	var payloads, c2 []string
	var creds []Credential
	byPhase := map[ukc.Phase][]string{}
	for _, s := range a.Sessions {
		if s.PayloadHash != "" {
			payloads = append(payloads, s.PayloadHash)
		}
		if s.C2Callback != "" {
			c2 = append(c2, s.C2Callback)
		}
		for _, c := range s.Credentials {
			creds = append(creds, Credential{User: c.User, Pass: c.Pass})
		}
		if len(s.Commands) > 0 {
			byPhase[s.Phase] = append(byPhase[s.Phase], s.Commands...)
		}
	}
	o.PayloadHashes = normalizeSet(payloads, maxSetItems)
	o.C2Endpoints = normalizeSet(c2, maxSetItems)
	o.Credentials = normalizeCredentials(creds)
	for p, cmds := range byPhase {
		if o.CommandsByPhase == nil {
			o.CommandsByPhase = map[ukc.Phase][]string{}
		}
		o.CommandsByPhase[p] = normalizeSet(cmds, maxCommands)
	}
	return o
}

// Normalize sorts and deduplicates the sets of o, drops empty and
// oversized values and trims fingerprints, so that hand-built observations
// compare like projected ones.
func (o Observation) Normalize() Observation {
	o.JA3 = clean(o.JA3)
	o.HASSH = clean(o.HASSH)
	o.PayloadHashes = normalizeSet(o.PayloadHashes, maxSetItems)
	o.C2Endpoints = normalizeSet(o.C2Endpoints, maxSetItems)
	o.Credentials = normalizeCredentials(o.Credentials)
	if len(o.CommandsByPhase) > 0 {
		m := make(map[ukc.Phase][]string, len(o.CommandsByPhase))
		for p, cmds := range o.CommandsByPhase {
			if n := normalizeSet(cmds, maxCommands); len(n) > 0 {
				m[p] = n
			}
		}
		o.CommandsByPhase = m
	}
	if len(o.CommandsByPhase) == 0 {
		o.CommandsByPhase = nil
	}
	return o
}

// Equal reports whether o and p carry the same evidence.
func (o *Observation) Equal(p *Observation) bool {
	if o.ID != p.ID || o.JA3 != p.JA3 || o.HASSH != p.HASSH || o.ASN != p.ASN || o.HasASN != p.HasASN {
		return false
	}
	if !slices.Equal(o.PayloadHashes, p.PayloadHashes) || !slices.Equal(o.C2Endpoints, p.C2Endpoints) ||
		!slices.Equal(o.Credentials, p.Credentials) || len(o.CommandsByPhase) != len(p.CommandsByPhase) {
		return false
	}
	for k, v := range o.CommandsByPhase {
		if !slices.Equal(v, p.CommandsByPhase[k]) {
			return false
		}
	}
	return true
}

func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxValueBytes {
		return ""
	}
	return s
}

func tail(list []string, n int) []string {
	if len(list) > n {
		return list[len(list)-n:]
	}
	return list
}

// normalizeSet returns the distinct non-empty trimmed values of in, sorted,
// keeping at most limit of them. Values longer than maxValueBytes are
// dropped rather than truncated, so that two different long values never
// become equal.
func normalizeSet(in []string, limit int) []string {
	if len(in) == 0 {
		return nil
	}
	sortedClean := true
	for i, v := range in {
		if v == "" || len(v) > maxValueBytes || v != strings.TrimSpace(v) || (i > 0 && in[i-1] >= v) {
			sortedClean = false
			break
		}
	}
	if sortedClean && len(in) <= limit {
		return in
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		if v = clean(v); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > limit {
		out = out[:limit]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func normalizeCredentials(in []Credential) []Credential {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.SortFunc(out, compareCredential)
	out = slices.Compact(out)
	if len(out) > maxCredentials {
		out = out[:maxCredentials]
	}
	return out
}
