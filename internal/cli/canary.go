package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/canary"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

func newCanaryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Build canary artifacts, run the callback receivers and inspect planted tokens",
	}
	cmd.AddCommand(newCanaryGenerateCmd(g), newCanaryInstrumentCmd(g), newCanaryWorkerCmd(g),
		newCanaryListCmd(g), newCanaryTriggersCmd(g))
	return cmd
}

// canaryTokenView is one token as `decnet canary list --json` prints it.
type canaryTokenView struct {
	UUID            string     `json:"uuid"`
	Kind            string     `json:"kind"`
	DeckyName       string     `json:"decky_name"`
	Generator       string     `json:"generator,omitempty"`
	BlobUUID        string     `json:"blob_uuid,omitempty"`
	Instrumenter    string     `json:"instrumenter,omitempty"`
	PlacementPath   string     `json:"placement_path"`
	CallbackToken   string     `json:"callback_token"`
	State           string     `json:"state"`
	LastError       string     `json:"last_error,omitempty"`
	TriggerCount    int64      `json:"trigger_count"`
	HitCount        int64      `json:"hit_count"`
	LastTriggeredAt *time.Time `json:"last_triggered_at,omitempty"`
	PlacedAt        *time.Time `json:"placed_at,omitempty"`
	CreatedBy       string     `json:"created_by"`
	Baseline        bool       `json:"baseline"`
}

func tokenView(t sqlstore.CanaryToken) canaryTokenView {
	return canaryTokenView{UUID: t.UUID, Kind: t.Kind, DeckyName: t.DeckyName, Generator: t.Generator, BlobUUID: t.BlobUUID,
		Instrumenter: t.Instrumenter, PlacementPath: t.PlacementPath, CallbackToken: t.CallbackToken, State: t.State,
		LastError: t.LastError, TriggerCount: t.TriggerCount, HitCount: t.HitCount, LastTriggeredAt: t.LastTriggeredAt,
		PlacedAt: t.PlacedAt, CreatedBy: t.CreatedBy, Baseline: t.Baseline}
}

func newCanaryListCmd(g *globals) *cobra.Command {
	var (
		df     dataFlags
		filter sqlstore.CanaryTokenFilter
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List canary tokens, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, st, err := df.openRead(ctx, g)
			if err != nil {
				return err
			}
			defer st.Close()

			toks, err := st.ListCanaryTokens(ctx, filter)
			if err != nil {
				return err
			}
			views := make([]canaryTokenView, 0, len(toks))
			for _, t := range toks {
				views = append(views, tokenView(t))
			}
			if df.jsonOut {
				return printJSON(g.stdout, views)
			}

			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UUID\tDECKY\tARTIFACT\tKIND\tSTATE\tTRIGGERS\tLAST TRIGGERED\tPATH")
			for _, v := range views {
				art := v.Generator
				if art == "" {
					art = v.Instrumenter + " (blob)"
				}
				last := "-"
				if v.LastTriggeredAt != nil {
					last = v.LastTriggeredAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.UUID, v.DeckyName, art, v.Kind, v.State, v.TriggerCount, last, v.PlacementPath)
			}
			return tw.Flush()
		},
	}
	df.register(cmd, true)
	cmd.Flags().StringVar(&filter.DeckyName, "decky", "", "only tokens planted in this decky")
	cmd.Flags().StringVar(&filter.State, "state", "", "only tokens in this state: planted, failed or revoked")
	cmd.Flags().StringVar(&filter.Kind, "kind", "", "only tokens of this kind: http, dns or aws_passive")
	cmd.Flags().StringVar(&filter.Generator, "generator", "", "only tokens built by this generator")
	return cmd
}

// canaryTriggerView is one trigger as `decnet canary triggers --json`
// prints it.
type canaryTriggerView struct {
	UUID         string              `json:"uuid"`
	TokenUUID    string              `json:"token_uuid"`
	OccurredAt   time.Time           `json:"occurred_at"`
	LastHitAt    time.Time           `json:"last_hit_at"`
	Protocol     string              `json:"protocol"`
	SrcIP        string              `json:"src_ip"`
	PeerAddr     string              `json:"peer_addr"`
	ForwardedFor []string            `json:"forwarded_for"`
	Method       string              `json:"method,omitempty"`
	UserAgent    string              `json:"user_agent,omitempty"`
	RequestPath  string              `json:"request_path,omitempty"`
	RequestQuery string              `json:"request_query,omitempty"`
	Headers      map[string][]string `json:"headers,omitempty"`
	DNSQName     string              `json:"dns_qname,omitempty"`
	DNSQType     uint16              `json:"dns_qtype,omitempty"`
	DNSQClass    uint16              `json:"dns_qclass,omitempty"`
	DNSTransport string              `json:"dns_transport,omitempty"`
	HitCount     int64               `json:"hit_count"`
	Echo         bool                `json:"echo"`
	EchoOf       string              `json:"echo_of,omitempty"`
	AttackerID   string              `json:"attacker_id,omitempty"`
}

