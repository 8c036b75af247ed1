package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/store"
)

// DesiredState is what the reconciler needs from the state file: the
// deckies this host should run and the generation of the deploy that wrote
// the file.
type DesiredState struct {
	Generation int64
	Deckies    []decky.Decky
}

// StateSource loads the desired state. An error wrapping fs.ErrNotExist
// means there is no state file; any error stops the reconciler from
// inserting or deleting rows and from tearing anything down.
type StateSource interface {
	Desired(ctx context.Context) (DesiredState, error)
}

// StateSourceFunc adapts a function to StateSource.
type StateSourceFunc func(ctx context.Context) (DesiredState, error)

// Desired calls f(ctx).
func (f StateSourceFunc) Desired(ctx context.Context) (DesiredState, error) { return f(ctx) }

// ReconcileStore is the part of the SQL store the reconciler writes through.
// *sqlstore.Store implements it.
type ReconcileStore interface {
	ListFleetDeckies(ctx context.Context, hostID string) ([]store.FleetDecky, error)
	UpsertFleetDecky(ctx context.Context, d store.FleetDecky) error
	DeleteFleetDecky(ctx context.Context, hostID, name string) error
	SetFleetDeckyState(ctx context.Context, hostID, name, state, lastError string) (string, error)
	TouchFleetDeckies(ctx context.Context, hostID string) error
}

// Publisher sends bus events without ever failing the caller. *bus.Bus
// implements it.
type Publisher interface {
	PublishSafely(ctx context.Context, subject, typ string, payload any)
}

// ErrNoDesiredState reports that the state file could not be read, so the
// pass changed observed states only and deleted nothing.
var ErrNoDesiredState = errors.New("fleet: desired state unavailable")

// Drift kinds a pass reports.
const (
	DriftMissing   = "missing"   // desired, but the runtime runs nothing of it
	DriftServices  = "services"  // the runtime runs other services than desired
	DriftAddress   = "address"   // the runtime address differs from the desired one
	DriftUnhealthy = "unhealthy" // some or all services are down
	DriftConfig    = "config"    // the row's decky differs from the state file
	DriftOrphan    = "orphan"    // the runtime runs a decky nobody wants
	DriftInFlight  = "in_flight" // a row newer than the state file: a deploy in progress
)

// Drift is one difference a pass found.
type Drift struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Detail   string `json:"detail"`
	Repaired bool   `json:"repaired,omitempty"`
}

// PassResult counts what one pass did.
type PassResult struct {
	Inserted     int     `json:"inserted"`
	Deleted      int     `json:"deleted"`
	StateUpdated int     `json:"state_updated"`
	Repaired     int     `json:"repaired"`
	Drift        []Drift `json:"drift,omitempty"`
	// DesiredErr and RuntimeErr say which source could not be read.
	DesiredErr error `json:"-"`
	RuntimeErr error `json:"-"`
}

// ReconcilerConfig configures a Reconciler. Driver, Store and State are
// required.
type ReconcilerConfig struct {
	// HostID scopes the pass: only rows and runtime deckies of this host
	// are read or written. Default "local".
	HostID string
	Driver driver.Driver
	Store  ReconcileStore
	State  StateSource
	// Bus receives decky.<host>:<name>.state events; nil sends none.
	Bus Publisher
	// Repair deploys deckies whose runtime drifted from the desired state
	// and tears down runtime deckies nobody wants.
	Repair bool
	Logger *slog.Logger
}

// Reconciler compares the state file, the fleet rows of one host and what
// the runtime runs, and brings the rows (and, with Repair, the runtime) in
// line with the state file.
//
// The rules that keep it from destroying data:
//   - when the state file is missing or unreadable it deletes no row and
//     tears nothing down;
//   - a row whose generation is newer than the state file belongs to a
//     deploy in progress and is left alone;
//   - when the runtime cannot be asked, no observed state changes: the
//     deckies are unknown, not gone;
//   - it only ever reads and writes rows of its own host.
//
// Every pass stamps last_seen on the host's rows, so a reader can tell a
// dead reconciler from a quiet one.
type Reconciler struct {
	cfg ReconcilerConfig
	log *slog.Logger
}

// NewReconciler checks cfg and returns a Reconciler.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Driver == nil || cfg.Store == nil || cfg.State == nil {
		return nil, errors.New("fleet: reconciler needs a driver, a store and a state source")
	}
	if cfg.HostID == "" {
		cfg.HostID = "local"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger.With("host", cfg.HostID)}, nil
}

