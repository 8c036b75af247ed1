package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/webhook"
	"github.com/decnet/decnet/internal/workers"
)

// newWebhookWorker builds the egress worker from DECNET_WEBHOOK_CONFIG, the
// targets stored through the API and DECNET_WEBHOOK_ALLOW_PRIVATE.
// `decnet up` calls it too.
func newWebhookWorker(st *sqlstore.Store, b *bus.Bus, log *slog.Logger) (*webhook.Worker, error) {
	env, err := loadAPIEnv()
	if err != nil {
		return nil, err
	}
	var targets []webhook.Target
	if env.webhookConfig != "" {
		if targets, err = webhook.LoadFile(env.webhookConfig, env.allowUnsafe); err != nil {
			return nil, fmt.Errorf("DECNET_WEBHOOK_CONFIG: %w", err)
		}
	}
	return webhook.NewWorker(webhook.Config{FileTargets: targets, AllowUnsafe: env.allowUnsafe, Logger: log},
		b, webhook.NewStore(st.DB(), nil))
}

func newWebhookCmd(g *globals) *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Deliver bus events to SIEM targets: HTTP webhooks and syslog (runs inside `decnet up` too)",
		Long: `Deliver bus events to the targets of DECNET_WEBHOOK_CONFIG (a YAML file) and to the
targets created with POST /api/v1/webhooks. Each target reads its subjects through
a durable consumer, so events published while this worker is down are delivered
when it starts. Failed deliveries are retried with exponential backoff and then
stored as dead letters (GET /api/v1/webhooks/dead-letters).`,
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
			if cfg.BusURL == "" {
				return errors.New("DECNET_BUS_URL is not set: point it at the bus, such as nats://127.0.0.1:4222")
			}
			st, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := bus.Connect(cctx, cfg.BusURL, "webhook", bus.WithLogger(log), bus.WithSource("webhook"))
			cancel()
			if err != nil {
				return fmt.Errorf("connect to DECNET_BUS_URL %s: %w", cfg.BusURL, err)
			}
			defer b.Close()

			w, err := newWebhookWorker(st, b, log)
			if err != nil {
				return err
			}
			runner := &workers.Runner{Bus: b, Logger: log}
			err = runner.Run(ctx, w)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	df.register(cmd, false)
	cmd.AddCommand(newWebhookCheckCmd(g))
	return cmd
}

func newWebhookCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a webhook target file without sending anything",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := loadAPIEnv()
			if err != nil {
				return err
			}
			targets, err := webhook.LoadFile(args[0], env.allowUnsafe)
			if err != nil {
				return err
			}
			for _, t := range targets {
				fmt.Fprintf(g.stdout, "%s: %s target for %v\n", t.Name, t.Kind, t.Subjects)
			}
			fmt.Fprintf(g.stdout, "%d targets valid\n", len(targets))
			return nil
		},
	}
}
