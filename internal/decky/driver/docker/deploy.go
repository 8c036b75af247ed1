package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/decnet/decnet/internal/decky"
)

// Deploy implements driver.Driver. It builds the image and creates the
// network when they are missing, then brings the decky's containers to the
// wanted shape: unchanged containers stay, changed ones are replaced, and
// containers of services the decky no longer runs are removed.
func (d *Driver) Deploy(ctx context.Context, dk decky.Decky) error {
	if err := validName(dk.Name); err != nil {
		return fmt.Errorf("docker driver: deploy: decky: %w", err)
	}
	addr, err := netip.ParseAddr(dk.IP)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("docker driver: deploy %s: address %q is not IPv4", dk.Name, dk.IP)
	}
	for _, s := range dk.Services {
		if err := validName(s.Name); err != nil {
			return fmt.Errorf("docker driver: deploy %s: service: %w", dk.Name, err)
		}
	}

	d.progress(dk.Name, "image")
	img, err := d.ImageRef(ctx)
	if err != nil {
		return err
	}

	d.progress(dk.Name, "network")
	netID, err := d.ensureNetwork(ctx)
	if err != nil {
		return err
	}

	d.progress(dk.Name, "volume")
	vol, fresh, err := d.ensureVolume(ctx, dk.Name)
	if err != nil {
		return err
	}

	existing, err := d.deckyContainers(ctx, dk.Name)
	if err != nil {
		return fmt.Errorf("docker driver: deploy %s: %w", dk.Name, err)
	}

	d.progress(dk.Name, "base")
	baseID, err := d.deployBase(ctx, dk, img, netID, vol, existing)
	if err != nil {
		return err
	}

	if fresh {
		d.progress(dk.Name, "filesystem")
		if err := d.seed(ctx, dk, baseID); err != nil {
			return err
		}
	}

	for _, s := range dk.Services {
		d.progress(dk.Name, "service "+s.Name)
	}
	if err := d.deployServices(ctx, dk, img, baseID, vol, existing); err != nil {
		return err
	}

	if err := d.routeDecky(ctx, dk.IP); err != nil {
		return err
	}
	d.progress(dk.Name, "running")
	return nil
}

func (d *Driver) deckyFilter(name string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelFleet+"="+d.opts.Fleet),
		filters.Arg("label", LabelHost+"="+d.opts.HostID),
		filters.Arg("label", LabelDecky+"="+name),
	)
}

// deckyContainers lists every container of one decky, stopped ones too.
func (d *Driver) deckyContainers(ctx context.Context, name string) ([]container.Summary, error) {
	var out []container.Summary
	err := d.retry(ctx, "list containers of "+name, func(ctx context.Context) error {
		var err error
		out, err = d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: d.deckyFilter(name)})
		return err
	})
	return out, err
}

func (d *Driver) volumeName(deckyName string) string {
	return d.opts.Fleet + "-" + d.opts.HostID + "-" + deckyName + "-root"
}

// ensureVolume returns the name of the decky's filesystem volume and
// whether this call created it.
func (d *Driver) ensureVolume(ctx context.Context, name string) (string, bool, error) {
	f := d.deckyFilter(name)
	f.Add("label", LabelRole+"="+RoleRoot)

	var found volume.ListResponse
	err := d.retry(ctx, "list volumes of "+name, func(ctx context.Context) error {
		var err error
		found, err = d.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("docker driver: deploy %s: %w", name, err)
	}
	if len(found.Volumes) > 0 {
		return found.Volumes[0].Name, false, nil
	}

	labels := d.baseLabels()
	labels[LabelDecky] = name
	labels[LabelRole] = RoleRoot
	var v volume.Volume
	err = d.retry(ctx, "create volume of "+name, func(ctx context.Context) error {
		var err error
		v, err = d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: d.volumeName(name), Labels: labels})
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("docker driver: deploy %s: %w", name, err)
	}
	return v.Name, true, nil
}

func hashOf(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func logConfig() container.LogConfig {
	return container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "5"}}
}

