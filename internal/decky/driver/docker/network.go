package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// Network modes.
const (
	ModeMacvlan = "macvlan"
	ModeIPvlan  = "ipvlan"
)

// NetworkConfig describes the LAN the deckies join. The network is created
// on the first deploy; Interface and Subnet are required then and ignored
// once a network of this fleet and host exists.
type NetworkConfig struct {
	// Name of the engine network. Default "decnet_lan".
	Name string
	// Mode is ModeMacvlan (default) or ModeIPvlan (ipvlan L2).
	Mode string
	// Interface is the host interface the deckies share, such as eth0.
	Interface string
	// Subnet of the LAN in CIDR form, such as 192.168.1.0/24.
	Subnet string
	// Gateway of the LAN. Empty lets the engine pick the first address.
	Gateway string
	// Shim adds a host-side macvlan or ipvlan interface with a /32 route per
	// decky, because the kernel keeps a parent interface from talking to
	// its own macvlan children: without it the host cannot reach deckies.
	Shim bool
	// ShimName is the shim interface's name. Default "decnet-shim".
	ShimName string
	// ShimIP is the shim's address. Default: the first IPv4 address of
	// Interface.
	ShimIP string
}

func (n NetworkConfig) withDefaults() NetworkConfig {
	if n.Name == "" {
		n.Name = "decnet_lan"
	}
	if n.Mode == "" {
		n.Mode = ModeMacvlan
	}
	if n.ShimName == "" {
		n.ShimName = "decnet-shim"
	}
	return n
}

func (n NetworkConfig) validate() error {
	if n.Mode != ModeMacvlan && n.Mode != ModeIPvlan {
		return fmt.Errorf("network mode %q: use %s or %s", n.Mode, ModeMacvlan, ModeIPvlan)
	}
	if n.Interface == "" {
		return errors.New("no --interface given for the decky network")
	}
	if _, err := netip.ParsePrefix(n.Subnet); err != nil {
		return fmt.Errorf("subnet %q: %w", n.Subnet, err)
	}
	if n.Gateway != "" {
		if _, err := netip.ParseAddr(n.Gateway); err != nil {
			return fmt.Errorf("gateway %q: %w", n.Gateway, err)
		}
	}
	if len(n.ShimName) > 15 {
		return fmt.Errorf("shim name %q is longer than 15 characters", n.ShimName)
	}
	return nil
}

// lanFilter selects the network of this fleet and host.
func (d *Driver) lanFilter() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelFleet+"="+d.opts.Fleet),
		filters.Arg("label", LabelHost+"="+d.opts.HostID),
		filters.Arg("label", LabelRole+"="+RoleLAN),
	)
}

