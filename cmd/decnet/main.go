// Command decnet runs a deception network: decoy hosts, canary tokens and
// the pipeline that turns attacker activity into identities and campaigns.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/decnet/decnet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "decnet:", err)
		os.Exit(1)
	}
}
