package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/workers"
)

func newIdentitiesCmd(g *globals) *cobra.Command {
	return newPagedListCmd(g, pagedList[sqlstore.Identity]{
		use:   "identities",
		short: "List attacker identities, most recently updated first",
		long: `List the active attacker identities (those not merged into another), most
recently updated first. An identity groups the source addresses that the
clusterer attributes to one operator.`,
		noun: "identities",
		list: func(ctx context.Context, st *sqlstore.Store, p store.Page) ([]sqlstore.Identity, int, error) {
			return st.ListIdentities(ctx, p)
		},
		print: printIdentities,
	})
}

func printIdentities(g *globals, list []sqlstore.Identity, total int) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UUID\tOBSERVATIONS\tFIRST_SEEN\tLAST_SEEN\tCONFIDENCE\tJA3\tHASSH")
	for _, id := range list {
		conf := "-"
		if id.Confidence != nil {
			conf = fmt.Sprintf("%.2f", *id.Confidence)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", id.UUID, id.ObservationCount,
			id.FirstSeenAt.Format("2006-01-02T15:04:05Z"), id.LastSeenAt.Format("2006-01-02T15:04:05Z"),
			conf, summarizeList(id.JA3Hashes), summarizeList(id.HASSHHashes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "%d of %d identities\n", len(list), total)
	return err
}

// summarizeList shows the first value of a list, shortened, and how many
// more there are.
func summarizeList(values []string) string {
	if len(values) == 0 {
		return "-"
	}
	first := values[0]
	if len(first) > 16 {
		first = first[:16] + "…"
	}
	if len(values) > 1 {
		return fmt.Sprintf("%s (+%d)", first, len(values)-1)
	}
	return strings.TrimSpace(first)
}

// newClustererWorker builds the identity clusterer worker; `decnet up`
// runs the same worker in process. b may be nil for polling only.
func newClustererWorker(st *sqlstore.Store, b *bus.Bus, log *slog.Logger, poll time.Duration) *identity.Worker {
	w := &identity.Worker{
		Clusterer:    identity.New(st, identity.Options{Logger: log}),
		Logger:       log,
		PollInterval: poll,
	}
	if b != nil {
		w.Bus = b
	}
	return w
}

func newClustererCmd(g *globals) *cobra.Command {
	var (
		df   dataFlags
		poll time.Duration
	)
	cmd := &cobra.Command{
		Use:   "clusterer",
		Short: "Group attacker observations into identities (runs inside `decnet up` too)",
		Long: `Cluster attackers rows into identities and keep attacker_identities up to date.
A tick runs at start, shortly after each attacker.observed or attacker.scored
event on the bus (DECNET_BUS_URL), and every --poll-interval in any case.
Without DECNET_BUS_URL the clusterer only polls and publishes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poll < time.Second {
				return fmt.Errorf("invalid --poll-interval %s: use 1s or more", poll)
			}
			if _, err := identity.ParseAlgorithm(os.Getenv(identity.AlgorithmEnv)); err != nil {
				return err
			}
			return runClusterWorker(cmd.Context(), g, &df, identity.WorkerName,
				func(st *sqlstore.Store, b *bus.Bus, log *slog.Logger) workers.Worker {
					return newClustererWorker(st, b, log, poll)
				})
		},
	}
	df.register(cmd, false)
	cmd.Flags().DurationVarP(&poll, "poll-interval", "i", identity.DefaultPollInterval, "longest wait between ticks when no event arrives")
	return cmd
}

// runClusterWorker runs a clusterer outside decnet up: it opens the store
// and, when DECNET_BUS_URL is set, connects to the bus as name, then runs
// the worker that build returns until ctx ends.
func runClusterWorker(ctx context.Context, g *globals, df *dataFlags, name string,
	build func(*sqlstore.Store, *bus.Bus, *slog.Logger) workers.Worker) error {
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
		b, err = bus.Connect(ctx, cfg.BusURL, name, bus.WithLogger(log), bus.WithSource(name))
		if err != nil {
			return fmt.Errorf("connect to DECNET_BUS_URL %s: %w", cfg.BusURL, err)
		}
		defer b.Close()
	}

	runner := &workers.Runner{Logger: log}
	if b != nil {
		runner.Bus = b
	}
	err = runner.Run(ctx, build(st, b, log))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