// deployBase keeps a base container whose configuration is unchanged, or
// replaces the whole decky when the base must change: service containers
// live in the base's network namespace and cannot outlive it.
func (d *Driver) deployBase(ctx context.Context, dk decky.Decky, img, netID, vol string, existing []container.Summary) (string, error) {
	sysctls := Sysctls(dk.Persona)
	want := hashOf(img, netID, vol, dk.IP, dk.Hostname, sysctls)

	for _, c := range existing {
		if c.Labels[LabelRole] != RoleBase {
			continue
		}
		if c.Labels[LabelConfigHash] == want {
			if c.State != container.StateRunning {
				if err := d.start(ctx, c.ID); err != nil {
					return "", fmt.Errorf("docker driver: deploy %s: %w", dk.Name, err)
				}
			}
			return c.ID, nil
		}
	}

	// The base changed or is missing: every container of the decky goes.
	for _, c := range existing {
		if err := d.remove(ctx, c.ID); err != nil {
			return "", fmt.Errorf("docker driver: deploy %s: %w", dk.Name, err)
		}
	}

	labels := d.baseLabels()
	labels[LabelDecky] = dk.Name
	labels[LabelRole] = RoleBase
	labels[LabelIP] = dk.IP
	labels[LabelServices] = serviceList(dk)
	labels[LabelConfigHash] = want

	netName := d.opts.Network.Name
	cfg := &container.Config{
		Image:    img,
		Hostname: hostname(dk),
		Labels:   labels,
		Cmd:      []string{"--base", "--name", dk.Name},
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(netName),
		Sysctls:       sysctls,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		LogConfig:     logConfig(),
		// The base only holds the namespace. DAC_OVERRIDE and FOWNER let
		// RemoveFile delete files of any owner in the decky volume.
		CapDrop:        []string{"ALL"},
		CapAdd:         []string{"CAP_DAC_OVERRIDE", "CAP_FOWNER"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Mounts:         []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: DeckyRoot}},
	}
	nets := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		netName: {NetworkID: netID, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: dk.IP}},
	}}

	id, err := d.create(ctx, cfg, host, nets, d.containerName(dk.Name, ""))
	if err != nil {
		return "", fmt.Errorf("docker driver: deploy %s: base: %w", dk.Name, err)
	}
	if err := d.start(ctx, id); err != nil {
		return "", fmt.Errorf("docker driver: deploy %s: base: %w", dk.Name, err)
	}
	return id, nil
}

func (d *Driver) deployServices(ctx context.Context, dk decky.Decky, img, baseID, vol string, existing []container.Summary) error {
	deckyJSON, err := json.Marshal(dk)
	if err != nil {
		return fmt.Errorf("docker driver: deploy %s: %w", dk.Name, err)
	}

	want := map[string]string{} // service to config hash
	for _, s := range dk.Services {
		want[s.Name] = hashOf(img, baseID, vol, s, string(deckyJSON))
	}

	have := map[string]container.Summary{}
	for _, c := range existing {
		if c.Labels[LabelRole] != RoleService {
			continue
		}
		svc := c.Labels[LabelService]
		h, ok := want[svc]
		_, dup := have[svc]
		if !ok || dup || c.Labels[LabelConfigHash] != h {
			d.unfollow(c.ID)
			if err := d.remove(ctx, c.ID); err != nil {
				return fmt.Errorf("docker driver: deploy %s: %w", dk.Name, err)
			}
			continue
		}
		have[svc] = c
	}

	for _, s := range dk.Services {
		if c, ok := have[s.Name]; ok {
			if c.State != container.StateRunning {
				if err := d.start(ctx, c.ID); err != nil {
					return fmt.Errorf("docker driver: deploy %s: service %s: %w", dk.Name, s.Name, err)
				}
			}
			d.follow(c.ID, dk.Name, s.Name, false)
			continue
		}

		labels := d.baseLabels()
		labels[LabelDecky] = dk.Name
		labels[LabelRole] = RoleService
		labels[LabelService] = s.Name
		labels[LabelConfigHash] = want[s.Name]

		cfg := &container.Config{
			Image:  img,
			Labels: labels,
			Cmd:    []string{"--name", dk.Name, "--services", s.Name, "--root", DeckyRoot},
			Env:    []string{"DECNET_DECKY=" + string(deckyJSON)},
		}
		host := &container.HostConfig{
			NetworkMode:    container.NetworkMode("container:" + baseID),
			RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
			LogConfig:      logConfig(),
			CapDrop:        []string{"ALL"},
			CapAdd:         []string{"CAP_NET_BIND_SERVICE"},
			SecurityOpt:    []string{"no-new-privileges"},
			ReadonlyRootfs: true,
			Tmpfs:          map[string]string{"/tmp": "rw,noexec,nosuid,size=16m"},
			Mounts:         []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: DeckyRoot, ReadOnly: true}},
		}
		id, err := d.create(ctx, cfg, host, nil, d.containerName(dk.Name, s.Name))
		if err != nil {
			return fmt.Errorf("docker driver: deploy %s: service %s: %w", dk.Name, s.Name, err)
		}
		if err := d.start(ctx, id); err != nil {
			return fmt.Errorf("docker driver: deploy %s: service %s: %w", dk.Name, s.Name, err)
		}
		d.follow(id, dk.Name, s.Name, true)
	}
	return nil
}

