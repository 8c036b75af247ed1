package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/cluster/metrics"
	"github.com/decnet/decnet/internal/cluster/synth"
)

// simulateRun is the score of one scenario at one seed.
type simulateRun struct {
	Scenario string           `json:"scenario"`
	Seed     uint64           `json:"seed"`
	Level    string           `json:"level"`
	Metrics  metrics.Scores   `json:"metrics"`
	Floors   synth.Floors     `json:"floors,omitempty"`
	Failures []synth.Failure  `json:"failures,omitempty"`
	Pass     bool             `json:"pass"`
	Warnings []string         `json:"warnings,omitempty"`
	Shape    simulateCorpusSz `json:"corpus"`
}

type simulateCorpusSz struct {
	Attackers int `json:"attackers"`
	Sessions  int `json:"sessions"`
}

func newSimulateCmd(g *globals) *cobra.Command {
	var (
		expected string
		seeds    int
		level    string
		jsonOut  bool
	)
	cmd := &cobra.Command{
		Use:   "simulate FILE...",
		Short: "Score identity and campaign clustering on synthetic attack scenarios",
		Long: `Generate the truth-labelled corpus of each scenario file for seeds 0 to
--seeds minus 1, cluster it with the identity layer and print the adjusted
Rand index, homogeneity, completeness and singleton recall against the truth.
With --level campaign the corpus runs through both layers (observations to
identities to campaigns) and is scored against the true campaigns; --level
both prints the identity and the campaign scores. Floor files
(*.expected.yaml) given as FILE are skipped, so a shell glob over a
scenario folder works.

Each scenario is checked against its floors: the file given with --expected,
or else FILE's sibling with the suffix .expected.yaml when it exists. The
command exits non-zero when any score is below its floor.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if seeds < 1 || seeds > 10_000 {
				return fmt.Errorf("invalid --seeds %d: use a number from 1 to 10000", seeds)
			}
			files = scenarioFiles(files)
			if level == "campaign" || level == "both" {
				// The campaign level runs the chained pipeline: observations
				// to identities to campaigns.
				return runCampaignLevel(g, files, expected, seeds, jsonOut, level == "both")
			}
			lvl, err := synth.ParseLevel(level)
			if err != nil {
				return fmt.Errorf("invalid --level: %w (use identity, actor, campaign or both)", err)
			}

			var runs []simulateRun
			for _, file := range files {
				fileRuns, err := simulateFile(file, expected, seeds, lvl)
				if err != nil {
					return err
				}
				runs = append(runs, fileRuns...)
			}

			if jsonOut {
				if err := printJSON(g.stdout, runs); err != nil {
					return err
				}
			} else {
				if err := printSimulateTable(g, runs); err != nil {
					return err
				}
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
		},
	}
	cmd.Flags().StringVar(&expected, "expected", "", "floors file to check every scenario against (default: each FILE's .expected.yaml sibling)")
	cmd.Flags().IntVar(&seeds, "seeds", 1, "number of seeds to run, from 0 upwards")
	cmd.Flags().StringVar(&level, "level", string(synth.LevelIdentity), "truth level to score against: identity, actor, campaign (chained pipeline) or both (identity and campaign)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON instead of a table")
	return cmd
}

func simulateFile(file, expected string, seeds int, level synth.Level) ([]simulateRun, error) {
	doc, err := synth.Load(file)
	if err != nil {
		return nil, err
	}
	floors, err := simulateFloors(file, expected)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, w := range doc.Warnings {
		warnings = append(warnings, w.String())
	}

	var runs []simulateRun
	for seed := range uint64(seeds) {
		corpus, err := synth.Generate(doc, seed)
		if err != nil {
			return nil, err
		}
		obs := make([]identity.Observation, 0, len(corpus.Attackers))
		for _, a := range corpus.Attackers {
			obs = append(obs, identity.FromSynthetic(a))
		}
		pred := identity.Components(obs, identity.DefaultParams())
		truth, err := corpus.TruthLabels(level)
		if err != nil {
			return nil, err
		}
		scores, err := metrics.Score(pred, truth)
		if err != nil {
			return nil, fmt.Errorf("score %s seed %d: %w", file, seed, err)
		}
		fails := floors.Check(scores)
		runs = append(runs, simulateRun{
			Scenario: file,
			Seed:     seed,
			Level:    string(level),
			Metrics:  scores,
			Floors:   floors,
			Failures: fails,
			Pass:     len(fails) == 0,
			Warnings: warnings,
			Shape:    simulateCorpusSz{Attackers: len(corpus.Attackers), Sessions: len(corpus.Sessions())},
		})
	}
	return runs, nil
}

// simulateFloors loads the explicit floors file, or the scenario's sibling
// when it exists; no floors file means nothing can fail.
func simulateFloors(file, expected string) (synth.Floors, error) {
	if expected != "" {
		return synth.LoadFloors(expected)
	}
	path := synth.ExpectedPath(file)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return synth.Floors{}, nil
	}
	return synth.LoadFloors(path)
}

func printSimulateTable(g *globals, runs []simulateRun) error {
	warned := map[string]bool{}
	for _, r := range runs {
		if warned[r.Scenario] {
			continue
		}
		warned[r.Scenario] = true
		for _, w := range r.Warnings {
			fmt.Fprintf(g.stderr, "warning: %s\n", w)
		}
	}

	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSEED\tATTACKERS\tARI\tHOMOGENEITY\tCOMPLETENESS\tSINGLETON_RECALL\tFLOORS")
	for _, r := range runs {
		verdict := "ok"
		switch {
		case len(r.Floors) == 0:
			verdict = "none"
		case !r.Pass:
			var parts []string
			for _, f := range r.Failures {
				parts = append(parts, f.String())
			}
			verdict = "FAIL " + strings.Join(parts, ", ")
		}
		m := r.Metrics
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%s\n", r.Scenario, r.Seed, r.Shape.Attackers,
			m.ARI, m.Homogeneity, m.Completeness, m.SingletonRecall, verdict)
	}
	return tw.Flush()
}

// scenarioFiles drops floor files from a list of scenario files, so that
// `decnet simulate dir/*.yaml` does not read floors as scenarios.
func scenarioFiles(files []string) []string {
	out := files[:0:0]
	for _, f := range files {
		if !strings.HasSuffix(f, ".expected.yaml") {
			out = append(out, f)
		}
	}
	return out
}
