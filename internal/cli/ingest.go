package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/ingest"
	"github.com/decnet/decnet/internal/workers"
)

func newIngestCmd(g *globals) *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Store service events from the bus (runs inside `decnet up` too)",
		Long: `Consume service events from the bus and write logs, attackers and credentials.
The bus is DECNET_BUS_URL, such as nats://127.0.0.1:4222 for the server that
` + "`decnet up` or `decnet bus`" + ` starts. Events published while no ingester runs
wait in the bus and are stored when one starts.`,
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

			b, err := bus.Connect(ctx, cfg.BusURL, "ingester", bus.WithLogger(log), bus.WithSource("ingester"))
			if err != nil {
				return fmt.Errorf("connect to DECNET_BUS_URL %s: %w", cfg.BusURL, err)
			}
			defer b.Close()

			runner := &workers.Runner{Bus: b, Logger: log}
			err = runner.Run(ctx, &ingest.Worker{Bus: b, Store: st, Logger: log})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	df.register(cmd, false)
	return cmd
}