func (d *Driver) create(ctx context.Context, cfg *container.Config, host *container.HostConfig, nets *network.NetworkingConfig, name string) (string, error) {
	var id string
	err := d.retry(ctx, "create container "+name, func(ctx context.Context) error {
		resp, err := d.cli.ContainerCreate(ctx, cfg, host, nets, nil, name)
		if err != nil && cerrdefs.IsConflict(err) {
			// A stale container of the same name and none of our labels
			// would block the name forever; report it plainly.
			return fmt.Errorf("container name %s is taken by a container decnet does not own: %w", name, err)
		}
		id = resp.ID
		return err
	})
	return id, err
}

func (d *Driver) start(ctx context.Context, id string) error {
	return d.retry(ctx, "start container "+shortID(id), func(ctx context.Context) error {
		return d.cli.ContainerStart(ctx, id, container.StartOptions{})
	})
}

func (d *Driver) remove(ctx context.Context, id string) error {
	timeout := int(d.opts.StopTimeout.Seconds())
	err := d.retry(ctx, "stop container "+shortID(id), func(ctx context.Context) error {
		return d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout})
	})
	if err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("stop container failed, removing by force", "container", shortID(id), "err", err)
	}
	err = d.retry(ctx, "remove container "+shortID(id), func(ctx context.Context) error {
		return d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// Teardown implements driver.Driver. It removes the decky's containers and
// its filesystem volume. Tearing down a decky that does not exist is not an
// error.
func (d *Driver) Teardown(ctx context.Context, name string) error {
	existing, err := d.deckyContainers(ctx, name)
	if err != nil {
		return fmt.Errorf("docker driver: teardown %s: %w", name, err)
	}

	// Services first: they live in the base's network namespace.
	sort.SliceStable(existing, func(i, j int) bool {
		return existing[i].Labels[LabelRole] == RoleService && existing[j].Labels[LabelRole] != RoleService
	})
	ip := ""
	for _, c := range existing {
		if c.Labels[LabelRole] == RoleBase {
			ip = c.Labels[LabelIP]
		}
		d.unfollow(c.ID)
		if err := d.remove(ctx, c.ID); err != nil {
			return fmt.Errorf("docker driver: teardown %s: %w", name, err)
		}
	}
	d.unrouteDecky(ctx, ip)

	f := d.deckyFilter(name)
	f.Add("label", LabelRole+"="+RoleRoot)
	var vols volume.ListResponse
	err = d.retry(ctx, "list volumes of "+name, func(ctx context.Context) error {
		var err error
		vols, err = d.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		return err
	})
	if err != nil {
		return fmt.Errorf("docker driver: teardown %s: %w", name, err)
	}
	for _, v := range vols.Volumes {
		err := d.retry(ctx, "remove volume "+v.Name, func(ctx context.Context) error {
			return d.cli.VolumeRemove(ctx, v.Name, true)
		})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker driver: teardown %s: %w", name, err)
		}
	}
	return nil
}

// TeardownAll removes every decky of this fleet and host, then the decky
// network and the host shim. The image stays.
func (d *Driver) TeardownAll(ctx context.Context) error {
	statuses, err := d.Inspect(ctx)
	if err != nil {
		return err
	}
	for _, s := range statuses {
		if err := d.Teardown(ctx, s.Name); err != nil {
			return err
		}
	}
	return d.removeNetwork(ctx)
}

func serviceList(dk decky.Decky) string {
	names := make([]string, 0, len(dk.Services))
	for _, s := range dk.Services {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func hostname(dk decky.Decky) string {
	if dk.Hostname != "" {
		return dk.Hostname
	}
	return dk.Name
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
