package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/driver/native"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/services/catalog"
	"github.com/decnet/decnet/internal/store"
)

// fleetFlags describe a fleet to generate.
type fleetFlags struct {
	docker     dockerFlags
	deckies    int
	archetype  string
	services   string
	randomize  bool
	distros    string
	subnet     string
	ports      string
	driverName string
}

func (f *fleetFlags) register(cmd *cobra.Command, defaultCount string) {
	fl := cmd.Flags()
	fl.IntVarP(&f.deckies, "deckies", "n", -1, "number of deckies to create (env DECNET_DECKIES, default "+defaultCount+")")
	// -1 only means "not given"; the help text names the real default.
	fl.Lookup("deckies").DefValue = "0"
	fl.StringVarP(&f.archetype, "archetype", "a", "", "archetype of every decky, such as linux-server or web-server")
	fl.StringVar(&f.services, "services", "", "comma-separated services of every decky, such as ssh,http")
	fl.BoolVar(&f.randomize, "randomize-services", false, "give each decky 1 to 3 random services")
	fl.StringVar(&f.distros, "distro", "", "comma-separated distros cycled across the deckies, such as debian,rocky9")
	fl.StringVar(&f.subnet, "subnet", "", "subnet decky addresses come from (env DECNET_SUBNET, default 127.77.0.0/24)")
	fl.StringVar(&f.ports, "ports", "", "port overrides per service, such as ssh=2222,http=8080 (env DECNET_PORTS)")
	fl.StringVar(&f.driverName, "driver", "native", "where deckies run: native (in this process) or docker (containers with LAN addresses)")
	f.docker.register(cmd)
}

// checkDriver validates the driver name against the subnet.
func (f *fleetFlags) checkDriver(subnet netip.Prefix) error {
	switch f.driverName {
	case "native":
		return checkNativeSubnet(subnet)
	case "docker":
		if subnet.Addr().IsLoopback() {
			return fmt.Errorf("subnet %s is a loopback range: the docker driver puts deckies on a LAN, so pass --subnet with the LAN's CIDR and --interface", subnet)
		}
		return nil
	default:
		return fmt.Errorf("invalid --driver %q: use native or docker", f.driverName)
	}
}

// openDriver builds the selected driver. Service events go to sink; the
// returned function releases the driver.
func (f *fleetFlags) openDriver(ctx context.Context, g *globals, cfg config.Config, sink services.Sink, log *slog.Logger) (driver.Driver, func(), error) {
	if f.driverName != "docker" {
		drv := native.New(native.Config{DataDir: cfg.DataDir, Factories: catalog.Factories(), Sink: sink, Logger: log, ShutdownTimeout: time.Second})
		return drv, drv.Close, nil
	}
	progress := func(decky, step string) { fmt.Fprintf(g.stderr, "%s: %s\n", decky, step) }
	drv, err := f.docker.newDockerDriver(cfg, cfg.Subnet.String(), sink, log, progress)
	if err != nil {
		return nil, nil, err
	}
	if sink != nil {
		if err := drv.Attach(ctx); err != nil {
			drv.Close()
			return nil, nil, err
		}
	}
	return drv, func() { drv.Close() }, nil
}

