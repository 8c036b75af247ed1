package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/store"
)

// FleetStore is the part of the store the deployer writes.
type FleetStore interface {
	UpsertFleetDecky(ctx context.Context, d store.FleetDecky) error
	DeleteFleetDecky(ctx context.Context, hostID, name string) error
	ListFleetDeckies(ctx context.Context, hostID string) ([]store.FleetDecky, error)
	SetFleetDeckyState(ctx context.Context, hostID, name, state, lastError string) (string, error)
}

// Hook runs after a decky deployed successfully, such as planting baseline
// canary tokens. A hook error is logged and never fails the deploy.
type Hook func(ctx context.Context, d decky.Decky) error

// Progress receives one line per step of a deploy or teardown.
type Progress func(decky, message string)

// Deployer is the single writer of the fleet's desired state. Every deploy
// and teardown goes through it, so the state file and fleet_deckies change
// together and in a fixed order: rows first, carrying the new generation,
// then the state file. A reconciler that sees a row newer than the state
// file knows a deploy is in progress and leaves it alone.
type Deployer struct {
	Driver    driver.Driver
	Store     FleetStore
	StatePath string
	HostID    string
	Subnet    string
	Logger    *slog.Logger
	Hooks     []Hook
	Progress  Progress

	mu sync.Mutex // serialises deploys and teardowns of this process
}

// DeployOptions tunes Deploy.
type DeployOptions struct {
	// DryRun validates and reports without writing or starting anything.
	DryRun bool
	// Replace makes the given deckies the whole fleet; deckies not listed are
	// torn down. Without it, deploys add to the fleet and a name or address
	// that is already taken is an error.
	Replace bool
	// RecordOnly writes the desired state and leaves starting the deckies to
	// the process that runs them (`decnet up` applies the state file with
	// Sync). Rows stay pending until then.
	RecordOnly bool
}

// Result reports what a deploy did per decky.
type Result struct {
	Deployed []decky.Decky
	Failed   map[string]error
}

// Deploy records deckies as desired state and starts them through the
// driver. Deckies that fail to start stay recorded with state failed and the
// error in last_error, so the operator and the reconciler see them.
func (d *Deployer) Deploy(ctx context.Context, deckies []decky.Decky, opts DeployOptions) (Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := Result{Failed: map[string]error{}}

	st, err := d.loadOrEmpty()
	if err != nil {
		return res, err
	}
	next, removed, err := merge(st.Deckies, deckies, opts.Replace)
	if err != nil {
		return res, err
	}
	if opts.DryRun {
		res.Deployed = deckies
		return res, nil
	}

	gen := st.Generation + 1
	for _, dk := range deckies {
		row := store.FleetDecky{HostID: d.HostID, Name: dk.Name, IP: dk.IP, Driver: d.Driver.Name(), Decky: dk,
			State: store.DeckyPending, Generation: gen}
		if err := d.Store.UpsertFleetDecky(ctx, row); err != nil {
			return res, fmt.Errorf("fleet: record decky %s: %w", dk.Name, err)
		}
	}
	st.HostID = d.HostID
	st.Driver = d.Driver.Name()
	st.Subnet = d.Subnet
	st.Generation = gen
	st.Deckies = next
	if err := SaveState(d.StatePath, st); err != nil {
		return res, err
	}

	if opts.RecordOnly {
		for _, name := range removed {
			d.setState(ctx, name, store.DeckyTearingDown, "")
		}
		res.Deployed = deckies
		return res, nil
	}
	for _, name := range removed {
		if err := d.teardownOne(ctx, name); err != nil {
			res.Failed[name] = err
		}
	}
	for _, dk := range deckies {
		if err := d.start(ctx, dk); err != nil {
			res.Failed[dk.Name] = err
			continue
		}
		res.Deployed = append(res.Deployed, dk)
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("fleet: %d of %d deckies failed to deploy", len(res.Failed), len(deckies))
	}
	return res, nil
}

// Sync makes the driver run exactly the deckies of the state file, as after
// a restart of `decnet up` or a deploy recorded by another process. It
// starts deckies the driver does not run (and, with retryFailed, those that
// failed), restarts changed ones, and tears down deckies the state file no
// longer lists. The desired state does not change. A missing state file is
// an error, so nothing is torn down on a guess.
func (d *Deployer) Sync(ctx context.Context, retryFailed bool) (Result, State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := Result{Failed: map[string]error{}}

	st, err := LoadState(d.StatePath)
	if err != nil {
		return res, st, err
	}
	statuses, err := d.Driver.Inspect(ctx)
	if err != nil {
		return res, st, fmt.Errorf("fleet: inspect %s driver: %w", d.Driver.Name(), err)
	}
	runtime := map[string]driver.Status{}
	for _, s := range statuses {
		runtime[s.Name] = s
	}
	rows, err := d.Store.ListFleetDeckies(ctx, d.HostID)
	if err != nil {
		return res, st, err
	}
	recorded := map[string]store.FleetDecky{}
	for _, r := range rows {
		recorded[r.Name] = r
	}

	wanted := map[string]bool{}
	for _, dk := range st.Deckies {
		wanted[dk.Name] = true
		row, hasRow := recorded[dk.Name]
		rt, running := runtime[dk.Name]
		changed := hasRow && !sameDecky(row.Decky, dk)
		if running && rt.State == driver.StateRunning && hasRow && !changed && row.State == store.DeckyRunning {
			continue
		}
		if hasRow && row.State == store.DeckyFailed && !retryFailed && !changed && !running {
			continue
		}
		if !hasRow || changed {
			r := store.FleetDecky{HostID: d.HostID, Name: dk.Name, IP: dk.IP, Driver: d.Driver.Name(), Decky: dk,
				State: store.DeckyPending, Generation: st.Generation}
			if err := d.Store.UpsertFleetDecky(ctx, r); err != nil {
				return res, st, fmt.Errorf("fleet: record decky %s: %w", dk.Name, err)
			}
		}
		if err := d.start(ctx, dk); err != nil {
			res.Failed[dk.Name] = err
			continue
		}
		res.Deployed = append(res.Deployed, dk)
	}

	for name := range runtime {
		if !wanted[name] {
			if err := d.teardownOne(ctx, name); err != nil {
				res.Failed[name] = err
			}
		}
	}
	for name, r := range recorded {
		if !wanted[name] && r.Generation <= st.Generation {
			if _, running := runtime[name]; !running {
				if err := d.Store.DeleteFleetDecky(ctx, d.HostID, name); err != nil {
					return res, st, err
				}
			}
		}
	}
	if len(res.Failed) > 0 {
		return res, st, fmt.Errorf("fleet: %d deckies failed to start or stop", len(res.Failed))
	}
	return res, st, nil
}

