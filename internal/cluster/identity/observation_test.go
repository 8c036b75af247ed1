package identity

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/store"
)

func TestFromAttacker(t *testing.T) {
	asn := int64(64512)
	tests := []struct {
		name string
		in   store.Attacker
		want Observation
	}{
		{
			name: "ingester row",
			in: store.Attacker{
				UUID: "a1",
				Fingerprints: map[string]string{
					store.FPJA3: "J", store.FPHASSH: "H", store.FPSSHClientVersion: "SSH-2.0-Go", store.FPUserAgent: "curl/8",
				},
				PayloadHashes: []string{"p2", "p1", "p1"},
				C2Endpoints:   []string{"c2.example"},
				Commands:      []string{"id", "uname -a", "id"},
				ASN:           &asn,
			},
			want: Observation{
				ID: "a1", JA3: "J", HASSH: "H", ASN: 64512, HasASN: true,
				PayloadHashes:   []string{"p1", "p2"},
				C2Endpoints:     []string{"c2.example"},
				CommandsByPhase: map[ukc.Phase][]string{ukc.Execution: {"id", "uname -a"}},
			},
		},
		{
			name: "blank fingerprints are unknown",
			in:   store.Attacker{UUID: "a2", Fingerprints: map[string]string{store.FPJA3: "  ", store.FPHASSH: ""}},
			want: Observation{ID: "a2"},
		},
		{
			name: "nil maps",
			in:   store.Attacker{UUID: "a3"},
			want: Observation{ID: "a3"},
		},
		{
			name: "oversized value dropped",
			in:   store.Attacker{UUID: "a4", Fingerprints: map[string]string{store.FPJA3: strings.Repeat("x", maxValueBytes+1)}, C2Endpoints: []string{strings.Repeat("y", maxValueBytes+1), "ok"}},
			want: Observation{ID: "a4", C2Endpoints: []string{"ok"}},
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, FromAttacker(tt.in)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseAlgorithm(t *testing.T) {
	for _, v := range []string{"", "connected_components", "  Connected_Components "} {
		if got, err := ParseAlgorithm(v); err != nil || got != AlgorithmConnectedComponents {
			t.Errorf("ParseAlgorithm(%q) = %q, %v; want the default", v, got, err)
		}
	}
	if _, err := ParseAlgorithm("kmeans"); err == nil || !strings.Contains(err.Error(), "unknown clusterer") {
		t.Errorf("ParseAlgorithm(kmeans) error = %v, want unknown clusterer", err)
	}
}

// FuzzFromAttacker feeds attacker-controlled JSON columns through the
// projection and the index, which must never panic and must keep every
// observation in exactly one component.
func FuzzFromAttacker(f *testing.F) {
	f.Add(`{"ja3":"J","hassh":"H"}`, `["p1","p2"]`, `["c2.example"]`, `{"ja3":"J"}`, `[]`)
	f.Add(`{"hassh":""}`, `[""]`, `[" c2 "]`, `{}`, `["x"]`)
	f.Fuzz(func(t *testing.T, fps, payloads, c2s, other, other2 string) {
		decode := func(s string, into any) { _ = json.Unmarshal([]byte(s), into) }
		var list []Observation
		for i, src := range [][3]string{{fps, payloads, c2s}, {other, c2s, payloads}, {fps, other2, other2}} {
			var a store.Attacker
			a.UUID = string(rune('a' + i))
			decode(src[0], &a.Fingerprints)
			decode(src[1], &a.PayloadHashes)
			decode(src[2], &a.C2Endpoints)
			list = append(list, FromAttacker(a))
		}
		labels := Components(list, Params{CommonMinPopulation: 1, CommonMinCount: 2})
		if len(labels) != len(list) {
			t.Fatalf("got %d labels for %d observations", len(labels), len(list))
		}
		if diff := cmp.Diff(naiveComponents(list, Params{CommonMinPopulation: 1, CommonMinCount: 2}), labels); diff != "" {
			t.Fatalf("indexed and pairwise differ:\n%s", diff)
		}
	})
}