// Run runs a pass right away and then every interval until ctx ends. Pass
// errors are logged, never fatal.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	r.log.Info("reconciler started", "interval", interval, "repair", r.cfg.Repair)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := r.Pass(ctx)
		if ctx.Err() != nil {
			r.log.Info("reconciler stopped")
			return nil
		}
		r.logResult(res, err)

		select {
		case <-ctx.Done():
			r.log.Info("reconciler stopped")
			return nil
		case <-t.C:
		}
	}
}

func (r *Reconciler) logResult(res PassResult, err error) {
	if err != nil {
		r.log.Warn("reconcile pass incomplete", "err", err)
	}
	if res.Inserted+res.Deleted+res.StateUpdated+res.Repaired > 0 || len(res.Drift) > 0 {
		r.log.Info("reconcile pass", "inserted", res.Inserted, "deleted", res.Deleted,
			"state_updated", res.StateUpdated, "repaired", res.Repaired, "drift", len(res.Drift))
	}
}

// Pass runs one reconciliation. The error joins every problem met; the
// PassResult holds what was done regardless.
func (r *Reconciler) Pass(ctx context.Context) (PassResult, error) {
	var res PassResult
	var errs []error
	host := r.cfg.HostID

	desired, err := r.cfg.State.Desired(ctx)
	desiredOK := err == nil
	if err != nil {
		res.DesiredErr = err
		if errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%w: no state file: %w", ErrNoDesiredState, err))
		} else {
			errs = append(errs, fmt.Errorf("%w: %w", ErrNoDesiredState, err))
		}
	}
	want := map[string]decky.Decky{}
	for _, d := range desired.Deckies {
		want[d.Name] = d
	}

	rows, err := r.cfg.Store.ListFleetDeckies(ctx, host)
	if err != nil {
		return res, errors.Join(append(errs, fmt.Errorf("fleet: reconcile: %w", err))...)
	}
	have := map[string]store.FleetDecky{}
	for _, row := range rows {
		if row.HostID == host {
			have[row.Name] = row
		}
	}

	statuses, runtimeOK := r.inspect(ctx, &res, &errs)

	// Repairs change the runtime, so they run first and the states written
	// below are observed after them.
	if runtimeOK && r.cfg.Repair {
		if r.repair(ctx, desiredOK, want, have, statuses, &res, &errs) {
			statuses, runtimeOK = r.inspect(ctx, &res, &errs)
		}
	}

	if desiredOK {
		r.insertMissing(ctx, desired, have, statuses, runtimeOK, &res, &errs)
		r.deleteUnwanted(ctx, desired, want, have, &res, &errs)
	}
	r.updateStates(ctx, desiredOK, desired, want, have, statuses, runtimeOK, &res, &errs)
	if runtimeOK && desiredOK {
		for name, st := range statuses {
			if _, ok := want[name]; ok {
				continue
			}
			if row, ok := have[name]; ok && row.Generation > desired.Generation {
				continue
			}
			if !r.cfg.Repair {
				res.Drift = append(res.Drift, Drift{Name: name, Kind: DriftOrphan, Detail: "runtime runs it (" + string(st.State) + ") but the state file does not list it"})
			}
		}
	}

	if err := r.cfg.Store.TouchFleetDeckies(ctx, host); err != nil {
		errs = append(errs, fmt.Errorf("fleet: reconcile: %w", err))
	}
	sort.SliceStable(res.Drift, func(i, j int) bool { return res.Drift[i].Name < res.Drift[j].Name })
	return res, errors.Join(errs...)
}

func (r *Reconciler) inspect(ctx context.Context, res *PassResult, errs *[]error) (map[string]driver.Status, bool) {
	list, err := r.cfg.Driver.Inspect(ctx)
	if err != nil {
		res.RuntimeErr = err
		*errs = append(*errs, fmt.Errorf("fleet: reconcile: runtime: %w", err))
		return nil, false
	}
	out := make(map[string]driver.Status, len(list))
	for _, s := range list {
		out[s.Name] = s
	}
	return out, true
}

func (r *Reconciler) insertMissing(ctx context.Context, desired DesiredState, have map[string]store.FleetDecky, statuses map[string]driver.Status, runtimeOK bool, res *PassResult, errs *[]error) {
	for _, d := range desired.Deckies {
		if _, ok := have[d.Name]; ok {
			continue
		}
		state := store.DeckyPending
		lastErr := ""
		if runtimeOK {
			state, lastErr = observed(d, statuses)
		}
		row := store.FleetDecky{
			HostID: r.cfg.HostID, Name: d.Name, IP: d.IP, Driver: r.cfg.Driver.Name(), Decky: d,
			State: state, LastError: lastErr, Generation: desired.Generation,
		}
		if err := r.cfg.Store.UpsertFleetDecky(ctx, row); err != nil {
			*errs = append(*errs, fmt.Errorf("fleet: reconcile: insert %s: %w", d.Name, err))
			continue
		}
		have[d.Name] = row
		res.Inserted++
		r.publish(ctx, d.Name, state, "inserted", "")
	}
}

