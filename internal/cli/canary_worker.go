package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/api"
	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/canary/baseline"
	"github.com/decnet/decnet/internal/canary/blobstore"
	"github.com/decnet/decnet/internal/canary/callback"
	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/workers"
)

// upCanaryZone is the DNS zone `decnet up` uses when DECNET_CANARY_DNS_ZONE
// is unset, so a local run has DNS tokens. .test is reserved (RFC 6761)
// and never resolves on the internet.
const upCanaryZone = "cdn-edge.test"

// defaultUploadMax caps canary blob uploads when DECNET_CANARY_UPLOAD_MAX
// is unset.
const defaultUploadMax = 25 << 20

// canaryEnv is the canary configuration read from DECNET_CANARY_*.
type canaryEnv struct {
	httpAddr  string
	dnsAddr   string
	httpBase  string
	dnsZone   string
	baseline  []string
	trusted   []netip.Prefix
	uploadMax int64
}

// loadCanaryEnv reads and checks the DECNET_CANARY_* variables. With
// forUp, an unset zone takes upCanaryZone.
func loadCanaryEnv(forUp bool) (canaryEnv, error) {
	var e canaryEnv
	httpBind := envOr("DECNET_CANARY_HTTP_BIND", "127.0.0.1")
	httpPort, err := envPort("DECNET_CANARY_HTTP_PORT", "8088")
	if err != nil {
		return e, err
	}
	dnsBind := envOr("DECNET_CANARY_DNS_BIND", "127.0.0.1")
	dnsPort, err := envPort("DECNET_CANARY_DNS_PORT", "5354")
	if err != nil {
		return e, err
	}
	e.httpAddr = net.JoinHostPort(httpBind, httpPort)
	e.dnsAddr = net.JoinHostPort(dnsBind, dnsPort)

	e.httpBase = strings.TrimRight(envOr("DECNET_CANARY_HTTP_BASE", "http://"+e.httpAddr), "/")
	if !strings.HasPrefix(e.httpBase, "http://") && !strings.HasPrefix(e.httpBase, "https://") {
		return e, fmt.Errorf("DECNET_CANARY_HTTP_BASE: invalid value %q: use an http or https URL such as https://cdn.example.net", e.httpBase)
	}

	e.dnsZone = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(os.Getenv("DECNET_CANARY_DNS_ZONE"))), ".")
	if _, set := os.LookupEnv("DECNET_CANARY_DNS_ZONE"); !set && forUp {
		e.dnsZone = upCanaryZone
	}
	if e.dnsZone != "" {
		if _, err := callback.NewDNSHandler(callback.DNSConfig{Zone: e.dnsZone}); err != nil {
			return e, fmt.Errorf("DECNET_CANARY_DNS_ZONE: %w", err)
		}
	}

	if e.baseline, err = baseline.ParseGenerators(os.Getenv("DECNET_CANARY_BASELINE")); err != nil {
		return e, fmt.Errorf("DECNET_CANARY_BASELINE: %w", err)
	}
	if e.trusted, err = parsePrefixes(os.Getenv("DECNET_CANARY_TRUSTED_PROXIES")); err != nil {
		return e, fmt.Errorf("DECNET_CANARY_TRUSTED_PROXIES: %w", err)
	}
	e.uploadMax = defaultUploadMax
	if v := strings.TrimSpace(os.Getenv("DECNET_CANARY_UPLOAD_MAX")); v != "" {
		if e.uploadMax, err = parseByteSize(v); err != nil {
			return e, fmt.Errorf("DECNET_CANARY_UPLOAD_MAX: %w", err)
		}
	}
	return e, nil
}

func envPort(name, def string) (string, error) {
	v := envOr(name, def)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%s: invalid port %q: use a number from 0 to 65535", name, v)
	}
	return v, nil
}

// parsePrefixes parses comma-separated CIDRs and bare addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("invalid entry %q: use an address or CIDR such as 10.0.0.0/8", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// parseByteSize parses a byte count with an optional KiB, MiB or GiB
// suffix (KB, MB and GB are read as the binary units too).
func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"kib", 10}, {"kb", 10}, {"k", 10}, {"mib", 20}, {"mb", 20}, {"m", 20}, {"gib", 30}, {"gb", 30}, {"g", 30}}
	lower := strings.ToLower(strings.TrimSpace(s))
	shift := uint(0)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(lower, u.suffix); ok {
			lower, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(lower, 10, 64)
	if err != nil || n < 1 || n > (1<<40)>>shift {
		return 0, fmt.Errorf("invalid size %q: use a byte count such as 26214400 or 25MiB", s)
	}
	return n << shift, nil
}

// canaryBlobDir returns the directory that keeps uploaded canary files.
func canaryBlobDir(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "canary", "blobs")
}

// newCanaryRecorder builds the batching recorder of the callback worker.
func newCanaryRecorder(st *sqlstore.Store, b *bus.Bus, log *slog.Logger) *callback.Recorder {
	rc := callback.RecorderConfig{Store: st, Logger: log}
	if b != nil {
		rc.Bus = b
	}
	return callback.NewRecorder(rc)
}

