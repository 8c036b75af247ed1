// Package campaign groups attacker identities into campaigns: sets of
// identities that work together. Two identities are linked when their
// combined evidence weight reaches EdgeThreshold; campaigns are the
// connected components of that graph.
//
// The evidence comes in five families (see Edges): a phase handoff on a
// decky (one identity plants persistence or a C2 callback, another starts
// discovery or lateral movement there within a day), shared infrastructure
// (payload hashes and C2 endpoints), overlapping session time, a weak
// cohort signal (ASNs, tools, deckies) and keystroke rhythm. Every edge that
// reads times uses only differences between them, so moving every time by
// the same amount changes nothing.
//
// Index finds the components without comparing every pair and recomputes
// only what changed; Clusterer reconciles the components with the
// campaigns table on each tick; Worker runs ticks on bus wake-ups.
package campaign

import (
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/cluster/synth"
	"github.com/decnet/decnet/internal/cluster/ukc"
)

// Caps on what one identity carries into clustering. The values come from
// attacker-controlled text; these bound memory and edge cost.
const (
	maxSetItems   = 500
	maxValueBytes = 2048
	maxDeckies    = 1000
	maxWindows    = 1024
)

// Window is one session's span of time.
type Window struct {
	Start time.Time
	End   time.Time
}

// DeckyPhases is the phase timeline of one identity on one decky, reduced to
// what the handoff edge reads: the first and the last classified phase and
// when they happened.
type DeckyPhases struct {
	FirstPhase ukc.Phase
	FirstSeen  time.Time
	LastPhase  ukc.Phase
	LastSeen   time.Time
}

// Features is the clustering view of one identity. Sets are sorted and free
// of duplicates. Times are event times; edges use only their differences.
type Features struct {
	ID            string
	ASNs          []int64
	Tools         []string
	PayloadHashes []string
	C2Endpoints   []string
	// KD is the keystroke-rhythm centroid, valid when HasKD is set.
	KD    uint64
	HasKD bool
	// Deckies is every decky the identity touched, with or without a
	// classified phase.
	Deckies []string
	// Phases holds the first and last classified phase per decky.
	Phases map[string]DeckyPhases
	// Windows are the session windows, sorted by start and merged where
	// they overlap.
	Windows []Window
}

// Normalize sorts and deduplicates the sets of f, drops empty and oversized
// values, merges overlapping windows and applies the caps.
func (f Features) Normalize() Features {
	f.ASNs = normalizeInts(f.ASNs)
	f.Tools = normalizeSet(f.Tools)
	f.PayloadHashes = normalizeSet(f.PayloadHashes)
	f.C2Endpoints = normalizeSet(f.C2Endpoints)
	deckies := slices.Clone(f.Deckies)
	for d := range f.Phases {
		deckies = append(deckies, d)
	}
	f.Deckies = normalizeSet(deckies)
	if len(f.Deckies) > maxDeckies {
		f.Deckies = f.Deckies[:maxDeckies]
	}
	if len(f.Phases) > 0 {
		m := make(map[string]DeckyPhases, len(f.Phases))
		for d, p := range f.Phases {
			if _, ok := slices.BinarySearch(f.Deckies, d); ok && p.FirstPhase.Valid() && p.LastPhase.Valid() {
				m[d] = p
			}
		}
		f.Phases = m
	}
	if len(f.Phases) == 0 {
		f.Phases = nil
	}
	f.Windows = mergeWindows(f.Windows)
	return f
}

// Equal reports whether f and g carry the same evidence. Both must be
// normalized.
func (f *Features) Equal(g *Features) bool {
	if f.ID != g.ID || f.KD != g.KD || f.HasKD != g.HasKD ||
		!slices.Equal(f.ASNs, g.ASNs) || !slices.Equal(f.Tools, g.Tools) ||
		!slices.Equal(f.PayloadHashes, g.PayloadHashes) || !slices.Equal(f.C2Endpoints, g.C2Endpoints) ||
		!slices.Equal(f.Deckies, g.Deckies) || len(f.Phases) != len(g.Phases) || len(f.Windows) != len(g.Windows) {
		return false
	}
	for d, p := range f.Phases {
		q, ok := g.Phases[d]
		if !ok || !p.equal(q) {
			return false
		}
	}
	for i, w := range f.Windows {
		if !w.Start.Equal(g.Windows[i].Start) || !w.End.Equal(g.Windows[i].End) {
			return false
		}
	}
	return true
}

func (p DeckyPhases) equal(q DeckyPhases) bool {
	return p.FirstPhase == q.FirstPhase && p.LastPhase == q.LastPhase &&
		p.FirstSeen.Equal(q.FirstSeen) && p.LastSeen.Equal(q.LastSeen)
}

// Shift returns a copy of f with every time moved by d.
func (f Features) Shift(d time.Duration) Features {
	if len(f.Phases) > 0 {
		m := make(map[string]DeckyPhases, len(f.Phases))
		for k, p := range f.Phases {
			p.FirstSeen = p.FirstSeen.Add(d)
			p.LastSeen = p.LastSeen.Add(d)
			m[k] = p
		}
		f.Phases = m
	}
	f.Windows = slices.Clone(f.Windows)
	for i := range f.Windows {
		f.Windows[i].Start = f.Windows[i].Start.Add(d)
		f.Windows[i].End = f.Windows[i].End.Add(d)
	}
	return f
}

