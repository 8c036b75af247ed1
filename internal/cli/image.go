package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/decky/driver/docker"
	"github.com/decnet/decnet/internal/services"
)

// dockerFlags are the flags of commands that drive the docker driver. The
// engine is found through DOCKER_HOST, as every Docker client finds it.
type dockerFlags struct {
	iface   string
	gateway string
	network string
	ipvlan  bool
	noShim  bool
	shimIP  string
	fleet   string
	binary  string
	busybox string
}

// register adds the network flags; the subnet comes from DECNET_SUBNET or
// the command's own --subnet.
func (f *dockerFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.iface, "interface", "", "docker driver: host interface the decky network hangs off, such as eth0")
	fl.StringVar(&f.gateway, "gateway", "", "docker driver: gateway of the decky LAN (default: first address of the subnet)")
	fl.StringVar(&f.network, "docker-network", "decnet_lan", "docker driver: name of the engine network the deckies join")
	fl.BoolVar(&f.ipvlan, "ipvlan", false, "docker driver: use an ipvlan L2 network instead of macvlan (for switches that allow one MAC per port)")
	fl.BoolVar(&f.noShim, "no-shim", false, "docker driver: do not add the host-side shim interface (the host then cannot reach its deckies)")
	fl.StringVar(&f.shimIP, "shim-ip", "", "docker driver: address of the host-side shim (default: the interface's first IPv4 address)")
	fl.StringVar(&f.fleet, "fleet", "decnet", "docker driver: fleet name in container labels and names")
	f.registerBuild(cmd)
}

func (f *dockerFlags) registerBuild(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.binary, "decnet-binary", "", "static decnet executable to put in the decky image (default: this executable)")
	fl.StringVar(&f.busybox, "busybox", "/bin/busybox", "static busybox to put in the decky image (Debian package busybox-static)")
}

// newDockerDriver builds the docker driver for cfg. Events read from the
// containers go to sink; progress lines, when progress is set, name the
// decky and the step.
func (f *dockerFlags) newDockerDriver(cfg config.Config, subnet string, sink services.Sink, log *slog.Logger, progress func(decky, step string)) (*docker.Driver, error) {
	mode := docker.ModeMacvlan
	if f.ipvlan {
		mode = docker.ModeIPvlan
	}
	return docker.New(docker.Options{
		Fleet:  f.fleet,
		HostID: cfg.HostID,
		Network: docker.NetworkConfig{
			Name:      f.network,
			Mode:      mode,
			Interface: f.iface,
			Subnet:    subnet,
			Gateway:   f.gateway,
			Shim:      !f.noShim,
			ShimIP:    f.shimIP,
		},
		Build:    docker.BuildConfig{Binary: f.binary, Busybox: f.busybox},
		Sink:     sink,
		Logger:   log,
		Progress: progress,
	})
}

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the decky image of the docker driver",
	}
	cmd.AddCommand(newImageBuildCmd(g))
	return cmd
}

func newImageBuildCmd(g *globals) *cobra.Command {
	var (
		df    dockerFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the decky image from this binary and busybox (no registry needed)",
		Long: `Build the image every docker-driver decky runs: FROM scratch, holding only
this decnet executable (which must be statically linked) and Debian's static
busybox. The tag is derived from their content, so a new decnet binary gets a
new image. Deploys build the image themselves when it is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := config.FromEnv()
			if err != nil {
				return err
			}
			drv, err := df.newDockerDriver(cfg, "", nil, log, nil)
			if err != nil {
				return err
			}
			defer drv.Close()

			img, err := drv.BuildImage(cmd.Context(), force)
			if err != nil {
				return err
			}
			state := "present"
			if img.Built {
				state = "built"
			}
			_, err = fmt.Fprintf(g.stdout, "%s %s\n", img.Ref, state)
			return err
		},
	}
	df.registerBuild(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "build even when an image of the same content exists")
	return cmd
}
