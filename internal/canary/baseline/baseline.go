// Package baseline plants a fixed set of canary tokens in every decky
// when it deploys. Seeding is idempotent per decky and generator: the
// store keeps at most one baseline token for each pair, so a redeploy
// plants nothing twice, and a token whose plant failed is planted again.
// Failures are logged and never fail the deploy.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/decnet/decnet/internal/canary"
	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// DefaultGenerators is the baseline when DECNET_CANARY_BASELINE is unset.
var DefaultGenerators = []string{"git_config", "env_file", "honeydoc", "aws_creds", "ssh_key"}

// CreatedBy is the created_by value of baseline tokens.
const CreatedBy = "system"

// ParseGenerators parses a comma-separated generator list. Blank entries
// are dropped and duplicates kept once; an empty list means
// DefaultGenerators, and "none" means no baseline. Unknown names are an
// error naming the valid ones.
func ParseGenerators(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return slices.Clone(DefaultGenerators), nil
	}
	if strings.EqualFold(s, "none") {
		return nil, nil
	}
	known := canary.Generators()
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(out, name) {
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown generator %q: use a comma-separated list of %s, or none", name, strings.Join(known, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// Seeder plants the baseline tokens.
type Seeder struct {
	Planter    *planter.Planter
	Generators []string
	Logger     *slog.Logger
}

// Seed plants every baseline generator in d that it does not have yet.
// It tries every generator even when one fails and returns the failures
// joined, for the caller to log; its signature fits fleet.Hook.
func (s *Seeder) Seed(ctx context.Context, d decky.Decky) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	var errs []error
	planted := 0
	for _, gen := range s.Generators {
		tok, created, err := s.Planter.Mint(ctx, planter.MintRequest{DeckyName: d.Name, Decky: &d, Generator: gen,
			CreatedBy: CreatedBy, Baseline: true})
		switch {
		case err != nil:
			log.Warn("canary baseline token not planted", "decky", d.Name, "generator", gen, "err", err)
			errs = append(errs, fmt.Errorf("baseline %s in %s: %w", gen, d.Name, err))
		case tok.State == sqlstore.CanaryFailed:
			log.Warn("canary baseline token not planted", "decky", d.Name, "generator", gen, "token", tok.UUID, "err", tok.LastError)
			errs = append(errs, fmt.Errorf("baseline %s in %s: %s", gen, d.Name, tok.LastError))
		case created:
			planted++
		}
	}
	if planted > 0 {
		log.Info("canary baseline planted", "decky", d.Name, "tokens", planted)
	}
	return errors.Join(errs...)
}

// SeedAll seeds every decky, logging failures; it never fails.
func (s *Seeder) SeedAll(ctx context.Context, deckies []decky.Decky) {
	for _, d := range deckies {
		if ctx.Err() != nil {
			return
		}
		s.Seed(ctx, d)
	}
}