func sameDecky(a, b decky.Decky) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func (d *Deployer) start(ctx context.Context, dk decky.Decky) error {
	d.progress(dk.Name, "deploying on "+d.Driver.Name())
	if err := d.Driver.Deploy(ctx, dk); err != nil {
		d.setState(ctx, dk.Name, store.DeckyFailed, err.Error())
		d.progress(dk.Name, "failed: "+err.Error())
		return err
	}
	d.setState(ctx, dk.Name, store.DeckyRunning, "")
	d.progress(dk.Name, "running at "+dk.IP)

	for _, hook := range d.Hooks {
		if err := hook(ctx, dk); err != nil {
			d.logger().Warn("deploy hook failed", "decky", dk.Name, "err", err)
		}
	}
	return nil
}

// Teardown stops the named deckies and removes them from the desired state.
// With all set, names is ignored and the whole fleet goes.
func (d *Deployer) Teardown(ctx context.Context, names []string, all bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()

	st, err := d.loadOrEmpty()
	if err != nil {
		return err
	}
	if all {
		names = nil
		for _, dk := range st.Deckies {
			names = append(names, dk.Name)
		}
		rows, err := d.Store.ListFleetDeckies(ctx, d.HostID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !slices.Contains(names, r.Name) {
				names = append(names, r.Name)
			}
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(st.Deckies, func(dk decky.Decky) bool { return dk.Name == n }) && !all {
			return fmt.Errorf("fleet: no decky named %q (run `decnet status` for the names): %w", n, store.ErrNotFound)
		}
	}

	var errs []error
	for _, n := range names {
		if err := d.teardownOne(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}

	st.Generation++
	st.Deckies = slices.DeleteFunc(st.Deckies, func(dk decky.Decky) bool { return slices.Contains(names, dk.Name) })
	if err := SaveState(d.StatePath, st); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func (d *Deployer) teardownOne(ctx context.Context, name string) error {
	d.progress(name, "tearing down")
	d.setState(ctx, name, store.DeckyTearingDown, "")
	if err := d.Driver.Teardown(ctx, name); err != nil && !errors.Is(err, driver.ErrNotFound) {
		d.setState(ctx, name, store.DeckyTeardownFaild, err.Error())
		return fmt.Errorf("fleet: tear down %s: %w", name, err)
	}
	if err := d.Store.DeleteFleetDecky(ctx, d.HostID, name); err != nil {
		return err
	}
	d.progress(name, "removed")
	return nil
}

func (d *Deployer) setState(ctx context.Context, name, state, lastError string) {
	if _, err := d.Store.SetFleetDeckyState(ctx, d.HostID, name, state, lastError); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.logger().Error("record decky state", "decky", name, "state", state, "err", err)
	}
}

// loadOrEmpty reads the state file; a missing file is an empty fleet, which
// is right for a deploy (it creates the file) but never for a reconciler.
func (d *Deployer) loadOrEmpty() (State, error) {
	st, err := LoadState(d.StatePath)
	if errors.Is(err, ErrNoState) {
		return State{Version: stateVersion, HostID: d.HostID}, nil
	}
	return st, err
}

// merge adds or replaces deckies in the current list. It returns the new
// list and, in replace mode, the names that are no longer wanted.
func merge(current, add []decky.Decky, replace bool) ([]decky.Decky, []string, error) {
	seenName := map[string]bool{}
	seenIP := map[string]bool{}
	for _, dk := range add {
		if seenName[dk.Name] {
			return nil, nil, fmt.Errorf("fleet: decky name %q appears twice: %w", dk.Name, store.ErrConflict)
		}
		if seenIP[dk.IP] {
			return nil, nil, fmt.Errorf("fleet: address %s is given to two deckies: %w", dk.IP, store.ErrConflict)
		}
		seenName[dk.Name], seenIP[dk.IP] = true, true
	}

	if replace {
		var removed []string
		for _, dk := range current {
			if !seenName[dk.Name] {
				removed = append(removed, dk.Name)
			}
		}
		return slices.Clone(add), removed, nil
	}

	next := slices.Clone(current)
	for _, dk := range add {
		for _, cur := range current {
			if cur.Name == dk.Name {
				return nil, nil, fmt.Errorf("fleet: decky %q already exists (tear it down first or deploy with replace): %w", dk.Name, store.ErrConflict)
			}
			if cur.IP == dk.IP {
				return nil, nil, fmt.Errorf("fleet: address %s is taken by decky %s: %w", dk.IP, cur.Name, store.ErrConflict)
			}
		}
		next = append(next, dk)
	}
	return next, nil, nil
}

func (d *Deployer) progress(name, msg string) {
	if d.Progress != nil {
		d.Progress(name, msg)
	}
	d.logger().Info("fleet step", "decky", name, "step", msg)
}

func (d *Deployer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
