package identity

// Tier weights and the edge threshold. An edge exists when
//
//	WeightHigh·high + WeightMedium·medium + WeightLow·low + WeightVeryLow·veryLow ≥ EdgeThreshold.
//
// The weak tiers together reach at most 0.85, so with these constants an
// edge exists exactly when the high tier is 1. The weak tiers still feed an
// identity's confidence.
const (
	WeightHigh    = 1.0
	WeightMedium  = 0.6
	WeightLow     = 0.2
	WeightVeryLow = 0.05
	EdgeThreshold = 1.0

	// CommonFingerprintWeight is what a fingerprint match scores in the high
	// tier when the fingerprint is common (see Params). It is small enough
	// that a common match plus every weak tier stays below the threshold
	// (0.1 + 0.85 < 1), so a common fingerprint never links on its own.
	CommonFingerprintWeight = 0.1

	// MaxWeight is the largest combined weight of a pair.
	MaxWeight = WeightHigh + WeightMedium + WeightLow + WeightVeryLow
)

// FingerprintKind names the fingerprint slots compared by the high tier.
type FingerprintKind uint8

// Fingerprint slots.
const (
	KindJA3 FingerprintKind = iota
	KindHASSH
)

func (k FingerprintKind) String() string {
	if k == KindJA3 {
		return "ja3"
	}
	return "hassh"
}

// CommonFunc reports whether a fingerprint value is common: shared by so
// many unrelated sources that it is no evidence of who is behind one. A
// nil CommonFunc treats every fingerprint as rare.
type CommonFunc func(kind FingerprintKind, value string) bool

// Vetoed reports whether the fingerprints of a and b disagree: at least one
// slot (JA3 or HASSH) is known on both sides and every such slot differs.
// Two operators with different tools who share a payload or C2 host are
// evidence of one campaign, not of one identity. A slot known on one side
// only is no evidence either way.
func Vetoed(a, b *Observation) bool {
	comparable, agree := false, false
	if a.JA3 != "" && b.JA3 != "" {
		comparable = true
		agree = agree || a.JA3 == b.JA3
	}
	if a.HASSH != "" && b.HASSH != "" {
		comparable = true
		agree = agree || a.HASSH == b.HASSH
	}
	return comparable && !agree
}

// High returns the high tier of a pair: 1 when the JA3 or the HASSH
// matches, or when a payload hash or C2 endpoint is shared and the
// fingerprints do not veto it; 0 otherwise.
func High(a, b *Observation) float64 {
	return HighWith(a, b, nil)
}

// HighWith is High with fingerprint matches weighted by commonness: a match
// on a common fingerprint scores CommonFingerprintWeight instead of 1. The
// veto still uses the raw values, because a disagreeing fingerprint is
// evidence of different tooling however common it is.
func HighWith(a, b *Observation, common CommonFunc) float64 {
	fp := 0.0
	if a.JA3 != "" && a.JA3 == b.JA3 {
		fp = max(fp, fingerprintWeight(common, KindJA3, a.JA3))
	}
	if a.HASSH != "" && a.HASSH == b.HASSH {
		fp = max(fp, fingerprintWeight(common, KindHASSH, a.HASSH))
	}
	if fp == 1 {
		return 1
	}
	if Vetoed(a, b) {
		return fp
	}
	if intersects(a.PayloadHashes, b.PayloadHashes) || intersects(a.C2Endpoints, b.C2Endpoints) {
		return 1
	}
	return fp
}

func fingerprintWeight(common CommonFunc, kind FingerprintKind, value string) float64 {
	if common != nil && common(kind, value) {
		return CommonFingerprintWeight
	}
	return 1
}

// Medium returns the medium tier: the largest Jaccard similarity of the two
// command sets over the phases both sides ran commands in.
func Medium(a, b *Observation) float64 {
	best := 0.0
	for phase, ca := range a.CommandsByPhase {
		cb, ok := b.CommandsByPhase[phase]
		if !ok || (len(ca) == 0 && len(cb) == 0) {
			continue
		}
		best = max(best, jaccard(ca, cb))
	}
	return best
}

// Low returns the low tier: the Jaccard similarity of the credential sets,
// 0 when either is empty.
func Low(a, b *Observation) float64 {
	if len(a.Credentials) == 0 || len(b.Credentials) == 0 {
		return 0
	}
	inter := 0
	i, j := 0, 0
	for i < len(a.Credentials) && j < len(b.Credentials) {
		switch c := compareCredential(a.Credentials[i], b.Credentials[j]); {
		case c == 0:
			inter++
			i++
			j++
		case c < 0:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a.Credentials)+len(b.Credentials)-inter)
}

// VeryLow returns the very-low tier: 1 when both ASNs are known and equal.
func VeryLow(a, b *Observation) float64 {
	if a.HasASN && b.HasASN && a.ASN == b.ASN {
		return 1
	}
	return 0
}

// Weight returns the combined weight of a pair with every fingerprint
// treated as rare.
func Weight(a, b *Observation) float64 {
	return WeightWith(a, b, nil)
}

// WeightWith returns the combined weight of a pair, with fingerprint
// matches weighted by common.
func WeightWith(a, b *Observation, common CommonFunc) float64 {
	return WeightHigh*HighWith(a, b, common) + WeightMedium*Medium(a, b) + WeightLow*Low(a, b) + WeightVeryLow*VeryLow(a, b)
}

// HasEdge reports whether a and b are joined by an edge.
func HasEdge(a, b *Observation, common CommonFunc) bool {
	return WeightWith(a, b, common) >= EdgeThreshold
}

func intersects(a, b []string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// jaccard returns |a∩b| / |a∪b| of two sorted sets; 0 when both are empty.
func jaccard(a, b []string) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	inter := 0
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}