func (r *Reconciler) deleteUnwanted(ctx context.Context, desired DesiredState, want map[string]decky.Decky, have map[string]store.FleetDecky, res *PassResult, errs *[]error) {
	for name, row := range have {
		if _, ok := want[name]; ok {
			continue
		}
		if row.Generation > desired.Generation {
			res.Drift = append(res.Drift, Drift{Name: name, Kind: DriftInFlight,
				Detail: fmt.Sprintf("row generation %d is newer than the state file's %d", row.Generation, desired.Generation)})
			continue
		}
		if err := r.cfg.Store.DeleteFleetDecky(ctx, r.cfg.HostID, name); err != nil {
			*errs = append(*errs, fmt.Errorf("fleet: reconcile: delete %s: %w", name, err))
			continue
		}
		delete(have, name)
		res.Deleted++
		r.publish(ctx, name, store.DeckyTornDown, "deleted", "")
	}
}

func (r *Reconciler) updateStates(ctx context.Context, desiredOK bool, desired DesiredState, want map[string]decky.Decky, have map[string]store.FleetDecky, statuses map[string]driver.Status, runtimeOK bool, res *PassResult, errs *[]error) {
	names := make([]string, 0, len(have))
	for name := range have {
		names = append(names, name)
	}
	slices.Sort(names)

	for _, name := range names {
		row := have[name]
		if desiredOK && row.Generation > desired.Generation {
			continue // a deploy in progress owns this row
		}
		if row.State == store.DeckyTearingDown {
			continue // a teardown in progress owns this row
		}

		target := row.Decky
		if d, ok := want[name]; ok {
			target = d
			if desiredOK && !sameDeckyJSON(row.Decky, d) {
				row.Decky, row.IP, row.Generation = d, d.IP, max(row.Generation, desired.Generation)
				if err := r.cfg.Store.UpsertFleetDecky(ctx, row); err != nil {
					*errs = append(*errs, fmt.Errorf("fleet: reconcile: update %s: %w", name, err))
				} else {
					res.Drift = append(res.Drift, Drift{Name: name, Kind: DriftConfig, Detail: "row updated to the state file's decky", Repaired: true})
				}
			}
		}
		if !runtimeOK {
			continue
		}

		res.Drift = append(res.Drift, driftOf(target, statuses)...)
		state, lastErr := observed(target, statuses)
		if state == row.State && lastErr == row.LastError {
			continue
		}
		prev, err := r.cfg.Store.SetFleetDeckyState(ctx, r.cfg.HostID, name, state, lastErr)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile
			}
			*errs = append(*errs, fmt.Errorf("fleet: reconcile: state of %s: %w", name, err))
			continue
		}
		if prev != state {
			res.StateUpdated++
			r.publish(ctx, name, state, "state_changed", prev)
		} else {
			r.publish(ctx, name, state, "error_changed", "")
		}
	}
}

// repair deploys drifted deckies and tears down unwanted ones. It reports
// whether it changed anything.
func (r *Reconciler) repair(ctx context.Context, desiredOK bool, want map[string]decky.Decky, have map[string]store.FleetDecky, statuses map[string]driver.Status, res *PassResult, errs *[]error) bool {
	if !desiredOK {
		return false
	}
	changed := false
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d := want[name]
		drifts := driftOf(d, statuses)
		if len(drifts) == 0 {
			continue
		}
		if row, ok := have[name]; ok && row.State == store.DeckyTearingDown {
			continue
		}
		if err := r.cfg.Driver.Deploy(ctx, d); err != nil {
			*errs = append(*errs, fmt.Errorf("fleet: reconcile: repair %s: %w", name, err))
			res.Drift = append(res.Drift, drifts...)
			continue
		}
		changed = true
		res.Repaired++
		for _, dr := range drifts {
			dr.Repaired = true
			res.Drift = append(res.Drift, dr)
		}
	}

	for name, st := range statuses {
		if _, ok := want[name]; ok {
			continue
		}
		if _, ok := have[name]; ok && have[name].Generation > 0 && have[name].State == store.DeckyPending {
			continue // a deploy in progress wrote the row before the state file
		}
		if err := r.cfg.Driver.Teardown(ctx, name); err != nil {
			*errs = append(*errs, fmt.Errorf("fleet: reconcile: tear down orphan %s: %w", name, err))
			continue
		}
		changed = true
		res.Repaired++
		res.Drift = append(res.Drift, Drift{Name: name, Kind: DriftOrphan, Detail: "runtime ran it (" + string(st.State) + ") but the state file does not list it", Repaired: true})
	}
	return changed
}

