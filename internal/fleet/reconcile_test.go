package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// fakeDriver reports a fixed runtime and records what it is asked to do.
type fakeDriver struct {
	mu         sync.Mutex
	statuses   []driver.Status
	inspectErr error
	deployed   []string
	tornDown   []string
}

func (f *fakeDriver) Name() string { return "fake" }

func (f *fakeDriver) Deploy(_ context.Context, d decky.Decky) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deployed = append(f.deployed, d.Name)
	svcs := map[string]driver.State{}
	for _, s := range d.Services {
		svcs[s.Name] = driver.StateRunning
	}
	f.statuses = withStatus(f.statuses, driver.Status{Name: d.Name, State: driver.StateRunning, IP: d.IP, Services: svcs})
	return nil
}

func (f *fakeDriver) Teardown(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tornDown = append(f.tornDown, name)
	var keep []driver.Status
	for _, s := range f.statuses {
		if s.Name != name {
			keep = append(keep, s)
		}
	}
	f.statuses = keep
	return nil
}

func (f *fakeDriver) Inspect(context.Context) ([]driver.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inspectErr != nil {
		return nil, f.inspectErr
	}
	return append([]driver.Status(nil), f.statuses...), nil
}

func (f *fakeDriver) WriteFile(context.Context, string, driver.File) error { return nil }
func (f *fakeDriver) RemoveFile(context.Context, string, string) error     { return nil }
func (f *fakeDriver) ReadFile(context.Context, string, string) ([]byte, error) {
	return nil, driver.ErrNotFound
}

func withStatus(list []driver.Status, s driver.Status) []driver.Status {
	for i := range list {
		if list[i].Name == s.Name {
			list[i] = s
			return list
		}
	}
	return append(list, s)
}

// busLog records published events.
type busLog struct {
	mu     sync.Mutex
	events []string
}

func (b *busLog) PublishSafely(_ context.Context, subject, typ string, payload any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := payload.(StateEvent)
	b.events = append(b.events, fmt.Sprintf("%s %s %s %s<-%s", subject, typ, ev.Transition, ev.State, ev.PreviousState))
}

func dk(name, ip string, services ...string) decky.Decky {
	d := decky.Decky{Name: name, IP: ip, Hostname: name, Persona: decky.PersonaLinux, Distro: "debian"}
	for _, s := range services {
		d.Services = append(d.Services, decky.Service{Name: s, Port: 1})
	}
	return d
}

