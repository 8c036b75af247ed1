package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/decnet/decnet/internal/cluster/campaign"
	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/cluster/metrics"
	"github.com/decnet/decnet/internal/cluster/synth"
)

// campaignRun is the score of the chained pipeline on one scenario at one
// seed, at both levels.
type campaignRun struct {
	Scenario string          `json:"scenario"`
	Seed     uint64          `json:"seed"`
	Identity metrics.Scores  `json:"identity"`
	Campaign metrics.Scores  `json:"campaign"`
	Floors   synth.Floors    `json:"floors,omitempty"`
	Failures []synth.Failure `json:"failures,omitempty"`
	Pass     bool            `json:"pass"`
}

// campaignFloorsPath returns the campaign-level floors file of a scenario:
// FILE with .yaml replaced by .campaign.expected.yaml.
func campaignFloorsPath(file string) string {
	return strings.TrimSuffix(file, ".yaml") + ".campaign.expected.yaml"
}

// runCampaignLevel runs the chained pipeline (observations → identities →
// campaigns) on every file for seeds 0 to seeds−1 and prints the identity
// and campaign scores. Campaign scores are checked against expected, or
// else each file's .campaign.expected.yaml sibling when it exists. With
// both set, the identity scores are also checked against the file's
// .expected.yaml sibling. It returns an error when a score is below its
// floor.
func runCampaignLevel(g *globals, files []string, expected string, seeds int, jsonOut, both bool) error {
	var runs []campaignRun
	for _, file := range files {
		doc, err := synth.Load(file)
		if err != nil {
			return err
		}
		floors, err := optionalFloors(expected, campaignFloorsPath(file))
		if err != nil {
			return err
		}
		var idFloors synth.Floors
		if both {
			if idFloors, err = optionalFloors("", synth.ExpectedPath(file)); err != nil {
				return err
			}
		}
		for seed := range uint64(seeds) {
			corpus, err := synth.Generate(doc, seed)
			if err != nil {
				return err
			}
			res := campaign.Chain(corpus, identity.DefaultParams())
			run := campaignRun{Scenario: file, Seed: seed, Floors: floors}
			for _, lv := range []struct {
				level synth.Level
				pred  map[string]string
				into  *metrics.Scores
				f     synth.Floors
			}{
				{synth.LevelIdentity, res.Identity, &run.Identity, idFloors},
				{synth.LevelCampaign, res.Campaign, &run.Campaign, floors},
			} {
				truth, err := corpus.TruthLabels(lv.level)
				if err != nil {
					return err
				}
				if *lv.into, err = metrics.Score(lv.pred, truth); err != nil {
					return err
				}
				run.Failures = append(run.Failures, lv.f.Check(*lv.into)...)
			}
			run.Pass = len(run.Failures) == 0
			runs = append(runs, run)
		}
	}

	if jsonOut {
		if err := printJSON(g.stdout, runs); err != nil {
			return err
		}
	} else if err := printCampaignRuns(g, runs); err != nil {
		return err
	}
	failed := 0
	for _, r := range runs {
		if !r.Pass {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs scored below their floors", failed, len(runs))
	}
	return nil
}

// optionalFloors loads path when given, else fallback when that file
// exists; no file means no floors.
func optionalFloors(path, fallback string) (synth.Floors, error) {
	if path != "" {
		return synth.LoadFloors(path)
	}
	if _, err := os.Stat(fallback); err != nil {
		return nil, nil
	}
	return synth.LoadFloors(fallback)
}

func printCampaignRuns(g *globals, runs []campaignRun) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSEED\tLEVEL\tARI\tHOMOGENEITY\tCOMPLETENESS\tSINGLETON_RECALL\tRESULT")
	for _, r := range runs {
		result := "pass"
		if !r.Pass {
			var parts []string
			for _, f := range r.Failures {
				parts = append(parts, f.String())
			}
			result = "FAIL " + strings.Join(parts, ", ")
		}
		for _, lv := range []struct {
			name string
			s    metrics.Scores
		}{{"identity", r.Identity}, {"campaign", r.Campaign}} {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\n", r.Scenario, r.Seed, lv.name,
				lv.s.ARI, lv.s.Homogeneity, lv.s.Completeness, lv.s.SingletonRecall, result)
		}
	}
	return tw.Flush()
}