// ensureNetwork returns the id of the decky network, creating it and the
// host shim when they are missing.
func (d *Driver) ensureNetwork(ctx context.Context) (string, error) {
	d.netMu.Lock()
	defer d.netMu.Unlock()

	if d.networkID != "" {
		return d.networkID, nil
	}

	var found []network.Summary
	err := d.retry(ctx, "list networks", func(ctx context.Context) error {
		var err error
		found, err = d.cli.NetworkList(ctx, network.ListOptions{Filters: d.lanFilter()})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("docker driver: %w", err)
	}
	if len(found) > 0 {
		d.networkID = found[0].ID
		if err := d.ensureShimLink(ctx); err != nil {
			return "", err
		}
		return d.networkID, nil
	}

	cfg := d.opts.Network
	if err := cfg.validate(); err != nil {
		return "", fmt.Errorf("docker driver: network: %w", err)
	}
	opts := map[string]string{"parent": cfg.Interface}
	if cfg.Mode == ModeMacvlan {
		opts["macvlan_mode"] = "bridge"
	} else {
		opts["ipvlan_mode"] = "l2"
	}
	labels := d.baseLabels()
	labels[LabelRole] = RoleLAN

	var created network.CreateResponse
	err = d.retry(ctx, "create network "+cfg.Name, func(ctx context.Context) error {
		var err error
		created, err = d.cli.NetworkCreate(ctx, cfg.Name, network.CreateOptions{
			Driver:  cfg.Mode,
			Options: opts,
			IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
				Subnet:  cfg.Subnet,
				Gateway: cfg.Gateway,
			}}},
			Labels: labels,
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("docker driver: %w", err)
	}
	d.networkID = created.ID
	d.log.Info("created decky network", "network", cfg.Name, "mode", cfg.Mode, "parent", cfg.Interface, "subnet", cfg.Subnet)

	if err := d.ensureShimLink(ctx); err != nil {
		return "", err
	}
	return d.networkID, nil
}

// ensureShimLink creates the host-side shim interface when Shim is on.
func (d *Driver) ensureShimLink(ctx context.Context) error {
	cfg := d.opts.Network
	if !cfg.Shim {
		return nil
	}
	if _, err := net.InterfaceByName(cfg.ShimName); err == nil {
		return nil
	}
	if cfg.Interface == "" {
		return errors.New("docker driver: shim: no --interface given")
	}

	shimIP := cfg.ShimIP
	if shimIP == "" {
		ip, err := firstIPv4(cfg.Interface)
		if err != nil {
			return fmt.Errorf("docker driver: shim: %w (set a shim address)", err)
		}
		shimIP = ip
	}

	kind := []string{"type", "macvlan", "mode", "bridge"}
	if cfg.Mode == ModeIPvlan {
		kind = []string{"type", "ipvlan", "mode", "l2"}
	}
	steps := [][]string{
		append([]string{"link", "add", cfg.ShimName, "link", cfg.Interface}, kind...),
		{"addr", "add", shimIP + "/32", "dev", cfg.ShimName},
		{"link", "set", cfg.ShimName, "up"},
	}
	for _, args := range steps {
		if err := runIP(ctx, args...); err != nil {
			_ = runIP(ctx, "link", "del", cfg.ShimName)
			return fmt.Errorf("docker driver: shim: %w", err)
		}
	}
	d.log.Info("created host shim", "interface", cfg.ShimName, "address", shimIP)
	return nil
}

// routeDecky sends traffic for one decky address through the shim.
func (d *Driver) routeDecky(ctx context.Context, ip string) error {
	if !d.opts.Network.Shim || ip == "" {
		return nil
	}
	if err := runIP(ctx, "route", "replace", ip+"/32", "dev", d.opts.Network.ShimName); err != nil {
		return fmt.Errorf("docker driver: shim route %s: %w", ip, err)
	}
	return nil
}

func (d *Driver) unrouteDecky(ctx context.Context, ip string) {
	if !d.opts.Network.Shim || ip == "" {
		return
	}
	if err := runIP(ctx, "route", "del", ip+"/32", "dev", d.opts.Network.ShimName); err != nil {
		d.log.Debug("shim route already gone", "ip", ip, "err", err)
	}
}

// removeNetwork removes the shim and the decky network. Containers must be
// gone already.
func (d *Driver) removeNetwork(ctx context.Context) error {
	d.netMu.Lock()
	defer d.netMu.Unlock()

	if d.opts.Network.Shim {
		if _, err := net.InterfaceByName(d.opts.Network.ShimName); err == nil {
			if err := runIP(ctx, "link", "del", d.opts.Network.ShimName); err != nil {
				return fmt.Errorf("docker driver: remove shim: %w", err)
			}
		}
	}

	var found []network.Summary
	err := d.retry(ctx, "list networks", func(ctx context.Context) error {
		var err error
		found, err = d.cli.NetworkList(ctx, network.ListOptions{Filters: d.lanFilter()})
		return err
	})
	if err != nil {
		return fmt.Errorf("docker driver: %w", err)
	}
	for _, n := range found {
		err := d.retry(ctx, "remove network "+n.Name, func(ctx context.Context) error {
			return d.cli.NetworkRemove(ctx, n.ID)
		})
		if err != nil {
			return fmt.Errorf("docker driver: %w", err)
		}
	}
	d.networkID = ""
	return nil
}

func runIP(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func firstIPv4(iface string) (string, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return "", fmt.Errorf("interface %s: %w", iface, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "", fmt.Errorf("interface %s: %w", iface, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("interface %s has no IPv4 address", iface)
}
