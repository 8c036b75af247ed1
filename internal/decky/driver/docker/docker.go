// Package docker runs deckies as containers through the Docker Engine API.
//
// Each decky is one base container that owns the decky's address on a
// macvlan or ipvlan-L2 network and carries the persona's TCP/IP sysctls,
// plus one container per service that joins the base's network namespace,
// so every service answers from the same address and the same stack. All
// containers run one locally built image (FROM scratch: the decnet binary
// and a static busybox), so no registry is ever contacted.
//
// Containers, networks and volumes are found by their labels (fleet, host,
// decky, service, role), never by their names. A per-decky volume holds the
// decky's filesystem: the base container mounts it writable so files go in
// through the archive API, and the service containers mount it read-only as
// the root their emulated shells show.
//
// Service events come back as JSON lines on each service container's
// stdout; the driver follows the log stream and hands them to a
// services.Sink.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/services"
)

// Labels the driver puts on everything it creates.
const (
	LabelFleet      = "decnet.fleet"
	LabelHost       = "decnet.host"
	LabelDecky      = "decnet.decky"
	LabelService    = "decnet.service"
	LabelRole       = "decnet.role"
	LabelServices   = "decnet.services"
	LabelIP         = "decnet.ip"
	LabelConfigHash = "decnet.config-hash"
	LabelImageHash  = "decnet.image-hash"
)

// Label values of LabelRole.
const (
	RoleBase    = "base"
	RoleService = "service"
	RoleLAN     = "lan"
	RoleRoot    = "root"
)

// DeckyRoot is where the decky's filesystem volume is mounted inside every
// container of the decky.
const DeckyRoot = "/srv/decky"

// Options configure a Driver. Zero values pick the documented defaults.
type Options struct {
	// Host is the engine address in DOCKER_HOST form. Empty reads the
	// DOCKER_HOST environment variable, then the engine's default socket.
	Host string
	// Fleet names this fleet in labels and container names. Default "decnet".
	Fleet string
	// HostID scopes the containers to one decnet host. Default "local".
	HostID string
	// Network is the LAN the deckies live on.
	Network NetworkConfig
	// Image is an image reference to run instead of the locally built one.
	Image string
	// Build selects the files the decky image is built from.
	Build BuildConfig
	// Sink receives the service events read from container logs. Nil drops
	// them.
	Sink services.Sink
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Progress, when set, is told each step of each decky's deploy.
	Progress func(decky, step string)
	// Retry governs how transient engine errors are retried.
	Retry RetryPolicy
	// StopTimeout is how long a container gets to stop before it is killed.
	// Default 5s.
	StopTimeout time.Duration
}

// Driver is the docker implementation of driver.Driver. It is safe for
// concurrent use. Close stops the log followers it started.
type Driver struct {
	cli  *client.Client
	opts Options
	log  *slog.Logger

	// imageMu serialises image checks and builds.
	imageMu sync.Mutex
	image   string // resolved image reference, set once built or found

	// netMu serialises network and shim setup.
	netMu     sync.Mutex
	networkID string

	// followMu protects the following.
	followMu  sync.Mutex
	followers map[string]context.CancelFunc // container id to its follower
	closed    bool
	wg        sync.WaitGroup
	rootCtx   context.Context
	rootStop  context.CancelFunc
}

var _ driver.Driver = (*Driver)(nil)

// New connects to the engine with API version negotiation, so any engine
// from Debian's dockerd 20.10 upwards answers. It does not contact the
// engine yet; the first call that needs it does.
func New(opts Options) (*Driver, error) {
	opts = opts.withDefaults()
	if err := validName(opts.Fleet); err != nil {
		return nil, fmt.Errorf("docker driver: fleet: %w", err)
	}

	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	cli, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker driver: client: %w", err)
	}

	rootCtx, rootStop := context.WithCancel(context.Background())
	return &Driver{
		cli:       cli,
		opts:      opts,
		log:       opts.Logger,
		image:     opts.Image,
		followers: map[string]context.CancelFunc{},
		rootCtx:   rootCtx,
		rootStop:  rootStop,
	}, nil
}

func (o Options) withDefaults() Options {
	if o.Fleet == "" {
		o.Fleet = "decnet"
	}
	if o.HostID == "" {
		o.HostID = "local"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 5 * time.Second
	}
	o.Network = o.Network.withDefaults()
	o.Retry = o.Retry.withDefaults()
	return o
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "docker" }

// Ping checks that the engine answers. The error wraps driver.ErrUnreachable
// when it does not.
func (d *Driver) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker driver: ping: %w: %w", driver.ErrUnreachable, err)
	}
	return nil
}

// Close stops every log follower and closes the engine client. The
// containers keep running.
func (d *Driver) Close() error {
	d.followMu.Lock()
	d.closed = true
	d.followMu.Unlock()

	d.rootStop()
	d.wg.Wait()
	return d.cli.Close()
}

func (d *Driver) progress(name, step string) {
	if d.opts.Progress != nil {
		d.opts.Progress(name, step)
	}
}

// baseLabels are the labels every object of this fleet and host carries.
func (d *Driver) baseLabels() map[string]string {
	return map[string]string{LabelFleet: d.opts.Fleet, LabelHost: d.opts.HostID}
}

// containerName is a readable name for a container. Names only help
// operators; the driver finds containers by label.
func (d *Driver) containerName(deckyName, service string) string {
	name := d.opts.Fleet + "-" + deckyName
	if service != "" {
		name += "-" + strings.ReplaceAll(service, "_", "-")
	}
	return name
}

// validName accepts the names the driver puts into labels, container and
// volume names: letters, digits, '-', '_' and '.', 1 to 64 bytes, starting
// with a letter or digit.
func validName(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("name must be 1 to 64 characters")
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '-' || r == '_' || r == '.') && i > 0:
		default:
			return fmt.Errorf("name %q has a character outside [A-Za-z0-9_.-] or starts with a symbol", s)
		}
	}
	return nil
}
