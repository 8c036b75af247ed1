package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// recordingDriver is a driver.Driver that only records calls; failing names
// return an error from Deploy.
type recordingDriver struct {
	running map[string]decky.Decky
	failing map[string]bool
}

func (r *recordingDriver) Name() string { return "recording" }
func (r *recordingDriver) Deploy(_ context.Context, d decky.Decky) error {
	if r.failing[d.Name] {
		return errors.New("port in use")
	}
	r.running[d.Name] = d
	return nil
}
func (r *recordingDriver) Teardown(_ context.Context, name string) error {
	if _, ok := r.running[name]; !ok {
		return driver.ErrNotFound
	}
	delete(r.running, name)
	return nil
}
func (r *recordingDriver) Inspect(context.Context) ([]driver.Status, error) {
	var out []driver.Status
	for name, d := range r.running {
		out = append(out, driver.Status{Name: name, IP: d.IP, State: driver.StateRunning})
	}
	return out, nil
}
func (r *recordingDriver) WriteFile(context.Context, string, driver.File) error     { return nil }
func (r *recordingDriver) RemoveFile(context.Context, string, string) error         { return nil }
func (r *recordingDriver) ReadFile(context.Context, string, string) ([]byte, error) { return nil, nil }

func newDeployer(t *testing.T) (*Deployer, *recordingDriver, *sqlstore.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv := &recordingDriver{running: map[string]decky.Decky{}, failing: map[string]bool{}}
	return &Deployer{Driver: drv, Store: st, StatePath: filepath.Join(dir, StateFileName), HostID: "local"}, drv, st
}

func mk(name, ip string) decky.Decky {
	return decky.Decky{Name: name, IP: ip, Services: []decky.Service{{Name: "ssh", Port: 22}}}
}

func TestDeployWritesStateAndRows(t *testing.T) {
	dep, drv, st := newDeployer(t)
	ctx := context.Background()

	if _, err := dep.Deploy(ctx, []decky.Decky{mk("decky-01", "127.77.0.2"), mk("decky-02", "127.77.0.3")}, DeployOptions{}); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	state, err := LoadState(dep.StatePath)
	if err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	if len(state.Deckies) != 2 || state.Generation != 1 {
		t.Errorf("state = %d deckies at generation %d, want 2 at 1", len(state.Deckies), state.Generation)
	}
	rows, err := st.ListFleetDeckies(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].State != store.DeckyRunning || rows[0].Generation != 1 {
		t.Errorf("rows = %+v, want two running rows at generation 1", rows)
	}
	if len(drv.running) != 2 {
		t.Errorf("driver runs %d deckies, want 2", len(drv.running))
	}

	// A second additive deploy with a taken name or address changes nothing.
	for _, dk := range []decky.Decky{mk("decky-01", "127.77.0.9"), mk("decky-09", "127.77.0.2")} {
		if _, err := dep.Deploy(ctx, []decky.Decky{dk}, DeployOptions{}); err == nil {
			t.Errorf("Deploy(%s %s) succeeded, want a conflict", dk.Name, dk.IP)
		}
	}
	if again, _ := LoadState(dep.StatePath); again.Generation != 1 {
		t.Errorf("rejected deploy moved the generation to %d", again.Generation)
	}
}

func TestDeployRecordsFailure(t *testing.T) {
	dep, drv, st := newDeployer(t)
	drv.failing["decky-02"] = true
	ctx := context.Background()

	_, err := dep.Deploy(ctx, []decky.Decky{mk("decky-01", "127.77.0.2"), mk("decky-02", "127.77.0.3")}, DeployOptions{})
	if err == nil {
		t.Fatal("Deploy succeeded with a failing decky")
	}
	row, err := st.GetFleetDecky(ctx, "local", "decky-02")
	if err != nil {
		t.Fatal(err)
	}
	if row.State != store.DeckyFailed || row.LastError != "port in use" {
		t.Errorf("failed row = state %q error %q", row.State, row.LastError)
	}
}

func TestTeardownAndResume(t *testing.T) {
	dep, drv, st := newDeployer(t)
	ctx := context.Background()
	if _, err := dep.Deploy(ctx, []decky.Decky{mk("decky-01", "127.77.0.2"), mk("decky-02", "127.77.0.3")}, DeployOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := dep.Teardown(ctx, []string{"decky-01"}, false); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if err := dep.Teardown(ctx, []string{"nope"}, false); err == nil {
		t.Error("Teardown of an unknown name succeeded")
	}
	state, _ := LoadState(dep.StatePath)
	if len(state.Deckies) != 1 || state.Deckies[0].Name != "decky-02" {
		t.Errorf("state after teardown = %+v", state.Deckies)
	}
	if _, err := st.GetFleetDecky(ctx, "local", "decky-01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("row of torn-down decky: %v", err)
	}

	// A restarted process resumes the recorded fleet.
	drv.running = map[string]decky.Decky{}
	if _, _, err := dep.Sync(ctx, true); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if _, ok := drv.running["decky-02"]; !ok || len(drv.running) != 1 {
		t.Errorf("resumed %v, want decky-02 only", drv.running)
	}

	if err := dep.Teardown(ctx, nil, true); err != nil {
		t.Fatalf("Teardown all: %v", err)
	}
	if rows, _ := st.ListFleetDeckies(ctx, "local"); len(rows) != 0 {
		t.Errorf("%d rows left after teardown --all", len(rows))
	}
}

func TestLoadStateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(filepath.Join(dir, "missing.json")); !errors.Is(err, ErrNoState) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNoState wrapping fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o600)
	if _, err := LoadState(bad); err == nil || errors.Is(err, ErrNoState) {
		t.Errorf("corrupt file: %v, want a corruption error", err)
	}
}

func TestSyncAppliesRecordedDeploy(t *testing.T) {
	dep, drv, st := newDeployer(t)
	ctx := context.Background()

	// Another process records a deploy; this one runs the driver.
	if _, err := dep.Deploy(ctx, []decky.Decky{mk("decky-01", "127.77.0.2")}, DeployOptions{RecordOnly: true}); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(drv.running) != 0 {
		t.Fatalf("record-only deploy started %d deckies", len(drv.running))
	}
	if row, _ := st.GetFleetDecky(ctx, "local", "decky-01"); row.State != store.DeckyPending {
		t.Errorf("recorded row state = %q, want pending", row.State)
	}

	if _, _, err := dep.Sync(ctx, false); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if _, ok := drv.running["decky-01"]; !ok {
		t.Error("Sync did not start the recorded decky")
	}
	if row, _ := st.GetFleetDecky(ctx, "local", "decky-01"); row.State != store.DeckyRunning {
		t.Errorf("row state after sync = %q, want running", row.State)
	}

	// A recorded teardown stops the decky at the next sync.
	if err := dep.Teardown(ctx, []string{"decky-01"}, false); err != nil {
		t.Fatal(err)
	}
	drv.running["decky-01"] = mk("decky-01", "127.77.0.2")
	if _, _, err := dep.Sync(ctx, false); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(drv.running) != 0 {
		t.Errorf("Sync left %v running", drv.running)
	}

	// Without a state file Sync refuses to act.
	os.Remove(dep.StatePath)
	drv.running["decky-07"] = mk("decky-07", "127.77.0.7")
	if _, _, err := dep.Sync(ctx, false); !errors.Is(err, ErrNoState) {
		t.Errorf("Sync without state file = %v, want ErrNoState", err)
	}
	if len(drv.running) != 1 {
		t.Error("Sync without state file tore deckies down")
	}
}
