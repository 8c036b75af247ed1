package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/ingest"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/workers"
)

// syncInterval is how often `decnet up` applies changes that other commands
// recorded in the state file.
const syncInterval = 2 * time.Second

// reconcileInterval is how often `decnet up` compares the state file, the
// fleet rows and the runtime, and stamps last_seen.
const reconcileInterval = 30 * time.Second

// upEnv holds the parts `decnet up` builds before it starts the workers.
// The optional workers (API, clusterers, canary, webhook) are built from it.
type upEnv struct {
	cfg    config.Config
	log    *slog.Logger
	store  *sqlstore.Store
	bus    *bus.Bus
	server *bus.Server
	driver driver.Driver
	deploy *fleet.Deployer
	g      *globals
	ff     *fleetFlags
	// apiAddr overrides DECNET_API_ADDR when set.
	apiAddr string
	// listening collects "what: where" lines that extras print at start.
	listening []string
}

// upExtras builds workers that other parts of decnet add to `decnet up`.
var upExtras []func(ctx context.Context, env *upEnv) ([]workers.Worker, error)

func newUpCmd(g *globals) *cobra.Command {
	var (
		df        dataFlags
		ff        fleetFlags
		busListen string
		noIngest  bool
		apiAddr   string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a complete deception network in this process",
		Long: `Run everything in one process: the embedded NATS bus, the SQLite store, a
fleet of deckies on the native driver (each on its own 127.0.0.0/8 address),
the ingester and the other workers. The first run on a data directory
deploys --deckies new deckies; later runs resume the recorded fleet.
Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			if err := ff.apply(&cfg); err != nil {
				return err
			}
			if busListen != "" {
				cfg.BusListen = busListen
			}
			if err := ff.checkDriver(cfg.Subnet); err != nil {
				return err
			}
			return runUp(cmd.Context(), g, log, cfg, &ff, !noIngest, apiAddr)
		},
	}
	df.register(cmd, false)
	ff.register(cmd, "3")
	cmd.Flags().StringVar(&apiAddr, "api-addr", "", "address the REST API listens on, or none (env DECNET_API_ADDR, default 127.0.0.1:8000)")
	cmd.Flags().BoolVar(&noIngest, "no-ingest", false, "do not run the ingester in this process (run decnet ingest separately)")
	cmd.Flags().StringVar(&busListen, "bus-listen", "", "address the embedded NATS server listens on for outside workers, or none (env DECNET_BUS_LISTEN, default 127.0.0.1:4222)")
	return cmd
}

func runUp(ctx context.Context, g *globals, log *slog.Logger, cfg config.Config, ff *fleetFlags, withIngest bool, apiAddr string) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	env := &upEnv{cfg: cfg, log: log, g: g, ff: ff, apiAddr: apiAddr}

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	env.store = st

	srv, err := startEmbeddedBus(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	env.server = srv

	b, err := bus.ConnectInProcess(srv, "decnet-up", bus.WithLogger(log), bus.WithSource("up"))
	if err != nil {
		return err
	}
	defer b.Close()
	env.bus = b

	drv, closeDriver, err := ff.openDriver(ctx, g, cfg, b.EventSink(), log)
	if err != nil {
		return err
	}
	defer closeDriver()
	env.driver = drv

	dep := &fleet.Deployer{Driver: drv, Store: st, StatePath: statePath(cfg), HostID: cfg.HostID,
		Subnet: cfg.Subnet.String(), Logger: log.With("worker", "fleet")}
	env.deploy = dep

	rec, err := fleet.NewReconciler(fleet.ReconcilerConfig{HostID: cfg.HostID, Driver: drv, Store: st,
		State: fleet.StateFile(dep.StatePath, cfg.HostID), Bus: b, Logger: log.With("worker", "reconciler")})
	if err != nil {
		return err
	}
	ws := []workers.Worker{
		workers.NewFunc("fleet", func(ctx context.Context) error { return followState(ctx, dep, log) }),
		workers.NewFunc("reconciler", func(ctx context.Context) error { return rec.Run(ctx, reconcileInterval) }),
	}
	if withIngest {
		ws = append(ws, &ingest.Worker{Bus: b, Store: st, Logger: log.With("worker", "ingester")})
	}
	// The extras check their settings before anything is deployed, and
	// their deploy hooks (baseline canary tokens) see the first fleet too.
	for _, extra := range upExtras {
		more, err := extra(ctx, env)
		if err != nil {
			return err
		}
		ws = append(ws, more...)
	}

	if err := startFleet(ctx, g, cfg, ff, dep); err != nil {
		return err
	}
	printListening(g, dep, drv, env.listening)

	// Workers get 3 s to stop and the emulators 1 s after that, so that
	// Ctrl-C ends the process within 5 s even under load.
	runner := &workers.Runner{Bus: b, Logger: log, Grace: 3 * time.Second}
	err = runner.Run(ctx, ws...)
	fmt.Fprintln(g.stderr, "decnet: stopping")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func startEmbeddedBus(cfg config.Config, log *slog.Logger) (*bus.Server, error) {
	opts := bus.ServerOptions{DataDir: cfg.DataDir, Logger: log.With("worker", "bus")}
	if strings.EqualFold(cfg.BusListen, "none") {
		opts.DontListen = true
	} else {
		host, port, err := parseListen(cfg.BusListen)
		if err != nil {
			return nil, fmt.Errorf("DECNET_BUS_LISTEN: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := bus.StartServer(opts)
	if err != nil {
		return nil, fmt.Errorf("%w (another decnet may be running; set --bus-listen none or another address)", err)
	}
	return srv, nil
}

// startFleet deploys a new fleet on an empty data directory and resumes the
// recorded one otherwise.
func startFleet(ctx context.Context, g *globals, cfg config.Config, ff *fleetFlags, dep *fleet.Deployer) error {
	_, err := fleet.LoadState(dep.StatePath)
	switch {
	case errors.Is(err, fleet.ErrNoState):
		if cfg.Deckies == 0 {
			return nil
		}
		if ff.ports == "" && len(cfg.Ports) == 0 && ff.driverName != "docker" {
			cfg.Ports = unprivilegedPorts()
		}
		deckies, err := ff.buildDeckies(cfg, cfg.Deckies, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "decnet: deploying %d deckies in %s\n", len(deckies), cfg.DataDir)
		_, err = dep.Deploy(ctx, deckies, fleet.DeployOptions{})
		return err
	case err != nil:
		return err
	default:
		fmt.Fprintf(g.stderr, "decnet: resuming the fleet recorded in %s\n", dep.StatePath)
		if ff.deckies >= 0 || ff.subnet != "" || ff.ports != "" || ff.services != "" || ff.archetype != "" || ff.randomize || ff.distros != "" {
			fmt.Fprintln(g.stderr, "decnet: warning: the fleet flags (--deckies, --subnet, --ports, --services, ...) only shape a new fleet and are ignored on resume; change a recorded fleet with `decnet deploy` and `decnet teardown`")
		}
		_, _, err := dep.Sync(ctx, true)
		return err
	}
}

// unprivilegedPorts moves services off ports below 1024 when this process
// cannot bind them (not root and the kernel keeps the default
// ip_unprivileged_port_start of 1024).
func unprivilegedPorts() map[string]int {
	if os.Geteuid() == 0 {
		return map[string]int{}
	}
	start := 1024
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			start = n
		}
	}
	ports := map[string]int{}
	for _, svc := range decky.ServiceNames() {
		if p, ok := decky.DefaultPort(svc); ok && p < start {
			switch svc {
			case "ssh":
				ports[svc] = 2222
			case "http":
				ports[svc] = 8080
			default:
				ports[svc] = p + 10000
			}
		}
	}
	return ports
}

func printListening(g *globals, dep *fleet.Deployer, drv driver.Driver, extra []string) {
	st, err := fleet.LoadState(dep.StatePath)
	if err != nil {
		return
	}
	running := map[string]bool{}
	if statuses, err := drv.Inspect(context.Background()); err == nil {
		for _, s := range statuses {
			running[s.Name] = s.State == driver.StateRunning
		}
	}
	fmt.Fprintln(g.stdout, "decnet is up. Deckies:")
	for _, d := range st.Deckies {
		var svcs []string
		for _, s := range d.Services {
			svcs = append(svcs, fmt.Sprintf("%s=%s", s.Name, net.JoinHostPort(d.IP, strconv.Itoa(s.Port))))
		}
		sort.Strings(svcs)
		if !running[d.Name] {
			svcs = append(svcs, "(not running: see `decnet status`)")
		}
		fmt.Fprintf(g.stdout, "  %-10s %-15s %-22s %-8s %s\n", d.Name, d.IP, d.Hostname, d.Distro, strings.Join(svcs, " "))
	}
	for _, line := range extra {
		fmt.Fprintln(g.stdout, line)
	}
	fmt.Fprintln(g.stdout, "Press Ctrl-C to stop. `decnet attackers` and `decnet logs -f` show what they record.")
}

// followState applies the state file every syncInterval, so deploys and
// teardowns recorded by other decnet commands take effect. Failed deckies
// are retried only when the state file changes.
func followState(ctx context.Context, dep *fleet.Deployer, log *slog.Logger) error {
	var (
		lastGen int64 = -1
		lastErr string
	)
	tick := time.NewTicker(syncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, err := fleet.LoadState(dep.StatePath)
		retry := err == nil && cur.Generation != lastGen
		res, st, err := dep.Sync(ctx, retry)
		if err == nil || !errors.Is(err, fleet.ErrNoState) {
			lastGen = st.Generation
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr && msg != "" {
			log.Warn("apply state file", "err", err)
		}
		lastErr = msg
		for _, d := range res.Deployed {
			log.Info("decky started", "decky", d.Name, "ip", d.IP)
		}
	}
}
