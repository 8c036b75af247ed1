package cli

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/cluster/campaign"
	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/workers"
)

func init() {
	upExtras = append(upExtras, campaignUpWorkers)
}

// campaignUpWorkers adds the two clusterers to `decnet up`: the identity
// clusterer (observations to identities), whose events wake the campaign
// clusterer (identities to campaigns).
func campaignUpWorkers(_ context.Context, env *upEnv) ([]workers.Worker, error) {
	return []workers.Worker{
		newClustererWorker(env.store, env.bus, env.log.With("worker", identity.WorkerName), 0),
		newCampaignWorker(env.store, env.bus, env.log.With("worker", campaign.WorkerName), 0),
	}, nil
}

func newCampaignWorker(st *sqlstore.Store, b *bus.Bus, log *slog.Logger, poll time.Duration) *campaign.Worker {
	w := &campaign.Worker{
		Clusterer:    campaign.New(st, campaign.Options{Logger: log}),
		Logger:       log,
		PollInterval: poll,
	}
	if b != nil {
		w.Bus = b
	}
	return w
}

func newCampaignClustererCmd(g *globals) *cobra.Command {
	var (
		df   dataFlags
		poll time.Duration
	)
	cmd := &cobra.Command{
		Use:   "campaign-clusterer",
		Short: "Group attacker identities into campaigns (runs inside `decnet up` too)",
		Long: `Group attacker identities into campaigns and keep the campaigns table up to
date. The worker ticks when identity events arrive on the bus at DECNET_BUS_URL
(after a short debounce) and every --poll-interval otherwise. Without
DECNET_BUS_URL it only polls.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poll < time.Second {
				return fmt.Errorf("invalid --poll-interval %v: use 1s or more", poll)
			}
			return runClusterWorker(cmd.Context(), g, &df, campaign.WorkerName,
				func(st *sqlstore.Store, b *bus.Bus, log *slog.Logger) workers.Worker {
					return newCampaignWorker(st, b, log, poll)
				})
		},
	}
	df.register(cmd, false)
	cmd.Flags().DurationVarP(&poll, "poll-interval", "i", campaign.DefaultPollInterval, "time between ticks when no identity event arrives")
	return cmd
}

func newCampaignsCmd(g *globals) *cobra.Command {
	return newPagedListCmd(g, pagedList[sqlstore.Campaign]{
		use:   "campaigns",
		short: "List campaigns, most recently updated first",
		long: `List the active campaigns (those not merged into another), most recently
updated first. A campaign groups the identities that the campaign clusterer
finds working together: a handoff on a decky, shared payloads or C2 hosts,
or overlapping sessions with the same typing rhythm.`,
		noun: "campaigns",
		list: func(ctx context.Context, st *sqlstore.Store, p store.Page) ([]sqlstore.Campaign, int, error) {
			return st.ListCampaigns(ctx, p)
		},
		print: printCampaigns,
	})
}

func printCampaigns(g *globals, list []sqlstore.Campaign, total int) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UUID\tIDENTITIES\tOBSERVATIONS\tFIRST_SEEN\tLAST_SEEN\tCONFIDENCE\tC2")
	for _, c := range list {
		conf := "-"
		if c.Confidence != nil {
			conf = fmt.Sprintf("%.2f", *c.Confidence)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", c.UUID, c.IdentityCount, c.ObservationCount,
			c.FirstSeenAt.Format("2006-01-02T15:04:05Z"), c.LastSeenAt.Format("2006-01-02T15:04:05Z"),
			conf, summarizeList(c.C2Endpoints))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "%d of %d campaigns\n", len(list), total)
	return err
}
