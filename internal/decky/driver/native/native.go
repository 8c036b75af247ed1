// Package native runs deckies inside the decnet process. Each decky listens
// on its own loopback address (any 127.0.0.0/8 address works on Linux
// without setup) and has a root directory under the data directory that
// stands for its filesystem.
package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/rootfs"
	"github.com/decnet/decnet/internal/services"
)

// Server is an emulated service with net/http's lifecycle.
type Server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// ServiceContext is what a Factory gets to build one service of one decky.
type ServiceContext struct {
	Decky   decky.Decky
	Service decky.Service
	Root    string // the decky's root directory on the host
	Sink    services.Sink
	Logger  *slog.Logger
}

// Factory builds the server of one service. The driver owns the listener.
type Factory func(sc ServiceContext) (Server, error)

// Config configures a Driver.
type Config struct {
	// DataDir holds one directory per decky: <DataDir>/deckies/<name>/root.
	DataDir string
	// Factories maps service names to their constructors.
	Factories map[string]Factory
	// Sink receives every service event.
	Sink   services.Sink
	Logger *slog.Logger
	// ShutdownTimeout bounds each service's Shutdown; zero means 3 s.
	ShutdownTimeout time.Duration
}

// Driver implements driver.Driver in process.
type Driver struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // protects deckies
	deckies map[string]*instance
}

type instance struct {
	decky    decky.Decky
	root     string
	services map[string]*running
}

type running struct {
	server   Server
	addr     string
	stopping atomic.Bool
	done     chan struct{}
	err      error // set before done closes
}

var _ driver.Driver = (*Driver)(nil)

// New returns a driver with no deckies running.
func New(cfg Config) *Driver {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: log, deckies: map[string]*instance{}}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "native" }

// Root returns the host directory that stands for the decky's filesystem.
func (d *Driver) Root(name string) string {
	return filepath.Join(d.cfg.DataDir, "deckies", name, "root")
}

// Deploy implements driver.Driver. Deploying a decky that runs with the same
// definition is a no-op; a changed definition restarts it.
func (d *Driver) Deploy(ctx context.Context, dk decky.Decky) error {
	if err := decky.ValidateName(dk.Name); err != nil {
		return err
	}
	ip := net.ParseIP(dk.IP)
	if ip == nil {
		return fmt.Errorf("native: decky %s: invalid address %q", dk.Name, dk.IP)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("native: decky %s: address %s is outside 127.0.0.0/8; the native driver only binds loopback addresses (use the docker driver for LAN addresses)", dk.Name, dk.IP)
	}

	d.mu.Lock()
	cur, ok := d.deckies[dk.Name]
	d.mu.Unlock()
	if ok {
		if reflect.DeepEqual(cur.decky, dk) && cur.allRunning() {
			return nil
		}
		if err := d.Teardown(ctx, dk.Name); err != nil {
			return err
		}
	}

	root := d.Root(dk.Name)
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fmt.Errorf("native: decky %s: create root: %w", dk.Name, err)
	}
	if err := rootfs.Seed(root, dk); err != nil {
		return fmt.Errorf("native: decky %s: seed filesystem: %w", dk.Name, err)
	}

	inst := &instance{decky: dk, root: root, services: map[string]*running{}}
	for _, svc := range dk.Services {
		r, err := d.startService(dk, svc, root)
		if err != nil {
			d.stopInstance(inst)
			return fmt.Errorf("native: decky %s: %w", dk.Name, err)
		}
		inst.services[svc.Name] = r
	}

	d.mu.Lock()
	d.deckies[dk.Name] = inst
	d.mu.Unlock()
	return nil
}

func (d *Driver) startService(dk decky.Decky, svc decky.Service, root string) (*running, error) {
	factory, ok := d.cfg.Factories[svc.Name]
	if !ok {
		return nil, fmt.Errorf("service %s is not implemented by the native driver (available: %v)", svc.Name, d.serviceNames())
	}
	// The emulators add the decky and service fields to their own logger.
	srv, err := factory(ServiceContext{Decky: dk, Service: svc, Root: root, Sink: d.cfg.Sink, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", svc.Name, err)
	}

	addr := net.JoinHostPort(dk.IP, strconv.Itoa(svc.Port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s for %s: %w (pick another port with --ports %s=PORT)", addr, svc.Name, err, svc.Name)
	}

	log := d.log.With("decky", dk.Name, "service", svc.Name)
	r := &running{server: srv, addr: l.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = srv.Serve(l)
		if !r.stopping.Load() {
			log.Error("service stopped unexpectedly", "err", r.err)
		}
	}()
	log.Debug("service listening", "addr", r.addr)
	return r, nil
}

func (d *Driver) serviceNames() []string {
	names := make([]string, 0, len(d.cfg.Factories))
	for n := range d.cfg.Factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Teardown implements driver.Driver. The decky's root directory stays on
// disk, so planted files and attacker changes survive a redeploy.
func (d *Driver) Teardown(ctx context.Context, name string) error {
	d.mu.Lock()
	inst, ok := d.deckies[name]
	delete(d.deckies, name)
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("native: decky %s: %w", name, driver.ErrNotFound)
	}
	d.stopInstance(inst)
	return nil
}

func (d *Driver) stopInstance(inst *instance) {
	var wg sync.WaitGroup
	for name, r := range inst.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopping.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
			defer cancel()
			if err := r.server.Shutdown(ctx); err != nil {
				d.log.Warn("service shutdown", "decky", inst.decky.Name, "service", name, "err", err)
			}
			<-r.done
		}()
	}
	wg.Wait()
}

