package campaign

import (
	"math/bits"
	"time"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

// Edge family weights and the threshold. Two identities are linked when
//
//	WeightHandoff·handoff + WeightInfra·infra + WeightTemporal·temporal
//	  + WeightCohort·cohort + WeightKeystroke·keystroke ≥ EdgeThreshold.
//
// A handoff alone, or identical infrastructure alone, crosses the
// threshold. Temporal overlap (0.4), cohort (0.1) and keystroke (0.6) alone
// do not, but identical typing plus full temporal overlap does.
const (
	WeightHandoff   = 1.0
	WeightInfra     = 1.0
	WeightTemporal  = 0.4
	WeightCohort    = 0.1
	WeightKeystroke = 0.6
	EdgeThreshold   = 1.0

	// MaxWeight is the largest combined weight of a pair.
	MaxWeight = WeightHandoff + WeightInfra + WeightTemporal + WeightCohort + WeightKeystroke

	// HandoffWindow is the longest gap between one identity's last
	// persistence or C2 step on a decky and another's first discovery or
	// lateral step there that still counts as a handoff.
	HandoffWindow = 24 * time.Hour

	// KeystrokeHammingMax is the Hamming distance between keystroke
	// centroids at which the keystroke score reaches 0.
	KeystrokeHammingMax = 8
)

// handoffOut and handoffIn are the phases that end and start a handoff.
var (
	handoffOut = map[ukc.Phase]bool{ukc.CommandAndControl: true, ukc.Persistence: true}
	handoffIn  = map[ukc.Phase]bool{ukc.Discovery: true, ukc.LateralMovement: true}
)

// Edges holds the score of every edge family for one pair, each in [0, 1].
type Edges struct {
	Handoff   float64 `json:"handoff"`
	Infra     float64 `json:"infra"`
	Temporal  float64 `json:"temporal"`
	Cohort    float64 `json:"cohort"`
	Keystroke float64 `json:"keystroke"`
}

// Weight combines the family scores with their weights.
func (e Edges) Weight() float64 {
	return WeightHandoff*e.Handoff + WeightInfra*e.Infra + WeightTemporal*e.Temporal +
		WeightCohort*e.Cohort + WeightKeystroke*e.Keystroke
}

// Linked reports whether the combined weight reaches EdgeThreshold.
func (e Edges) Linked() bool { return e.Weight() >= EdgeThreshold-1e-9 }

// Score computes every edge family for a and b. It is symmetric:
// Score(a, b) == Score(b, a).
func Score(a, b *Features) Edges {
	return Edges{
		Handoff:   Handoff(a, b),
		Infra:     SharedInfra(a, b),
		Temporal:  Temporal(a, b),
		Cohort:    Cohort(a, b),
		Keystroke: Keystroke(a, b),
	}
}

// Weight is Score(a, b).Weight().
func Weight(a, b *Features) float64 { return Score(a, b).Weight() }

// Handoff is 1 when one identity hands a decky over to the other in either
// direction: its last phase on the decky is persistence or
// command_and_control, the other's first phase there is discovery or
// lateral_movement, and the second starts between 0 and HandoffWindow after
// the first ended (both ends inclusive). A negative gap means the two
// overlap, which is not a handoff.
func Handoff(a, b *Features) float64 {
	if handsOver(a, b) || handsOver(b, a) {
		return 1
	}
	return 0
}

func handsOver(out, in *Features) bool {
	small := out.Phases
	if len(in.Phases) < len(small) {
		small = in.Phases
	}
	for d := range small {
		o, ok1 := out.Phases[d]
		i, ok2 := in.Phases[d]
		if !ok1 || !ok2 || !handoffOut[o.LastPhase] || !handoffIn[i.FirstPhase] {
			continue
		}
		if gap := i.FirstSeen.Sub(o.LastSeen); gap >= 0 && gap <= HandoffWindow {
			return true
		}
	}
	return false
}

// SharedInfra is the Jaccard index of the two identities' payload hashes
// and C2 endpoints taken together; 0 when both are empty. Shared deckies do
// not count: on a small fleet unrelated campaigns hit the same deckies.
func SharedInfra(a, b *Features) float64 {
	na := len(a.PayloadHashes) + len(a.C2Endpoints)
	nb := len(b.PayloadHashes) + len(b.C2Endpoints)
	if na == 0 || nb == 0 {
		return 0
	}
	inter := countCommon(a.PayloadHashes, b.PayloadHashes) + countCommon(a.C2Endpoints, b.C2Endpoints) +
		countCommon(a.PayloadHashes, b.C2Endpoints) + countCommon(a.C2Endpoints, b.PayloadHashes)
	// A value that is both a payload hash and a C2 endpoint on one side
	// would be counted twice; infraSet handles that rare case exactly.
	if hasOverlap(a.PayloadHashes, a.C2Endpoints) || hasOverlap(b.PayloadHashes, b.C2Endpoints) {
		sa, sb := infraSet(a), infraSet(b)
		return float64(countCommon(sa, sb)) / float64(len(sa)+len(sb)-countCommon(sa, sb))
	}
	return float64(inter) / float64(na+nb-inter)
}

func infraSet(f *Features) []string {
	return normalizeSet(append(append([]string(nil), f.PayloadHashes...), f.C2Endpoints...))
}

func hasOverlap(a, b []string) bool { return countCommon(a, b) > 0 }

// countCommon counts the values two sorted sets share.
func countCommon[T int64 | string](a, b []T) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			n++
			i++
			j++
		}
	}
	return n
}