func triggerView(t sqlstore.CanaryTrigger) canaryTriggerView {
	return canaryTriggerView{UUID: t.UUID, TokenUUID: t.TokenUUID, OccurredAt: t.OccurredAt, LastHitAt: t.LastHitAt,
		Protocol: t.Protocol, SrcIP: t.SrcIP, PeerAddr: t.PeerAddr, ForwardedFor: t.ForwardedFor, Method: t.Method,
		UserAgent: t.UserAgent, RequestPath: t.RequestPath, RequestQuery: t.RequestQuery, Headers: t.Headers,
		DNSQName: t.DNSQName, DNSQType: t.DNSQType, DNSQClass: t.DNSQClass, DNSTransport: t.DNSTransport,
		HitCount: t.HitCount, Echo: t.Echo, EchoOf: t.EchoOf, AttackerID: t.AttackerID}
}

func newCanaryTriggersCmd(g *globals) *cobra.Command {
	var (
		df    dataFlags
		limit int
		skip  int
	)
	cmd := &cobra.Command{
		Use:   "triggers TOKEN",
		Short: "List the callbacks of one canary token, newest first",
		Long:  "List the callbacks of one canary token, newest first. TOKEN is the token's uuid or its slug.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, st, err := df.openRead(ctx, g)
			if err != nil {
				return err
			}
			defer st.Close()

			tok, err := findCanaryToken(cmd, st, args[0])
			if err != nil {
				return err
			}
			list, total, err := st.ListCanaryTriggers(ctx, tok.UUID, store.Page{Limit: limit, Offset: skip})
			if err != nil {
				return err
			}
			views := make([]canaryTriggerView, 0, len(list))
			for _, t := range list {
				views = append(views, triggerView(t))
			}
			if df.jsonOut {
				return printJSON(g.stdout, map[string]any{"token": tokenView(tok), "triggers": views, "total": total})
			}

			fmt.Fprintf(g.stdout, "token %s in %s at %s: %d triggers, %d hits\n", tok.UUID, tok.DeckyName, tok.PlacementPath, tok.TriggerCount, tok.HitCount)
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tPROTO\tSOURCE\tHITS\tECHO\tATTACKER\tDETAIL")
			for _, v := range views {
				detail := v.Method + " " + v.RequestPath + " " + v.UserAgent
				if v.Protocol == sqlstore.CanaryProtoDNS {
					detail = fmt.Sprintf("%s type %d via %s", v.DNSQName, v.DNSQType, v.DNSTransport)
				}
				att := v.AttackerID
				if att == "" {
					att = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\t%s\n", v.OccurredAt.UTC().Format(time.RFC3339), v.Protocol, v.SrcIP,
					v.HitCount, v.Echo, att, strings.TrimSpace(detail))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if total > len(views)+skip {
				fmt.Fprintf(g.stdout, "(%d of %d shown; use --offset for more)\n", len(views), total)
			}
			return nil
		},
	}
	df.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 50, "maximum number of triggers to print (at most 1000)")
	cmd.Flags().IntVar(&skip, "offset", 0, "number of newest triggers to skip")
	return cmd
}

// findCanaryToken looks a token up by uuid, then by slug.
func findCanaryToken(cmd *cobra.Command, st *sqlstore.Store, ref string) (sqlstore.CanaryToken, error) {
	ctx := cmd.Context()
	tok, err := st.GetCanaryToken(ctx, ref)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return tok, err
	}
	if canary.ValidSlug(ref) {
		list, err := st.ListCanaryTokens(ctx, sqlstore.CanaryTokenFilter{})
		if err != nil {
			return tok, err
		}
		for _, t := range list {
			if strings.EqualFold(t.CallbackToken, ref) {
				return t, nil
			}
		}
	}
	return tok, fmt.Errorf("no canary token has uuid or slug %q: see `decnet canary list`", ref)
}
