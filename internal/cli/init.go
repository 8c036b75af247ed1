package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/systemd"
)

type initArgs struct {
	opts    systemd.Options
	unitDir string
	hostID  string
	dryRun  bool
	force   bool
}

func newInitCmd(g *globals) *cobra.Command {
	var a initArgs
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write systemd units for every worker, decnet.target and the environment file",
		Long: `Write one systemd unit per decnet worker (decnet-<worker>.service), a
decnet.target that starts them all, and the environment file they read. The
units run the static decnet binary under a dedicated user with a strict
sandbox. Existing units are replaced only with --force; an existing
environment file is always kept, since it holds the operator's settings.

init writes files only. Afterwards create the user and start the target:

  useradd --system --home /var/lib/decnet --shell /usr/sbin/nologin decnet
  systemctl daemon-reload && systemctl enable --now decnet.target`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(g, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.opts.User, "user", "decnet", "user every worker runs as")
	f.StringVar(&a.opts.Group, "group", "", "group every worker runs as (default: the user's name)")
	f.StringVar(&a.opts.Prefix, "prefix", "/usr/local", "installation prefix; the units run PREFIX/bin/decnet")
	f.StringVar(&a.opts.EnvFile, "env-file", "/etc/decnet/decnet.env", "environment file the units read")
	f.StringVar(&a.unitDir, "unit-dir", "/etc/systemd/system", "directory the units are written to")
	f.StringVar(&a.hostID, "host-id", "", "DECNET_HOST_ID written to a new environment file (default: env DECNET_HOST_ID or local)")
	f.BoolVar(&a.dryRun, "dry-run", false, "print the files instead of writing them")
	f.BoolVar(&a.force, "force", false, "replace existing unit files")
	return cmd
}

func runInit(g *globals, a initArgs) error {
	units, err := systemd.Units(a.opts)
	if err != nil {
		return err
	}
	hostID := a.hostID
	if hostID == "" {
		if cfg, err := config.FromEnv(); err == nil {
			hostID = cfg.HostID
		}
	}
	env := systemd.EnvFile(hostID)

	if a.dryRun {
		for _, u := range units {
			if _, err := fmt.Fprintf(g.stdout, "# %s\n%s\n", filepath.Join(a.unitDir, u.Name), u.Content); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(g.stdout, "# %s\n%s", a.opts.EnvFile, env)
		return err
	}

	if err := systemd.Write(a.unitDir, units, a.force); err != nil {
		return err
	}
	for _, u := range units {
		fmt.Fprintf(g.stdout, "wrote %s\n", filepath.Join(a.unitDir, u.Name))
	}

	envFile := a.opts.EnvFile
	if envFile == "" {
		envFile = "/etc/decnet/decnet.env"
	}
	if err := os.MkdirAll(filepath.Dir(envFile), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	err = systemd.WriteFile(envFile, []byte(env), 0o640, false)
	switch {
	case errors.Is(err, systemd.ErrExists):
		fmt.Fprintf(g.stdout, "kept %s\n", envFile)
	case err != nil:
		return err
	default:
		fmt.Fprintf(g.stdout, "wrote %s\n", envFile)
	}
	_, err = fmt.Fprintln(g.stdout, "next: systemctl daemon-reload && systemctl enable --now decnet.target")
	return err
}
