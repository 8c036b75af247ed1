package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/api"
	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/webhook"
	"github.com/decnet/decnet/internal/workers"
)

// apiEnv are the API settings read from DECNET_* variables.
type apiEnv struct {
	addr          string
	adminPassword string
	jwtSecret     string
	jwtTTL        time.Duration
	sseMax        int
	webhookConfig string
	allowUnsafe   bool
}

// loadAPIEnv reads and checks the API variables.
func loadAPIEnv() (apiEnv, error) {
	e := apiEnv{
		addr:          envOr("DECNET_API_ADDR", api.DefaultAddr),
		adminPassword: os.Getenv("DECNET_ADMIN_PASSWORD"),
		jwtSecret:     os.Getenv("DECNET_JWT_SECRET"),
		jwtTTL:        auth.DefaultTokenTTL,
		sseMax:        api.DefaultSSEMaxPerUser,
		webhookConfig: os.Getenv("DECNET_WEBHOOK_CONFIG"),
	}
	if v := os.Getenv("DECNET_JWT_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return e, fmt.Errorf("DECNET_JWT_TTL: invalid value %q: use a duration from 1m to 720h, such as 8h", v)
		}
		e.jwtTTL = d
	}
	if v := os.Getenv("DECNET_SSE_MAX_PER_USER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return e, fmt.Errorf("DECNET_SSE_MAX_PER_USER: invalid value %q: use a whole number from 1 to 1000", v)
		}
		e.sseMax = n
	}
	if v := os.Getenv("DECNET_WEBHOOK_ALLOW_PRIVATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return e, fmt.Errorf("DECNET_WEBHOOK_ALLOW_PRIVATE: invalid value %q: use true or false", v)
		}
		e.allowUnsafe = b
	}
	return e, nil
}

// apiOptions are the dependencies of newAPIWorker besides the configuration.
type apiOptions struct {
	Store *sqlstore.Store
	// Bus may be nil, and then streams and readiness respond 503.
	Bus   *bus.Bus
	Fleet api.FleetDeployer
	// Registry reports worker health; nil lets the API track heartbeats
	// itself.
	Registry *workers.Registry
	// Webhook, when the webhook worker runs in the same process, supplies
	// delivery counters to GET /api/v1/webhooks.
	Webhook *webhook.Worker
	// Driver runs the deckies of this process, and the canary routes plant
	// tokens through it. With nil (a separate `decnet api`), token creation
	// returns 503.
	Driver planter.FileWriter
	// Out receives the generated admin password on first start.
	Out    io.Writer
	Logger *slog.Logger
}

// newAPIWorker builds the API server from DECNET_* variables: it creates
// the admin account on first start, loads or creates the token secret and
// wires the webhook administration. `decnet up` calls it too.
func newAPIWorker(ctx context.Context, cfg config.Config, addr string, opts apiOptions) (*api.Server, error) {
	env, err := loadAPIEnv()
	if err != nil {
		return nil, err
	}
	if addr != "" {
		env.addr = addr
	}

	if err := auth.Bootstrap(ctx, opts.Store, env.adminPassword, 0, opts.Out, opts.Logger); err != nil {
		return nil, err
	}
	secret, err := auth.LoadSecret(env.jwtSecret, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	svc, err := auth.NewService(opts.Store, auth.Options{Secret: secret, TokenTTL: env.jwtTTL, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}

	var fileTargets []webhook.Target
	if env.webhookConfig != "" {
		if fileTargets, err = webhook.LoadFile(env.webhookConfig, env.allowUnsafe); err != nil {
			return nil, fmt.Errorf("DECNET_WEBHOOK_CONFIG: %w", err)
		}
	}
	var notify webhook.Notifier
	if opts.Bus != nil {
		b := opts.Bus
		notify = func(ctx context.Context) {
			b.PublishSafely(ctx, bus.SystemWebhookSubscriptionsChanged, "webhook.subscriptions_changed", nil)
		}
	}
	admin := webhook.NewAdmin(webhook.NewStore(opts.Store.DB(), nil), fileTargets, env.allowUnsafe, notify)
	admin.Worker = opts.Webhook

	deps := api.Deps{Store: opts.Store, Auth: svc, Fleet: opts.Fleet, Webhooks: admin}
	if opts.Bus != nil {
		deps.Bus = opts.Bus
	}
	if opts.Registry != nil {
		deps.Workers = registryLister{opts.Registry}
	}
	srv, err := api.New(api.Config{
		Addr:          env.addr,
		HostID:        cfg.HostID,
		SSEMaxPerUser: env.sseMax,
		Logger:        opts.Logger,
	}, deps)
	if err != nil {
		return nil, err
	}

	canaryRoutes, err := canaryAPIRoutes(cfg, opts.Store, opts.Driver, opts.Bus, opts.Logger)
	if err != nil {
		return nil, err
	}
	srv.Register(canaryRoutes)
	srv.Register(srv.IdentitiesGroup(opts.Store))
	srv.Register(srv.CampaignsGroup(opts.Store))
	return srv, nil
}

// registryLister adapts the workers Registry to the API's worker listing.
type registryLister struct{ r *workers.Registry }

func (l registryLister) ListWorkers() []api.WorkerStatus {
	snap := l.r.Snapshot()
	out := make([]api.WorkerStatus, 0, len(snap))
	for _, s := range snap {
		ws := api.WorkerStatus{Name: s.Name, Status: string(s.Status)}
		if !s.LastSeen.IsZero() {
			t := s.LastSeen
			ws.LastHeartbeat = &t
		}
		if s.InstanceID != "" {
			ws.Extra = map[string]any{"instance_id": s.InstanceID}
		}
		out = append(out, ws)
	}
	return out
}

func newAPICmd(g *globals) *cobra.Command {
	var (
		df      dataFlags
		apiAddr string
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the REST API and live event streams (runs inside `decnet up` too)",
		Long: `Serve the REST API on --api-addr (env DECNET_API_ADDR, default 127.0.0.1:8000).
On first start the admin account is created with DECNET_ADMIN_PASSWORD, or with
a generated password printed once on stdout. Live event streams and /readyz need
the bus at DECNET_BUS_URL; without it the rest of the API still works.`,
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
			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			var b *bus.Bus
			if cfg.BusURL != "" {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				b, err = bus.Connect(cctx, cfg.BusURL, "api", bus.WithLogger(log), bus.WithSource("api"))
				cancel()
				if err != nil {
					return fmt.Errorf("connect to DECNET_BUS_URL %s: %w", cfg.BusURL, err)
				}
				defer b.Close()
			} else {
				log.Warn("DECNET_BUS_URL is not set: event streams and /readyz will respond 503")
			}

			srv, err := newAPIWorker(ctx, cfg, apiAddr, apiOptions{Store: st, Bus: b, Out: g.stdout, Logger: log})
			if err != nil {
				return err
			}
			if b == nil {
				return srv.Run(ctx)
			}
			runner := &workers.Runner{Bus: b, Logger: log}
			err = runner.Run(ctx, srv)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	df.register(cmd, false)
	cmd.Flags().StringVar(&apiAddr, "api-addr", "", "listen address of the API (env DECNET_API_ADDR, default 127.0.0.1:8000)")
	return cmd
}

// readPasswordLine reads one line from r, without the line ending.
func readPasswordLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() <= auth.MaxPasswordLen+2 {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}