// Temporal is the time both identities were active at once divided by the
// smaller of their total active times, capped at 1; 0 when either has no
// active time. Windows are merged per side first, so overlapping sessions
// of one identity are not counted twice, and the measure is symmetric.
func Temporal(a, b *Features) float64 {
	ta, tb := total(a.Windows), total(b.Windows)
	if ta <= 0 || tb <= 0 {
		return 0
	}
	var inter time.Duration
	i, j := 0, 0
	for i < len(a.Windows) && j < len(b.Windows) {
		wa, wb := a.Windows[i], b.Windows[j]
		start, end := wa.Start, wa.End
		if wb.Start.After(start) {
			start = wb.Start
		}
		if wb.End.Before(end) {
			end = wb.End
		}
		if end.After(start) {
			inter += end.Sub(start)
		}
		if wa.End.Before(wb.End) {
			i++
		} else {
			j++
		}
	}
	return min(1, float64(inter)/float64(min(ta, tb)))
}

func total(ws []Window) time.Duration {
	var t time.Duration
	for _, w := range ws {
		t += w.End.Sub(w.Start)
	}
	return t
}

// Cohort is the Jaccard index of the tagged tokens of each side: every ASN,
// every tool and every decky. It is a weak signal: it never links on its
// own.
func Cohort(a, b *Features) float64 {
	na := len(a.ASNs) + len(a.Tools) + len(a.Deckies)
	nb := len(b.ASNs) + len(b.Tools) + len(b.Deckies)
	if na == 0 && nb == 0 {
		return 0
	}
	inter := countCommon(a.ASNs, b.ASNs) + countCommon(a.Tools, b.Tools) + countCommon(a.Deckies, b.Deckies)
	return float64(inter) / float64(na+nb-inter)
}

// Keystroke grades the Hamming distance d between the two keystroke-rhythm
// centroids: 1 − d/8 below KeystrokeHammingMax, 0 from there on or when
// either centroid is missing.
func Keystroke(a, b *Features) float64 {
	if !a.HasKD || !b.HasKD {
		return 0
	}
	d := bits.OnesCount64(a.KD ^ b.KD)
	if d >= KeystrokeHammingMax {
		return 0
	}
	return 1 - float64(d)/KeystrokeHammingMax
}