// driftOf compares one desired decky with what the runtime reports.
func driftOf(d decky.Decky, statuses map[string]driver.Status) []Drift {
	st, ok := statuses[d.Name]
	if !ok || st.State == driver.StateTornDown {
		return []Drift{{Name: d.Name, Kind: DriftMissing, Detail: "the runtime runs nothing of it"}}
	}

	var out []Drift
	var wantSvc, haveSvc []string
	for _, s := range d.Services {
		wantSvc = append(wantSvc, s.Name)
	}
	for name := range st.Services {
		haveSvc = append(haveSvc, name)
	}
	slices.Sort(wantSvc)
	slices.Sort(haveSvc)
	if !slices.Equal(wantSvc, haveSvc) {
		out = append(out, Drift{Name: d.Name, Kind: DriftServices,
			Detail: fmt.Sprintf("runtime runs [%s], desired [%s]", strings.Join(haveSvc, ","), strings.Join(wantSvc, ","))})
	}
	if st.IP != "" && st.IP != d.IP {
		out = append(out, Drift{Name: d.Name, Kind: DriftAddress, Detail: fmt.Sprintf("runtime address %s, desired %s", st.IP, d.IP)})
	}
	if st.State == driver.StateDegraded || st.State == driver.StateFailed {
		out = append(out, Drift{Name: d.Name, Kind: DriftUnhealthy, Detail: describe(st)})
	}
	return out
}

// observed maps the runtime's view of one decky to a row state and the
// last_error text ("" when healthy).
func observed(d decky.Decky, statuses map[string]driver.Status) (string, string) {
	st, ok := statuses[d.Name]
	if !ok {
		return store.DeckyTornDown, "not running in the runtime"
	}
	var problems []string
	for _, dr := range driftOf(d, statuses) {
		if dr.Kind != DriftUnhealthy && dr.Kind != DriftMissing {
			problems = append(problems, dr.Kind+" drift: "+dr.Detail)
		}
	}
	state := store.DeckyRunning
	switch st.State {
	case driver.StateRunning:
	case driver.StateDegraded:
		state = store.DeckyDegraded
		problems = append([]string{describe(st)}, problems...)
	case driver.StateFailed:
		state = store.DeckyFailed
		problems = append([]string{describe(st)}, problems...)
	case driver.StateTornDown:
		state = store.DeckyTornDown
		problems = append([]string{"not running in the runtime"}, problems...)
	default:
		state = store.DeckyFailed
		problems = append([]string{"runtime state " + string(st.State)}, problems...)
	}
	return state, strings.Join(problems, "; ")
}

func describe(st driver.Status) string {
	if st.Detail != "" {
		return st.Detail
	}
	var down []string
	for name, s := range st.Services {
		if s != driver.StateRunning {
			down = append(down, name+" "+string(s))
		}
	}
	slices.Sort(down)
	if len(down) == 0 {
		return string(st.State)
	}
	return strings.Join(down, "; ")
}

func sameDeckyJSON(a, b decky.Decky) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// StateEvent is the payload of decky.<host>:<name>.state.
type StateEvent struct {
	HostID        string `json:"host_id"`
	Name          string `json:"name"`
	State         string `json:"state"`
	Transition    string `json:"transition"` // inserted, deleted, state_changed, error_changed
	Source        string `json:"source"`
	PreviousState string `json:"previous_state,omitempty"`
}

func (r *Reconciler) publish(ctx context.Context, name, state, transition, prev string) {
	if r.cfg.Bus == nil {
		return
	}
	subject, err := bus.DeckyState(r.cfg.HostID, name)
	if err != nil {
		// A name the bus cannot carry must not stop the pass.
		r.log.Warn("no bus subject for decky", "decky", name, "err", err)
		return
	}
	r.cfg.Bus.PublishSafely(ctx, subject, "state", StateEvent{
		HostID: r.cfg.HostID, Name: name, State: state, Transition: transition, Source: "fleet", PreviousState: prev,
	})
}

// StateFile returns a StateSource that reads the state file at path. A
// file that names another host is refused rather than read as this host's
// fleet.
func StateFile(path, hostID string) StateSource {
	return StateSourceFunc(func(context.Context) (DesiredState, error) {
		st, err := LoadState(path)
		if err != nil {
			return DesiredState{}, err
		}
		if st.HostID != "" && hostID != "" && st.HostID != hostID {
			return DesiredState{}, fmt.Errorf("fleet: state file %s belongs to host %q, not %q", path, st.HostID, hostID)
		}
		return DesiredState{Generation: st.Generation, Deckies: st.Deckies}, nil
	})
}
