package campaign

import (
	"slices"

	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/cluster/synth"
)

// ChainResult is the outcome of the chained pipeline on a synthetic corpus:
// each attacker's identity label and campaign label.
type ChainResult struct {
	Identity map[string]string
	Campaign map[string]string
}

// Chain runs both clustering levels on a synthetic corpus the way
// production does: the identity kernel groups attackers into identities,
// each identity's features are the merge of its attackers' features, and
// the campaign kernel groups the identities. Truth labels are not read.
func Chain(c *synth.Corpus, p identity.Params) ChainResult {
	obs := make([]identity.Observation, len(c.Attackers))
	for i, a := range c.Attackers {
		obs[i] = identity.FromSynthetic(a)
	}
	idLabels := identity.Components(obs, p)
	return ChainResult{Identity: idLabels, Campaign: CampaignsOf(c, idLabels)}
}

// CampaignsOf groups the attackers of c by the given identity labels (any
// map from attacker ID to a group name, such as the truth identities),
// clusters the groups as identities and returns each attacker's campaign
// label.
func CampaignsOf(c *synth.Corpus, identities map[string]string) map[string]string {
	parts := map[string][]Features{}
	for _, a := range c.Attackers {
		id := identities[a.ID]
		parts[id] = append(parts[id], FromSynthetic(a))
	}
	names := make([]string, 0, len(parts))
	for id := range parts {
		names = append(names, id)
	}
	slices.Sort(names)
	fs := make([]Features, 0, len(names))
	for _, id := range names {
		fs = append(fs, Merge(id, parts[id]...))
	}
	labels := Cluster(fs)
	out := make(map[string]string, len(c.Attackers))
	for _, a := range c.Attackers {
		out[a.ID] = labels[identities[a.ID]]
	}
	return out
}
