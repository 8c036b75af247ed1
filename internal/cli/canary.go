package cli

import "github.com/spf13/cobra"

func newCanaryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Build canary artifacts and inspect planted tokens",
	}
	cmd.AddCommand(newCanaryGenerateCmd(g), newCanaryInstrumentCmd(g))
	return cmd
}
