package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

func newIdentitiesCmd(g *globals) *cobra.Command {
	var (
		df     dataFlags
		limit  int
		offset int
	)
	cmd := &cobra.Command{
		Use:   "identities",
		Short: "List attacker identities, most recently updated first",
		Long: `List the active attacker identities (those not merged into another), most
recently updated first. An identity groups the source addresses that the
clusterer attributes to one operator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("invalid --limit %d: use a number from 1 to 1000", limit)
			}
			if offset < 0 {
				return fmt.Errorf("invalid --offset %d: use 0 or more", offset)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			list, total, err := st.ListIdentities(cmd.Context(), store.Page{Limit: limit, Offset: offset})
			if err != nil {
				return err
			}
			if df.jsonOut {
				return printJSON(g.stdout, map[string]any{"total": total, "limit": limit, "offset": offset, "data": list})
			}
			return printIdentities(g, list, total)
		},
	}
	df.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 50, "number of identities to list, 1 to 1000")
	cmd.Flags().IntVar(&offset, "offset", 0, "number of identities to skip")
	return cmd
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
