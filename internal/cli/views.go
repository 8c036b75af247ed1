package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/store"
)

// attackerView is one attacker as `decnet attackers --json` prints it.
type attackerView struct {
	UUID         string            `json:"uuid"`
	IP           string            `json:"ip"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	EventCount   int64             `json:"event_count"`
	Deckies      []string          `json:"deckies"`
	Services     []string          `json:"services"`
	Commands     []string          `json:"commands"`
	Credentials  []credentialPair  `json:"credentials"`
	C2Endpoints  []string          `json:"c2_endpoints"`
	PayloadHash  []string          `json:"payload_hashes"`
	Fingerprints map[string]string `json:"fingerprints"`
	IdentityID   string            `json:"identity_id,omitempty"`
}

// credentialPair is one login tried; Password is the printable form, with
// bytes outside printable ASCII shown as '?'.
type credentialPair struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	SecretKind string `json:"secret_kind"`
	Decky      string `json:"decky"`
	Service    string `json:"service"`
	Attempts   int64  `json:"attempts"`
	Outcome    string `json:"outcome"`
}

func newAttackersCmd(g *globals) *cobra.Command {
	var (
		df    dataFlags
		limit int
	)
	cmd := &cobra.Command{
		Use:   "attackers",
		Short: "List the source addresses that touched the deckies, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkLimit(limit); err != nil {
				return err
			}
			_, st, err := df.openRead(ctx, g)
			if err != nil {
				return err
			}
			defer st.Close()

			attackers, err := collectPages(limit, func(p store.Page) ([]store.Attacker, int, error) {
				return st.ListAttackers(ctx, store.AttackerFilter{}, p)
			})
			if err != nil {
				return err
			}
			views := []attackerView{}
			for _, a := range attackers {
				creds, _, err := st.ListCredentials(ctx, store.CredentialFilter{AttackerIP: a.IP}, store.Page{Limit: 1000})
				if err != nil {
					return err
				}
				views = append(views, viewAttacker(a, creds))
			}
			if df.jsonOut {
				return printJSON(g.stdout, views)
			}

			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IP\tLAST SEEN\tEVENTS\tDECKIES\tSERVICES\tCREDENTIALS\tCOMMANDS\tHASSH")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", v.IP, v.LastSeen.Format(time.RFC3339), v.EventCount,
					strings.Join(v.Deckies, ","), strings.Join(v.Services, ","), len(v.Credentials), len(v.Commands), v.Fingerprints[store.FPHASSH])
			}
			return tw.Flush()
		},
	}
	df.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 1000, "maximum number of attackers to print (1 to 100000)")
	return cmd
}

func viewAttacker(a store.Attacker, creds []store.Credential) attackerView {
	v := attackerView{
		UUID: a.UUID, IP: a.IP, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, EventCount: a.EventCount,
		Deckies: a.Deckies, Services: a.Services, Commands: a.Commands, C2Endpoints: a.C2Endpoints,
		PayloadHash: a.PayloadHashes, Fingerprints: a.Fingerprints, Credentials: []credentialPair{},
	}
	if a.IdentityID != nil {
		v.IdentityID = *a.IdentityID
	}
	sort.Slice(creds, func(i, j int) bool { return creds[i].FirstSeen.Before(creds[j].FirstSeen) })
	for _, c := range creds {
		v.Credentials = append(v.Credentials, credentialPair{Username: c.Principal, Password: c.SecretPrintable,
			SecretKind: c.SecretKind, Decky: c.Decky, Service: c.Service, Attempts: c.AttemptCount, Outcome: c.Outcome})
	}
	return v
}

func newCredentialsCmd(g *globals) *cobra.Command {
	var (
		df    dataFlags
		limit int
	)
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "List captured credentials, most recently tried first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkLimit(limit); err != nil {
				return err
			}
			_, st, err := df.openRead(ctx, g)
			if err != nil {
				return err
			}
			defer st.Close()

			creds, err := collectPages(limit, func(p store.Page) ([]store.Credential, int, error) {
				return st.ListCredentials(ctx, store.CredentialFilter{}, p)
			})
			if err != nil {
				return err
			}
			if df.jsonOut {
				return printJSON(g.stdout, creds)
			}
			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tDECKY\tSERVICE\tKIND\tPRINCIPAL\tSECRET\tATTEMPTS\tOUTCOME\tLAST SEEN")
			for _, c := range creds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.AttackerIP, c.Decky, c.Service, c.SecretKind,
					c.Principal, c.SecretPrintable, c.AttemptCount, c.Outcome, c.LastSeen.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	df.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 1000, "maximum number of credentials to print (1 to 100000)")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var (
		df     dataFlags
		filter store.LogFilter
		limit  int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print stored service events, newest last; --follow waits for more",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkLimit(limit); err != nil {
				return err
			}
			_, st, err := df.openRead(ctx, g)
			if err != nil {
				return err
			}
			defer st.Close()

			entries, err := collectPages(limit, func(p store.Page) ([]store.LogEntry, int, error) {
				return st.ListLogs(ctx, filter, p)
			})
			if err != nil {
				return err
			}
			var last int64
			for i := len(entries) - 1; i >= 0; i-- {
				if err := printLog(g, entries[i], df.jsonOut); err != nil {
					return err
				}
				last = max(last, entries[i].ID)
			}
			if !follow {
				return nil
			}

			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
				f := filter
				f.AfterID = last
				more, _, err := st.ListLogs(ctx, f, store.Page{Limit: 1000})
				if err != nil {
					return err
				}
				for _, e := range more {
					if err := printLog(g, e, df.jsonOut); err != nil {
						return err
					}
					last = e.ID
				}
			}
		},
	}
	df.register(cmd, true)
	cmd.Flags().StringVar(&filter.Decky, "decky", "", "only events of this decky")
	cmd.Flags().StringVar(&filter.Service, "service", "", "only events of this service")
	cmd.Flags().StringVar(&filter.Kind, "kind", "", "only events of this kind, such as command or auth_attempt")
	cmd.Flags().StringVar(&filter.SrcIP, "src", "", "only events from this source address")
	cmd.Flags().IntVar(&limit, "limit", 100, "number of past events to print first (1 to 100000)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	return cmd
}

func printLog(g *globals, e store.LogEntry, jsonOut bool) error {
	if jsonOut {
		return printJSONLine(g, e)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, e.Fields[k]))
	}
	_, err := fmt.Fprintf(g.stdout, "%s %s/%s %s %s:%d %s\n", e.Time.Format(time.RFC3339Nano), e.Decky, e.Service,
		e.Kind, e.SrcIP, e.SrcPort, strings.Join(parts, " "))
	return err
}

// collectPages reads pages of at most 1000 rows until limit rows are read
// or the listing ends.
func collectPages[T any](limit int, list func(store.Page) ([]T, int, error)) ([]T, error) {
	var out []T
	for len(out) < limit {
		page := store.Page{Limit: min(1000, limit-len(out)), Offset: len(out)}
		items, total, err := list(page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) < page.Limit || len(out) >= total {
			break
		}
	}
	return out, nil
}