func running(d decky.Decky) driver.Status {
	svcs := map[string]driver.State{}
	for _, s := range d.Services {
		svcs[s.Name] = driver.StateRunning
	}
	return driver.Status{Name: d.Name, State: driver.StateRunning, IP: d.IP, Services: svcs}
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func row(host string, d decky.Decky, state string, gen int64) store.FleetDecky {
	return store.FleetDecky{HostID: host, Name: d.Name, IP: d.IP, Driver: "fake", Decky: d, State: state, Generation: gen}
}

func rowStates(t *testing.T, st *sqlstore.Store, host string) map[string]string {
	t.Helper()
	rows, err := st.ListFleetDeckies(context.Background(), host)
	if err != nil {
		t.Fatalf("ListFleetDeckies: %v", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Name] = r.State
	}
	return out
}

func desired(gen int64, deckies ...decky.Decky) StateSource {
	return StateSourceFunc(func(context.Context) (DesiredState, error) {
		return DesiredState{Generation: gen, Deckies: deckies}, nil
	})
}

func TestReconcileDrift(t *testing.T) {
	a := dk("a", "10.0.0.1", "ssh", "http")
	b := dk("b", "10.0.0.2", "ssh")
	c := dk("c", "10.0.0.3", "ssh")
	degraded := running(a)
	degraded.State = driver.StateDegraded
	degraded.Services["http"] = driver.StateFailed
	degraded.Detail = "http failed"

	tests := []struct {
		name      string
		state     StateSource
		rows      []store.FleetDecky
		runtime   []driver.Status
		repair    bool
		want      map[string]string
		drift     []string // name/kind
		deployed  []string
		tornDown  []string
		events    []string
		inserted  int
		deleted   int
		updated   int
		wantError bool
	}{
		{
			name:     "state file decky missing from rows is inserted with the runtime state",
			state:    desired(3, a, b),
			rows:     []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			runtime:  []driver.Status{running(a), running(b)},
			want:     map[string]string{"a": "running", "b": "running"},
			events:   []string{"decky.local:b.state state inserted running<-"},
			inserted: 1,
		},
		{
			name:    "row missing from the state file is deleted",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3), row("local", b, store.DeckyRunning, 2)},
			runtime: []driver.Status{running(a)},
			want:    map[string]string{"a": "running"},
			events:  []string{"decky.local:b.state state deleted torn_down<-"},
			deleted: 1,
		},
		{
			name:    "row newer than the state file is a deploy in progress and stays",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3), row("local", b, store.DeckyPending, 4)},
			runtime: []driver.Status{running(a)},
			want:    map[string]string{"a": "running", "b": "pending"},
			drift:   []string{"b/in_flight"},
		},
		{
			name:    "a stopped service marks the decky degraded",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			runtime: []driver.Status{degraded},
			want:    map[string]string{"a": "degraded"},
			drift:   []string{"a/unhealthy"},
			events:  []string{"decky.local:a.state state state_changed degraded<-running"},
			updated: 1,
		},
		{
			name:    "a decky gone from the runtime is torn down",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			want:    map[string]string{"a": "torn_down"},
			drift:   []string{"a/missing"},
			events:  []string{"decky.local:a.state state state_changed torn_down<-running"},
			updated: 1,
		},
		{
			name:    "service and address drift are reported",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			runtime: []driver.Status{running(dk("a", "10.0.0.9", "ssh"))},
			want:    map[string]string{"a": "running"},
			drift:   []string{"a/services", "a/address"},
			events:  []string{"decky.local:a.state state error_changed running<-"},
		},
		{
			name:     "repair redeploys drifted deckies and removes orphans",
			state:    desired(3, a, b),
			rows:     []store.FleetDecky{row("local", a, store.DeckyRunning, 3), row("local", b, store.DeckyRunning, 3)},
			runtime:  []driver.Status{degraded, running(c)},
			repair:   true,
			want:     map[string]string{"a": "running", "b": "running"},
			drift:    []string{"a/unhealthy", "b/missing", "c/orphan"},
			deployed: []string{"a", "b"},
			tornDown: []string{"c"},
		},
		{
			name:    "orphans are only reported without repair",
			state:   desired(3, a),
			rows:    []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			runtime: []driver.Status{running(a), running(c)},
			want:    map[string]string{"a": "running"},
			drift:   []string{"c/orphan"},
		},
		{
			name:     "the row follows the state file when the decky changed",
			state:    desired(4, dk("a", "10.0.0.1", "ssh")),
			rows:     []store.FleetDecky{row("local", a, store.DeckyRunning, 3)},
			runtime:  []driver.Status{running(dk("a", "10.0.0.1", "ssh"))},
			want:     map[string]string{"a": "running"},
			drift:    []string{"a/config"},
			inserted: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			for _, r := range tt.rows {
				if err := st.UpsertFleetDecky(ctx, r); err != nil {
					t.Fatalf("UpsertFleetDecky: %v", err)
				}
			}
			drv := &fakeDriver{statuses: tt.runtime}
			events := &busLog{}
			rec, err := NewReconciler(ReconcilerConfig{Driver: drv, Store: st, State: tt.state, Bus: events, Repair: tt.repair})
			if err != nil {
				t.Fatalf("NewReconciler: %v", err)
			}

			res, err := rec.Pass(ctx)
			if (err != nil) != tt.wantError {
				t.Fatalf("Pass error = %v, want error %v", err, tt.wantError)
			}
			if diff := cmp.Diff(rowStates(t, st, "local"), tt.want); diff != "" {
				t.Errorf("row states (-got +want):\n%s", diff)
			}
			var drift []string
			for _, d := range res.Drift {
				drift = append(drift, d.Name+"/"+d.Kind)
			}
			if diff := cmp.Diff(drift, tt.drift); diff != "" {
				t.Errorf("drift (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(drv.deployed, tt.deployed); diff != "" {
				t.Errorf("deployed (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(drv.tornDown, tt.tornDown); diff != "" {
				t.Errorf("torn down (-got +want):\n%s", diff)
			}
			if tt.events != nil {
				if diff := cmp.Diff(events.events, tt.events); diff != "" {
					t.Errorf("events (-got +want):\n%s", diff)
				}
			}
			if res.Inserted != tt.inserted || res.Deleted != tt.deleted || res.StateUpdated != tt.updated {
				t.Errorf("counts = %d/%d/%d inserted/deleted/updated, want %d/%d/%d",
					res.Inserted, res.Deleted, res.StateUpdated, tt.inserted, tt.deleted, tt.updated)
			}
		})
	}
}

func TestReconcileMissingStateFileDeletesNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := dk("a", "10.0.0.1", "ssh")
	b := dk("b", "10.0.0.2", "ssh")
	for _, r := range []store.FleetDecky{row("local", a, store.DeckyRunning, 2), row("local", b, store.DeckyRunning, 2)} {
		if err := st.UpsertFleetDecky(ctx, r); err != nil {
			t.Fatalf("UpsertFleetDecky: %v", err)
		}
	}
	c := dk("c", "10.0.0.3", "ssh")
	drv := &fakeDriver{statuses: []driver.Status{running(a), running(c)}}

	sources := map[string]StateSource{
		"missing file": StateFile(filepath.Join(t.TempDir(), "decnet-state.json"), "local"),
		"unreadable":   StateSourceFunc(func(context.Context) (DesiredState, error) { return DesiredState{}, errors.New("permission denied") }),
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			rec, err := NewReconciler(ReconcilerConfig{Driver: drv, Store: st, State: src, Repair: true})
			if err != nil {
				t.Fatalf("NewReconciler: %v", err)
			}
			res, err := rec.Pass(ctx)
			if !errors.Is(err, ErrNoDesiredState) {
				t.Fatalf("Pass error = %v, want ErrNoDesiredState", err)
			}
			if name == "missing file" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Pass error = %v, want it to wrap fs.ErrNotExist", err)
			}
			// Rows stay; b is observed gone, which is an observation, not a deletion.
			want := map[string]string{"a": "running", "b": "torn_down"}
			if diff := cmp.Diff(rowStates(t, st, "local"), want); diff != "" {
				t.Errorf("row states (-got +want):\n%s", diff)
			}
			if res.Deleted != 0 || len(drv.tornDown) != 0 || len(drv.deployed) != 0 {
				t.Errorf("deleted %d rows, tore down %v, deployed %v; want nothing", res.Deleted, drv.tornDown, drv.deployed)
			}
		})
	}
}

