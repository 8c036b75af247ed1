package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/fleet"
)

type reconcileArgs struct {
	data     dataFlags
	docker   dockerFlags
	once     bool
	interval string
	repair   bool
	hostID   string
}

func newReconcileCmd(g *globals) *cobra.Command {
	var a reconcileArgs
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare the state file, the fleet rows and the docker runtime, and fix the rows",
		Long: `Compare three sources for this host: the state file (what should run), the
fleet_deckies rows (what was recorded) and the docker engine (what runs).
Rows follow the state file; observed states follow the runtime; last_seen is
stamped on every pass so a dead reconciler shows. With --repair, deckies whose
runtime drifted are redeployed and runtime deckies nobody wants are removed.

A missing or unreadable state file is an error: the pass then deletes
nothing. When the engine cannot be reached no state changes. Rows newer than
the state file belong to a deploy in progress and are left alone.

The native driver's deckies live inside ` + "`decnet up`" + `, which runs its own
reconciler; this command reconciles the docker driver.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReconcile(cmd.Context(), g, a)
		},
	}
	a.data.register(cmd, true)
	a.docker.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&a.once, "once", false, "run one pass, print what it did and exit")
	f.StringVarP(&a.interval, "interval", "i", "30", "seconds between passes, or a duration such as 1m")
	f.BoolVar(&a.repair, "repair", false, "redeploy drifted deckies and remove unwanted ones")
	f.StringVar(&a.hostID, "host-id", "", "host whose rows and containers to reconcile (env DECNET_HOST_ID, default local)")
	return cmd
}

func runReconcile(ctx context.Context, g *globals, a reconcileArgs) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	cfg, err := a.data.loadConfig()
	if err != nil {
		return err
	}
	if a.hostID != "" {
		cfg.HostID = a.hostID
	}

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	var pub fleet.Publisher
	if cfg.BusURL != "" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := bus.Connect(cctx, cfg.BusURL, "reconciler", bus.WithLogger(log), bus.WithSource("reconciler"))
		cancel()
		if err != nil {
			log.Warn("bus unreachable, state events will not be published", "err", err)
		} else {
			defer b.Close()
			pub = b
		}
	}

	drv, err := a.docker.newDockerDriver(cfg, cfg.Subnet.String(), nil, log, nil)
	if err != nil {
		return err
	}
	defer drv.Close()

	rec, err := fleet.NewReconciler(fleet.ReconcilerConfig{
		HostID: cfg.HostID,
		Driver: drv,
		Store:  st,
		State:  fleet.StateFile(statePath(cfg), cfg.HostID),
		Bus:    pub,
		Repair: a.repair,
		Logger: log,
	})
	if err != nil {
		return err
	}

	if !a.once {
		every, err := parseInterval(a.interval)
		if err != nil {
			return err
		}
		return rec.Run(ctx, every)
	}
	res, passErr := rec.Pass(ctx)
	if err := printReconcile(g, a.data.jsonOut, res, passErr); err != nil {
		return err
	}
	return passErr
}

func printReconcile(g *globals, jsonOut bool, res fleet.PassResult, passErr error) error {
	if jsonOut {
		out := struct {
			fleet.PassResult
			Error string `json:"error,omitempty"`
		}{PassResult: res}
		if passErr != nil {
			out.Error = passErr.Error()
		}
		return printJSON(g.stdout, out)
	}
	if _, err := fmt.Fprintf(g.stdout, "inserted %d, deleted %d, state updated %d, repaired %d\n",
		res.Inserted, res.Deleted, res.StateUpdated, res.Repaired); err != nil {
		return err
	}
	for _, d := range res.Drift {
		mark := ""
		if d.Repaired {
			mark = " (repaired)"
		}
		if _, err := fmt.Fprintf(g.stdout, "drift %s %s: %s%s\n", d.Name, d.Kind, d.Detail, mark); err != nil {
			return err
		}
	}
	if errors.Is(passErr, fleet.ErrNoDesiredState) {
		fmt.Fprintln(g.stderr, "decnet: no rows were deleted because the state file could not be read")
	}
	return nil
}

// parseInterval reads a bare number as seconds and anything else as a Go
// duration.
func parseInterval(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("--interval %q: must be positive", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--interval %q: use seconds (30) or a duration (1m)", s)
	}
	return d, nil
}