// Observe adds one classified event on a decky to the phase timeline.
// The earliest event sets the first phase and the latest sets the last.
// Equal times keep the phase that sorts first, so the result does not
// depend on the order of calls.
func (f *Features) Observe(decky string, phase ukc.Phase, at time.Time) {
	if decky == "" || !phase.Valid() {
		return
	}
	if f.Phases == nil {
		f.Phases = map[string]DeckyPhases{}
	}
	p, ok := f.Phases[decky]
	if !ok {
		f.Phases[decky] = DeckyPhases{FirstPhase: phase, FirstSeen: at, LastPhase: phase, LastSeen: at}
		return
	}
	if at.Before(p.FirstSeen) || (at.Equal(p.FirstSeen) && phase < p.FirstPhase) {
		p.FirstPhase, p.FirstSeen = phase, at
	}
	if at.After(p.LastSeen) || (at.Equal(p.LastSeen) && phase < p.LastPhase) {
		p.LastPhase, p.LastSeen = phase, at
	}
	f.Phases[decky] = p
}

// Merge combines the features of several parts (the observations of one
// identity, or the identities merged into another) into one: sets are
// unioned, windows concatenated, and per decky the first phase comes from
// the part that started earliest and the last from the part that ended
// latest. The keystroke centroid is the bitwise majority of the parts'
// centroids. The result carries id.
func Merge(id string, parts ...Features) Features {
	out := Features{ID: id}
	var kds []uint64
	for i := range parts {
		p := &parts[i]
		out.ASNs = append(out.ASNs, p.ASNs...)
		out.Tools = append(out.Tools, p.Tools...)
		out.PayloadHashes = append(out.PayloadHashes, p.PayloadHashes...)
		out.C2Endpoints = append(out.C2Endpoints, p.C2Endpoints...)
		out.Deckies = append(out.Deckies, p.Deckies...)
		out.Windows = append(out.Windows, p.Windows...)
		for d, ph := range p.Phases {
			out.Observe(d, ph.FirstPhase, ph.FirstSeen)
			out.Observe(d, ph.LastPhase, ph.LastSeen)
		}
		if p.HasKD {
			kds = append(kds, p.KD)
		}
	}
	out.KD, out.HasKD = majority(kds)
	return out.Normalize()
}

// majority returns the bitwise majority of values: bit i is set when
// strictly more than half of them have it set.
func majority(values []uint64) (uint64, bool) {
	if len(values) == 0 {
		return 0, false
	}
	var counts [64]int
	for _, v := range values {
		for v != 0 {
			i := bits.TrailingZeros64(v)
			counts[i]++
			v &^= 1 << i
		}
	}
	var out uint64
	for i, c := range counts {
		if 2*c > len(values) {
			out |= 1 << i
		}
	}
	return out, true
}

// FromSynthetic projects one synthetic attacker: its ASN, its JA3 and HASSH
// as tools, the payload hashes and C2 endpoints of its sessions, and per
// session the decky, the phase and the window from start to end. The truth
// labels are not read.
func FromSynthetic(a synth.Attacker) Features {
	f := Features{ID: a.ID, ASNs: []int64{a.ASN}}
	for _, t := range []string{a.JA3, a.HASSH} {
		if t != "" {
			f.Tools = append(f.Tools, t)
		}
	}
	for _, s := range a.Sessions {
		end := s.Start.Add(s.Duration)
		f.Deckies = append(f.Deckies, s.Decky)
		f.Windows = append(f.Windows, Window{Start: s.Start, End: end})
		f.Observe(s.Decky, s.Phase, s.Start)
		f.Observe(s.Decky, s.Phase, end)
		if s.PayloadHash != "" {
			f.PayloadHashes = append(f.PayloadHashes, s.PayloadHash)
		}
		if s.C2Callback != "" {
			f.C2Endpoints = append(f.C2Endpoints, s.C2Callback)
		}
	}
	return f.Normalize()
}

func normalizeSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v != "" && len(v) <= maxValueBytes {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxSetItems {
		out = out[:maxSetItems]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func normalizeInts(in []int64) []int64 {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxSetItems {
		out = out[:maxSetItems]
	}
	return out
}

// mergeWindows sorts windows by start and merges overlapping or touching
// ones. Windows whose end is before their start are treated as instants.
// When more than maxWindows remain, the closest neighbours are merged
// first, which only ever grows the covered time.
func mergeWindows(in []Window) []Window {
	if len(in) == 0 {
		return nil
	}
	ws := slices.Clone(in)
	for i := range ws {
		if ws[i].End.Before(ws[i].Start) {
			ws[i].End = ws[i].Start
		}
	}
	slices.SortFunc(ws, func(a, b Window) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	out := ws[:1]
	for _, w := range ws[1:] {
		last := &out[len(out)-1]
		if !w.Start.After(last.End) {
			if w.End.After(last.End) {
				last.End = w.End
			}
			continue
		}
		out = append(out, w)
	}
	if extra := len(out) - maxWindows; extra > 0 {
		// Close the extra smallest gaps: find the gap size at which enough
		// of them are closed, then merge in one pass.
		gaps := make([]time.Duration, len(out)-1)
		for i := range gaps {
			gaps[i] = out[i+1].Start.Sub(out[i].End)
		}
		sorted := slices.Clone(gaps)
		slices.Sort(sorted)
		limit := sorted[extra-1]
		below := 0
		for _, g := range gaps {
			if g < limit {
				below++
			}
		}
		atLimit := extra - below // gaps equal to limit that must close
		merged := out[:1]
		for i, g := range gaps {
			if g < limit || (g == limit && atLimit > 0) {
				if g == limit {
					atLimit--
				}
				merged[len(merged)-1].End = out[i+1].End
				continue
			}
			merged = append(merged, out[i+1])
		}
		out = merged
	}
	return slices.Clip(out)
}
