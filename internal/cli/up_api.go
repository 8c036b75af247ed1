package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/decnet/decnet/internal/api"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/workers"
)

func init() {
	upExtras = append(upExtras, apiUpWorkers)
}

// apiUpWorkers adds the webhook worker and the REST API to `decnet up`.
// --api-addr none leaves the API out.
func apiUpWorkers(ctx context.Context, env *upEnv) ([]workers.Worker, error) {
	ww, err := newWebhookWorker(env.store, env.bus, env.log)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(env.apiAddr, "none") {
		return []workers.Worker{ww}, nil
	}

	reg := workers.NewRegistry(nil, nil)
	if _, err := reg.Subscribe(env.bus); err != nil {
		return nil, err
	}
	srv, err := newAPIWorker(ctx, env.cfg, env.apiAddr, apiOptions{
		Store: env.store, Bus: env.bus, Fleet: upFleet{env}, Registry: reg, Webhook: ww,
		Driver: env.driver, Out: env.g.stdout, Logger: env.log,
	})
	if err != nil {
		return nil, err
	}
	env.listening = append(env.listening, "REST API: http://"+srv.Addr()+"/api/v1 (OpenAPI at /api/v1/openapi.json)")
	return []workers.Worker{ww, srv}, nil
}

// upFleet deploys and tears down deckies for the API inside `decnet up`,
// through the same deployer the CLI uses.
type upFleet struct{ env *upEnv }

// Deploy implements api.FleetDeployer.
func (f upFleet) Deploy(ctx context.Context, req api.DeployRequest) (api.DeployResult, error) {
	st, err := fleet.LoadState(f.env.deploy.StatePath)
	if err != nil && !errors.Is(err, fleet.ErrNoState) {
		return api.DeployResult{}, err
	}
	ff := fleetFlags{archetype: req.Archetype, services: strings.Join(req.Services, ","),
		randomize: req.RandomizeServices, distros: strings.Join(req.Distros, ",")}
	deckies, err := ff.buildDeckies(f.env.cfg, req.Count, st.Deckies)
	if err != nil {
		return api.DeployResult{}, api.InvalidRequest(err)
	}
	if _, err := f.env.deploy.Deploy(ctx, deckies, fleet.DeployOptions{}); err != nil {
		return api.DeployResult{}, err
	}
	res := api.DeployResult{Deckies: []string{}}
	for _, d := range deckies {
		res.Deckies = append(res.Deckies, d.Name)
	}
	return res, nil
}

// Teardown implements api.FleetDeployer.
func (f upFleet) Teardown(ctx context.Context, name string) error {
	return f.env.deploy.Teardown(ctx, []string{name}, false)
}