// newCanaryPlanter builds the planter that mints tokens into deckies run
// by drv. The API's canary routes use it too when they run in the same
// process as the deckies.
func newCanaryPlanter(cfg config.Config, ce canaryEnv, st *sqlstore.Store, drv planter.FileWriter, b *bus.Bus, log *slog.Logger) (*planter.Planter, error) {
	blobs, err := blobstore.New(canaryBlobDir(cfg))
	if err != nil {
		return nil, err
	}
	blobs.MaxSize = ce.uploadMax
	p := &planter.Planter{Store: st, Driver: drv, Deckies: planter.StateFileDeckies(statePath(cfg)), Blobs: blobs,
		HTTPBase: ce.httpBase, DNSZone: ce.dnsZone, Logger: log}
	if b != nil {
		p.Bus = b
	}
	return p, nil
}

// canaryAPIRoutes builds the /api/v1/canary route group for an API server.
// drv is the driver of the deckies this process runs. With nil (a separate
// `decnet api`) blob uploads and listings still work, and token creation,
// preview and revoke return 503.
func canaryAPIRoutes(cfg config.Config, st *sqlstore.Store, drv planter.FileWriter, b *bus.Bus, log *slog.Logger) (api.RouteGroup, error) {
	ce, err := loadCanaryEnv(drv != nil)
	if err != nil {
		return api.RouteGroup{}, err
	}
	p, err := newCanaryPlanter(cfg, ce, st, drv, b, log.With("worker", "api"))
	if err != nil {
		return api.RouteGroup{}, err
	}
	rc := api.CanaryConfig{Store: st, Blobs: p.Blobs, UploadMax: ce.uploadMax}
	if drv != nil {
		rc.Planter = p
	}
	return api.CanaryRoutes(rc), nil
}

func init() {
	upExtras = append(upExtras, canaryUpWorkers)
}

// canaryUpWorkers adds the callback receivers to `decnet up` and plants the
// baseline tokens: in deckies deployed from now on through a deploy hook,
// and in the deckies already in the state file when the worker starts.
func canaryUpWorkers(ctx context.Context, env *upEnv) ([]workers.Worker, error) {
	ce, err := loadCanaryEnv(true)
	if err != nil {
		return nil, err
	}
	log := env.log.With("worker", "canary")
	w, err := callback.NewWorker(callback.Config{HTTPAddr: ce.httpAddr, DNSAddr: ce.dnsAddr, Zone: ce.dnsZone,
		TrustedProxies: ce.trusted, Recorder: newCanaryRecorder(env.store, env.bus, log), Logger: log})
	if err != nil {
		return nil, err
	}
	if len(ce.baseline) == 0 {
		return []workers.Worker{w}, nil
	}

	p, err := newCanaryPlanter(env.cfg, ce, env.store, env.driver, env.bus, log)
	if err != nil {
		return nil, err
	}
	seeder := &baseline.Seeder{Planter: p, Generators: ce.baseline, Logger: log}
	env.deploy.Hooks = append(env.deploy.Hooks, seeder.Seed)
	return []workers.Worker{&canaryUpWorker{Worker: w, seeder: seeder, statePath: env.deploy.StatePath, log: log}}, nil
}

// canaryUpWorker runs the receivers and, once they listen, plants the
// baseline in the deckies recorded before `decnet up` added its deploy
// hook.
type canaryUpWorker struct {
	*callback.Worker
	seeder    *baseline.Seeder
	statePath string
	log       *slog.Logger
}

// Run implements workers.Worker.
func (w *canaryUpWorker) Run(ctx context.Context) error {
	// The seeding goroutine ends with the receivers, also when they fail
	// to bind and never become ready.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-w.Ready():
		case <-ctx.Done():
			return
		}
		st, err := fleet.LoadState(w.statePath)
		if err != nil {
			if !errors.Is(err, fleet.ErrNoState) {
				w.log.Warn("canary baseline: read fleet state", "err", err)
			}
			return
		}
		w.seeder.SeedAll(ctx, st.Deckies)
	}()
	err := w.Worker.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

func newCanaryWorkerCmd(g *globals) *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the canary HTTP and DNS callback receivers (runs inside `decnet up` too)",
		Long: `Serve the canary callback receivers and record every callback of a planted
token in the database, then publish canary.<token>.triggered on the bus.

HTTP listens on DECNET_CANARY_HTTP_BIND:DECNET_CANARY_HTTP_PORT (default
127.0.0.1:8088). DNS listens on DECNET_CANARY_DNS_BIND:DECNET_CANARY_DNS_PORT
(default 127.0.0.1:5354, UDP and TCP) when DECNET_CANARY_DNS_ZONE is set.
Events need the bus at DECNET_BUS_URL; without it triggers are only stored.`,
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
			ce, err := loadCanaryEnv(false)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			var b *bus.Bus
			if cfg.BusURL != "" {
				if b, err = bus.Connect(ctx, cfg.BusURL, "canary", bus.WithLogger(log), bus.WithSource("canary")); err != nil {
					return fmt.Errorf("connect to DECNET_BUS_URL %s: %w", cfg.BusURL, err)
				}
				defer b.Close()
			} else {
				log.Warn("DECNET_BUS_URL is not set: canary triggers are stored but no events are published")
			}

			wlog := log.With("worker", "canary")
			w, err := callback.NewWorker(callback.Config{HTTPAddr: ce.httpAddr, DNSAddr: ce.dnsAddr, Zone: ce.dnsZone,
				TrustedProxies: ce.trusted, Recorder: newCanaryRecorder(st, b, wlog), Logger: wlog})
			if err != nil {
				return err
			}
			runner := &workers.Runner{Logger: log}
			if b != nil {
				runner.Bus = b
			}
			err = runner.Run(ctx, w)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	df.register(cmd, false)
	return cmd
}
