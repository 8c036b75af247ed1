package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/workers"
)

// busShutdownTimeout bounds the server shutdown after the bus worker
// stopped, so the whole command ends within the 5 s stop budget plus the
// store flush.
const busShutdownTimeout = 5 * time.Second

func newBusCmd(g *globals) *cobra.Command {
	var dataDir, listen string

	cmd := &cobra.Command{
		Use:   "bus",
		Short: "Run the embedded NATS server with JetStream until interrupted",
		Long: "Run the embedded NATS server that carries decnet's events, for hosts without a NATS server.\n" +
			"JetStream stores service and domain events under <data-dir>/bus; workers connect with DECNET_BUS_URL.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger()
			if err != nil {
				return err
			}
			host, port, err := parseListen(listen)
			if err != nil {
				return err
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			srv, err := bus.StartServer(bus.ServerOptions{DataDir: dataDir, Host: host, Port: port, Logger: logger})
			if err != nil {
				return err
			}

			runErr := runBusWorker(ctx, srv, g)

			shutdownCtx, cancel := context.WithTimeout(context.Background(), busShutdownTimeout)
			defer cancel()
			return errors.Join(runErr, srv.Shutdown(shutdownCtx))
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", envOr("DECNET_DATA_DIR", "./decnet-data"), "data directory; the JetStream store goes in <data-dir>/bus (env DECNET_DATA_DIR)")
	cmd.Flags().StringVar(&listen, "listen", envOr("DECNET_BUS_LISTEN", net.JoinHostPort(bus.DefaultHost, strconv.Itoa(bus.DefaultPort))), "client listener as host:port (env DECNET_BUS_LISTEN)")
	return cmd
}

// runBusWorker publishes the bus heartbeat and obeys stop requests over an
// in-process connection until ctx ends.
func runBusWorker(ctx context.Context, srv *bus.Server, g *globals) error {
	logger, err := g.logger()
	if err != nil {
		return err
	}
	b, err := bus.ConnectInProcess(srv, "bus", bus.WithLogger(logger))
	if err != nil {
		return err
	}
	defer b.Close()

	r := &workers.Runner{Bus: b, Logger: logger}
	return r.Run(ctx, workers.NewFunc("bus", func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}))
}

func parseListen(listen string) (string, int, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("invalid --listen %q: use host:port, for example 127.0.0.1:4222", listen)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("invalid --listen port %q: use 1-65535", portText)
	}
	return host, port, nil
}