// Close tears down every decky.
func (d *Driver) Close() {
	d.mu.Lock()
	all := d.deckies
	d.deckies = map[string]*instance{}
	d.mu.Unlock()

	var wg sync.WaitGroup
	for _, inst := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stopInstance(inst)
		}()
	}
	wg.Wait()
}

// Addrs returns the listening address of each service of a decky.
func (d *Driver) Addrs(name string) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	if inst, ok := d.deckies[name]; ok {
		for svc, r := range inst.services {
			out[svc] = r.addr
		}
	}
	return out
}

func (inst *instance) allRunning() bool {
	for _, r := range inst.services {
		select {
		case <-r.done:
			return false
		default:
		}
	}
	return true
}

// Inspect implements driver.Driver.
func (d *Driver) Inspect(ctx context.Context) ([]driver.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()

	out := make([]driver.Status, 0, len(d.deckies))
	for name, inst := range d.deckies {
		st := driver.Status{Name: name, IP: inst.decky.IP, Services: map[string]driver.State{}}
		up := 0
		for svc, r := range inst.services {
			select {
			case <-r.done:
				st.Services[svc] = driver.StateFailed
			default:
				st.Services[svc] = driver.StateRunning
				up++
			}
		}
		switch {
		case up == len(inst.services):
			st.State = driver.StateRunning
		case up == 0:
			st.State = driver.StateFailed
		default:
			st.State = driver.StateDegraded
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// openRoot opens the decky's root so that no file operation can leave it,
// whatever links or ".." segments the path or the tree contains.
func (d *Driver) openRoot(name, p string) (*os.Root, string, error) {
	if err := decky.ValidateName(name); err != nil {
		return nil, "", err
	}
	rel, err := rootfs.HostPath(p)
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(d.Root(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("native: decky %s: %w", name, driver.ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("native: decky %s: %w", name, err)
	}
	return root, rel, nil
}

// WriteFile implements driver.Driver. The data lands in a temporary file that
// is renamed into place, so readers never see a partial file.
func (d *Driver) WriteFile(ctx context.Context, name string, f driver.File) error {
	root, rel, err := d.openRoot(name, f.Path)
	if err != nil {
		return err
	}
	defer root.Close()

	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
		}
	}
	tmp := path.Join(path.Dir(rel), ".tmp-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	mode := f.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	w, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
	}
	_, werr := w.Write(f.Data)
	cerr := w.Close()
	if err := errors.Join(werr, cerr); err != nil {
		root.Remove(tmp)
		return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
	}
	if err := root.Chmod(tmp, mode); err != nil {
		root.Remove(tmp)
		return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
	}
	if os.Geteuid() == 0 && (f.UID != 0 || f.GID != 0) {
		if err := root.Lchown(tmp, f.UID, f.GID); err != nil {
			d.log.Warn("chown planted file", "decky", name, "path", f.Path, "err", err)
		}
	}
	if !f.ModTime.IsZero() {
		if err := root.Chtimes(tmp, f.ModTime, f.ModTime); err != nil {
			root.Remove(tmp)
			return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
		}
	}
	if err := root.Rename(tmp, rel); err != nil {
		root.Remove(tmp)
		return fmt.Errorf("native: write %s in %s: %w", f.Path, name, err)
	}
	return nil
}

// RemoveFile implements driver.Driver.
func (d *Driver) RemoveFile(ctx context.Context, name, p string) error {
	root, rel, err := d.openRoot(name, p)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove(rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("native: remove %s in %s: %w", p, name, driver.ErrNotFound)
		}
		return fmt.Errorf("native: remove %s in %s: %w", p, name, err)
	}
	return nil
}

// ReadFile implements driver.Driver.
func (d *Driver) ReadFile(ctx context.Context, name, p string) ([]byte, error) {
	root, rel, err := d.openRoot(name, p)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("native: read %s in %s: %w", p, name, driver.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("native: read %s in %s: %w", p, name, err)
	}
	return data, nil
}
