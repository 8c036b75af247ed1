package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// member holds the clusterer's data about one observation beyond its
// clustering view: the times and every fingerprint value seen, for
// rollups, and the identity the attackers row is linked to.
type member struct {
	firstSeen time.Time
	lastSeen  time.Time
	// fingerprints holds kind and value pairs, sorted.
	fingerprints [][2]string
	// literal is the identity index in attackers.identity_id, or -1.
	literal int32
	// nextInIdentity links the observations of one literal identity.
	nextInIdentity int32
}

func memberFromAttacker(a store.Attacker) member {
	m := member{firstSeen: a.FirstSeen.UTC(), lastSeen: a.LastSeen.UTC(), literal: -1, nextInIdentity: -1}
	seen := map[[2]string]bool{}
	add := func(kind, value string) {
		value = clean(value)
		if kind == "" || value == "" || len(m.fingerprints) >= maxSetItems {
			return
		}
		kv := [2]string{kind, value}
		if !seen[kv] {
			seen[kv] = true
			m.fingerprints = append(m.fingerprints, kv)
		}
	}
	for kind, v := range a.Fingerprints {
		add(kind, v)
	}
	for kind, list := range a.FingerprintHistory {
		for _, v := range list {
			add(kind, v)
		}
	}
	slices.SortFunc(m.fingerprints, func(x, y [2]string) int {
		if x[0] != y[0] {
			if x[0] < y[0] {
				return -1
			}
			return 1
		}
		if x[1] < y[1] {
			return -1
		}
		if x[1] > y[1] {
			return 1
		}
		return 0
	})
	return m
}

// sameData reports whether two members carry the same rollup inputs.
func (m *member) sameData(o *member) bool {
	return m.firstSeen.Equal(o.firstSeen) && m.lastSeen.Equal(o.lastSeen) && slices.Equal(m.fingerprints, o.fingerprints)
}

// rollupOf computes the rollup of the observations in slots, which make up
// the whole components comps.
func (c *Clusterer) rollupOf(slots []int32, comps []int32) sqlstore.IdentityRollup {
	r := sqlstore.IdentityRollup{ObservationCount: int64(len(slots))}
	fps := map[string][]string{}
	var payloads, c2s []string
	var asns []int64
	for i, s := range slots {
		m := &c.members[s]
		if i == 0 || m.firstSeen.Before(r.FirstSeenAt) {
			r.FirstSeenAt = m.firstSeen
		}
		if i == 0 || m.lastSeen.After(r.LastSeenAt) {
			r.LastSeenAt = m.lastSeen
		}
		for _, kv := range m.fingerprints {
			fps[kv[0]] = append(fps[kv[0]], kv[1])
		}
		o := c.idx.Observation(s)
		payloads = append(payloads, o.PayloadHashes...)
		c2s = append(c2s, o.C2Endpoints...)
		if o.HasASN {
			asns = append(asns, o.ASN)
		}
	}
	for kind, list := range fps {
		slices.Sort(list)
		fps[kind] = slices.Compact(list)
	}
	if len(fps) > 0 {
		r.Fingerprints = fps
	}
	r.PayloadHashes = sortedUnique(payloads)
	r.C2Endpoints = sortedUnique(c2s)
	slices.Sort(asns)
	r.ASNs = slices.Compact(asns)

	sum, n := 0.0, 0
	var buf []int32
	for _, root := range comps {
		buf = c.idx.Members(buf[:0], root)
		s, k := c.idx.treeWeight(buf)
		sum += s
		n += k
	}
	if n > 0 {
		conf := sum / float64(n) / MaxWeight
		conf = float64(int64(conf*1e6+0.5)) / 1e6
		r.Confidence = &conf
	}
	r.Digest = rollupDigest(r)
	return r
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	slices.Sort(in)
	return slices.Compact(in)
}

// rollupDigest hashes every rollup field, so that an unchanged rollup is
// recognised without reading the stored row.
func rollupDigest(r sqlstore.IdentityRollup) string {
	conf := ""
	if r.Confidence != nil {
		conf = strconv.FormatFloat(*r.Confidence, 'f', 6, 64)
	}
	body, _ := json.Marshal([]any{
		sqlstore.FormatTime(r.FirstSeenAt), sqlstore.FormatTime(r.LastSeenAt), r.ObservationCount, conf,
		r.Fingerprints, r.PayloadHashes, r.C2Endpoints, r.ASNs,
	})
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// DigraphCentroid returns the bitwise majority of keystroke-rhythm
// simhashes: bit i is set when strictly more than half of the usable values
// have it set, so a tie leaves it clear. A usable value is 16 hex digits (a
// big-endian 64-bit integer); others are skipped. It returns false when no
// value is usable.
func DigraphCentroid(values []string) (uint64, bool) {
	var counts [64]int
	n := 0
	for _, v := range values {
		if len(v) != 16 {
			continue
		}
		x, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			continue
		}
		n++
		for x != 0 {
			i := bits.TrailingZeros64(x)
			counts[i]++
			x &^= 1 << i
		}
	}
	if n == 0 {
		return 0, false
	}
	var out uint64
	for i, c := range counts {
		if 2*c > n {
			out |= 1 << i
		}
	}
	return out, true
}
