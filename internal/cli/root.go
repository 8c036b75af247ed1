// Package cli builds the decnet command tree. Each command group lives in
// its own file and is registered in NewRootCommand.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// globals holds the flags every command shares.
type globals struct {
	logFormat string
	logLevel  string
	stdout    io.Writer
	stderr    io.Writer
}

// logger builds the process logger from the shared flags. Text goes to
// stderr so that --json output on stdout stays machine-readable.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}

	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	default:
		return nil, fmt.Errorf("invalid --log-format %q: use text or json", g.logFormat)
	}
}

// NewRootCommand returns the decnet command with every subcommand attached.
func NewRootCommand() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}

	root := &cobra.Command{
		Use:           "decnet",
		Short:         "Deception network: decoy hosts, canary tokens and attacker clustering",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", envOr("DECNET_LOG_FORMAT", "text"), "log output format: text or json (env DECNET_LOG_FORMAT)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", envOr("DECNET_LOG_LEVEL", "info"), "minimum log level: debug, info, warn or error (env DECNET_LOG_LEVEL)")

	root.AddCommand(
		newVersionCmd(g),
		newUpCmd(g),
		newDeployCmd(g),
		newTeardownCmd(g),
		newStatusCmd(g),
		newAttackersCmd(g),
		newLogsCmd(g),
		newCredentialsCmd(g),
		newIngestCmd(g),
		newBusCmd(g),
		newCanaryCmd(g),
		newAPICmd(g),
		newUsersCmd(g),
		newWebhookCmd(g),
		newImageCmd(g),
		newInitCmd(g),
		newReconcileCmd(g),
		newDeckyCmd(g),
		newSimulateCmd(g),
		newIdentitiesCmd(g),
		newClustererCmd(g),
		newCampaignsCmd(g),
		newCampaignClustererCmd(g),
	)
	return root
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