// apply merges the flags into cfg.
func (f *fleetFlags) apply(cfg *config.Config) error {
	if f.deckies >= 0 {
		if f.deckies > 250 {
			return fmt.Errorf("invalid --deckies %d: use 0 to 250", f.deckies)
		}
		cfg.Deckies = f.deckies
	}
	if f.subnet != "" {
		p, err := config.ParseSubnet(f.subnet)
		if err != nil {
			return fmt.Errorf("--subnet: %w", err)
		}
		cfg.Subnet = p
	}
	if f.ports != "" {
		p, err := config.ParsePorts(f.ports)
		if err != nil {
			return fmt.Errorf("--ports: %w", err)
		}
		cfg.Ports = p
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// buildDeckies generates count new deckies that avoid the names and
// addresses of the current state.
func (f *fleetFlags) buildDeckies(cfg config.Config, count int, current []decky.Decky) ([]decky.Decky, error) {
	opts := decky.BuildOptions{
		Count:             count,
		Archetype:         f.archetype,
		Services:          splitList(f.services),
		RandomizeServices: f.randomize,
		Distros:           splitList(f.distros),
		Subnet:            cfg.Subnet,
		Ports:             cfg.Ports,
		Implemented:       catalog.Implemented(),
	}
	if len(opts.Services) == 0 && opts.Archetype == "" && !opts.RandomizeServices {
		opts.Services = catalog.Implemented()
	}
	for _, d := range current {
		opts.ExistingNames = append(opts.ExistingNames, d.Name)
		opts.ExistingIPs = append(opts.ExistingIPs, d.IP)
	}
	return decky.Build(opts)
}

func checkNativeSubnet(p netip.Prefix) error {
	if !p.Addr().IsLoopback() {
		return fmt.Errorf("subnet %s is outside 127.0.0.0/8: the native driver binds loopback addresses only; use --driver docker for LAN addresses", p)
	}
	return nil
}

func newDeployCmd(g *globals) *cobra.Command {
	var (
		df     dataFlags
		ff     fleetFlags
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Add deckies to the fleet",
		Long: `Add deckies to the fleet and record them in the state file and the database.

With the native driver the deckies run inside ` + "`decnet up`" + `: a running
` + "`decnet up`" + ` on the same data directory starts them within seconds, and
otherwise the next ` + "`decnet up`" + ` does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			current, err := fleet.LoadState(statePath(cfg))
			if err != nil && !errors.Is(err, fleet.ErrNoState) {
				return err
			}
			inheritFleet(&cfg, current)
			if err := ff.apply(&cfg); err != nil {
				return err
			}
			if err := ff.checkDriver(cfg.Subnet); err != nil {
				return err
			}
			count := cfg.Deckies
			if ff.deckies < 0 {
				count = 1
			}
			deckies, err := ff.buildDeckies(cfg, count, current.Deckies)
			if err != nil {
				return err
			}
			if dryRun {
				return printDeckies(g, deckies, nil, df.jsonOut)
			}

			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			if ff.driverName == "docker" {
				// Containers run without decnet, so this command deploys them itself.
				drv, closeDriver, err := ff.openDriver(ctx, g, cfg, nil, log)
				if err != nil {
					return err
				}
				defer closeDriver()
				dep := &fleet.Deployer{Driver: drv, Store: st, StatePath: statePath(cfg), HostID: cfg.HostID,
					Subnet: cfg.Subnet.String(), Logger: log}
				if _, err := dep.Deploy(ctx, deckies, fleet.DeployOptions{}); err != nil {
					return err
				}
				rows, err := st.ListFleetDeckies(ctx, cfg.HostID)
				if err != nil {
					return err
				}
				byName := map[string]store.FleetDecky{}
				for _, r := range rows {
					byName[r.Name] = r
				}
				return printDeckies(g, deckies, byName, df.jsonOut)
			}

			dep := &fleet.Deployer{Driver: recordDriver{}, Store: st, StatePath: statePath(cfg), HostID: cfg.HostID,
				Subnet: cfg.Subnet.String(), Logger: log}
			if _, err := dep.Deploy(ctx, deckies, fleet.DeployOptions{RecordOnly: true}); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "recorded %d deckies; a running `decnet up` on %s starts them\n", len(deckies), cfg.DataDir)
			return printDeckies(g, deckies, nil, df.jsonOut)
		},
	}
	df.register(cmd, true)
	ff.register(cmd, "1")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the deckies that would be created and change nothing")
	return cmd
}

// recordDriver replaces the runtime when a command only records desired
// state; its name keeps rows attributed to the native driver.
type recordDriver struct{ driver.Driver }

func (recordDriver) Name() string { return "native" }

func newTeardownCmd(g *globals) *cobra.Command {
	var (
		df    dataFlags
		dk    dockerFlags
		all   bool
		names []string
	)
	cmd := &cobra.Command{
		Use:   "teardown (--all | --name NAME...)",
		Short: "Remove deckies from the fleet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (len(names) > 0) {
				return errors.New("use exactly one of --all and --name NAME")
			}
			ctx := cmd.Context()
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			state, err := fleet.LoadState(statePath(cfg))
			if err != nil && !errors.Is(err, fleet.ErrNoState) {
				return err
			}
			if state.Driver == "docker" {
				// Containers run without decnet, so this command removes them.
				progress := func(decky, step string) { fmt.Fprintf(g.stderr, "%s: %s\n", decky, step) }
				drv, err := dk.newDockerDriver(cfg, state.Subnet, nil, log, progress)
				if err != nil {
					return err
				}
				defer drv.Close()
				dep := &fleet.Deployer{Driver: drv, Store: st, StatePath: statePath(cfg), HostID: cfg.HostID, Logger: log}
				if err := dep.Teardown(ctx, names, all); err != nil {
					return err
				}
				if all {
					// The last decky gone, the LAN network and the host shim go too.
					return drv.TeardownAll(ctx)
				}
				return nil
			}

			dep := &fleet.Deployer{Driver: stoppedDriver{}, Store: st, StatePath: statePath(cfg), HostID: cfg.HostID, Logger: log}
			if err := dep.Teardown(ctx, names, all); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "removed from the fleet; a running `decnet up` stops them within seconds")
			return nil
		},
	}
	df.register(cmd, false)
	dk.register(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "remove every decky")
	cmd.Flags().StringSliceVar(&names, "name", nil, "name of a decky to remove (repeatable)")
	return cmd
}

// stoppedDriver accepts teardowns in a process that runs no decky. The
// process that runs them stops them when it applies the state file.
type stoppedDriver struct{ recordDriver }

func (stoppedDriver) Teardown(context.Context, string) error { return nil }

// deckyView is one decky as `decnet status --json` prints it.
type deckyView struct {
	Name      string        `json:"name"`
	IP        string        `json:"ip"`
	Hostname  string        `json:"hostname"`
	Persona   string        `json:"persona"`
	Distro    string        `json:"distro"`
	Archetype string        `json:"archetype,omitempty"`
	State     string        `json:"state"`
	LastError string        `json:"last_error,omitempty"`
	Services  []serviceView `json:"services"`
}

type serviceView struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

func viewDecky(d decky.Decky, state, lastError string) deckyView {
	v := deckyView{Name: d.Name, IP: d.IP, Hostname: d.Hostname, Persona: string(d.Persona), Distro: d.Distro,
		Archetype: d.Archetype, State: state, LastError: lastError, Services: []serviceView{}}
	for _, s := range d.Services {
		v.Services = append(v.Services, serviceView{Name: s.Name, Port: s.Port})
	}
	return v
}

func printDeckies(g *globals, deckies []decky.Decky, rows map[string]store.FleetDecky, jsonOut bool) error {
	views := []deckyView{}
	for _, d := range deckies {
		state, lastErr := "planned", ""
		if rows != nil {
			state = "unknown"
			if r, ok := rows[d.Name]; ok {
				state, lastErr = r.State, r.LastError
			}
		}
		views = append(views, viewDecky(d, state, lastErr))
	}
	if jsonOut {
		return printJSON(g.stdout, views)
	}

	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIP\tHOSTNAME\tPERSONA\tDISTRO\tSTATE\tSERVICES")
	for _, v := range views {
		var svcs []string
		for _, s := range v.Services {
			svcs = append(svcs, fmt.Sprintf("%s:%d", s.Name, s.Port))
		}
		state := v.State
		if v.LastError != "" {
			state += " (" + v.LastError + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.IP, v.Hostname, v.Persona, v.Distro, state, strings.Join(svcs, ","))
	}
	return tw.Flush()
}

func newStatusCmd(g *globals) *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the deckies of the fleet and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			state, err := fleet.LoadState(statePath(cfg))
			if errors.Is(err, fleet.ErrNoState) {
				if df.jsonOut {
					return printJSON(g.stdout, []deckyView{})
				}
				fmt.Fprintf(g.stdout, "no deckies in %s: run `decnet up` or `decnet deploy`\n", cfg.DataDir)
				return nil
			}
			if err != nil {
				return err
			}
			if err := requireDataDir(cfg); err != nil {
				return err
			}
			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.ListFleetDeckies(ctx, cfg.HostID)
			if err != nil {
				return err
			}
			byName := map[string]store.FleetDecky{}
			for _, r := range rows {
				byName[r.Name] = r
			}
			deckies := slices.Clone(state.Deckies)
			slices.SortFunc(deckies, func(a, b decky.Decky) int { return strings.Compare(a.Name, b.Name) })
			return printDeckies(g, deckies, byName, df.jsonOut)
		},
	}
	df.register(cmd, true)
	return cmd
}

// inheritFleet makes new deckies join the recorded fleet: its subnet and the
// ports its services use, unless DECNET_SUBNET, DECNET_PORTS or the flags
// (applied afterwards) set them. Without a recorded fleet, services
// below port 1024 move to unprivileged ports when `decnet up` could not
// bind them.
func inheritFleet(cfg *config.Config, current fleet.State) {
	if _, set := os.LookupEnv("DECNET_SUBNET"); !set && current.Subnet != "" {
		if p, err := config.ParseSubnet(current.Subnet); err == nil {
			cfg.Subnet = p
		}
	}
	if _, set := os.LookupEnv("DECNET_PORTS"); set {
		return
	}
	if len(current.Deckies) == 0 {
		cfg.Ports = unprivilegedPorts()
		return
	}
	ports := map[string]int{}
	for _, d := range current.Deckies {
		for _, s := range d.Services {
			if _, seen := ports[s.Name]; !seen {
				ports[s.Name] = s.Port
			}
		}
	}
	cfg.Ports = ports
}