func TestReconcileRuntimeUnreachable(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := dk("a", "10.0.0.1", "ssh")
	b := dk("b", "10.0.0.2", "ssh")
	if err := st.UpsertFleetDecky(ctx, row("local", a, store.DeckyRunning, 1)); err != nil {
		t.Fatalf("UpsertFleetDecky: %v", err)
	}
	drv := &fakeDriver{inspectErr: fmt.Errorf("docker: %w", driver.ErrUnreachable)}
	events := &busLog{}
	rec, err := NewReconciler(ReconcilerConfig{Driver: drv, Store: st, State: desired(1, a, b), Bus: events, Repair: true})
	if err != nil {
		t.Fatalf("NewReconciler: %v", err)
	}

	res, err := rec.Pass(ctx)
	if !errors.Is(err, driver.ErrUnreachable) || !errors.Is(res.RuntimeErr, driver.ErrUnreachable) {
		t.Fatalf("Pass error = %v, want ErrUnreachable", err)
	}
	// a keeps its state (never flipped to torn_down); b is recorded as
	// pending because nobody could observe it.
	want := map[string]string{"a": "running", "b": "pending"}
	if diff := cmp.Diff(rowStates(t, st, "local"), want); diff != "" {
		t.Errorf("row states (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(events.events, []string{"decky.local:b.state state inserted pending<-"}); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
	if len(drv.deployed) != 0 || len(drv.tornDown) != 0 {
		t.Errorf("repaired with an unreachable runtime: deployed %v, tore down %v", drv.deployed, drv.tornDown)
	}
}

func TestReconcileHostScoping(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := dk("a", "10.0.0.1", "ssh")
	peer := dk("p", "10.0.0.7", "ssh")
	for _, r := range []store.FleetDecky{row("edge-1", a, store.DeckyRunning, 1), row("edge-2", peer, store.DeckyRunning, 1), row("edge-2", a, store.DeckyFailed, 1)} {
		if err := st.UpsertFleetDecky(ctx, r); err != nil {
			t.Fatalf("UpsertFleetDecky: %v", err)
		}
	}
	drv := &fakeDriver{statuses: []driver.Status{running(a)}}
	rec, err := NewReconciler(ReconcilerConfig{HostID: "edge-1", Driver: drv, Store: st, State: desired(1)})
	if err != nil {
		t.Fatalf("NewReconciler: %v", err)
	}

	if _, err := rec.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if diff := cmp.Diff(rowStates(t, st, "edge-1"), map[string]string{}); diff != "" {
		t.Errorf("edge-1 rows (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(rowStates(t, st, "edge-2"), map[string]string{"p": "running", "a": "failed"}); diff != "" {
		t.Errorf("edge-2 rows were touched (-got +want):\n%s", diff)
	}
}

func TestReconcileStampsLastSeen(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	defer st.Close()
	a := dk("a", "10.0.0.1", "ssh")
	if err := st.UpsertFleetDecky(ctx, row("local", a, store.DeckyRunning, 1)); err != nil {
		t.Fatalf("UpsertFleetDecky: %v", err)
	}
	rec, err := NewReconciler(ReconcilerConfig{Driver: &fakeDriver{statuses: []driver.Status{running(a)}}, Store: st, State: desired(1, a)})
	if err != nil {
		t.Fatalf("NewReconciler: %v", err)
	}

	// Nothing changes between passes, yet last_seen follows the clock.
	for i := range 2 {
		now = now.Add(time.Minute)
		if _, err := rec.Pass(ctx); err != nil {
			t.Fatalf("Pass %d: %v", i, err)
		}
		got, err := st.GetFleetDecky(ctx, "local", "a")
		if err != nil {
			t.Fatalf("GetFleetDecky: %v", err)
		}
		if got.LastSeen == nil || !got.LastSeen.Equal(now) {
			t.Errorf("pass %d: last_seen = %v, want %v", i, got.LastSeen, now)
		}
	}
}

func TestReconcileSetsLastError(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := dk("a", "10.0.0.1", "ssh", "http")
	if err := st.UpsertFleetDecky(ctx, row("local", a, store.DeckyRunning, 1)); err != nil {
		t.Fatalf("UpsertFleetDecky: %v", err)
	}
	down := running(a)
	down.State = driver.StateDegraded
	down.Services["ssh"] = driver.StateFailed
	down.Detail = "ssh failed"
	drv := &fakeDriver{statuses: []driver.Status{down}}
	rec, err := NewReconciler(ReconcilerConfig{Driver: drv, Store: st, State: desired(1, a)})
	if err != nil {
		t.Fatalf("NewReconciler: %v", err)
	}
	if _, err := rec.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	got, _ := st.GetFleetDecky(ctx, "local", "a")
	if got.State != store.DeckyDegraded || got.LastError != "ssh failed" {
		t.Errorf("row = %s %q, want degraded %q", got.State, got.LastError, "ssh failed")
	}

	// Healthy again: the error clears.
	drv.statuses = []driver.Status{running(a)}
	if _, err := rec.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	got, _ = st.GetFleetDecky(ctx, "local", "a")
	if got.State != store.DeckyRunning || got.LastError != "" {
		t.Errorf("row = %s %q, want running with no error", got.State, got.LastError)
	}
}
