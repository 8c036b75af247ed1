package fleet

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver/docker"
	"github.com/decnet/decnet/internal/decky/driver/docker/dockertest"
	"github.com/decnet/decnet/internal/store"
)

// TestReconcileDockerServiceStopped runs the reconciler against real
// containers: an operator stops one service container by hand, and the
// next pass marks the decky degraded and publishes the change.
func TestReconcileDockerServiceStopped(t *testing.T) {
	host := dockertest.Host(t)
	bin := dockertest.Binary(t)
	lan := dockertest.NewLAN(t, "10.213.8")
	fleetName := dockertest.Name("dnr")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	drv, err := docker.New(docker.Options{
		Host: host, Fleet: fleetName, HostID: "edge-1",
		Network: docker.NetworkConfig{Name: fleetName + "_lan", Interface: lan.Parent, Subnet: lan.Subnet, Gateway: "10.213.8.1"},
		Build:   docker.BuildConfig{Binary: bin},
	})
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if err := drv.TeardownAll(cctx); err != nil {
			t.Errorf("TeardownAll: %v", err)
		}
		drv.Close()
	})

	a := dk("a", "10.213.8.10", "ssh", "http")
	b := dk("b", "10.213.8.11", "http")
	a.Services = []decky.Service{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}
	b.Services = []decky.Service{{Name: "http", Port: 80}}

	st := openStore(t)
	for _, d := range []decky.Decky{a, b} {
		if err := drv.Deploy(ctx, d); err != nil {
			t.Fatalf("Deploy %s: %v", d.Name, err)
		}
		if err := st.UpsertFleetDecky(ctx, store.FleetDecky{HostID: "edge-1", Name: d.Name, IP: d.IP, Driver: "docker", Decky: d, State: store.DeckyRunning, Generation: 1}); err != nil {
			t.Fatalf("UpsertFleetDecky: %v", err)
		}
	}
	events := &busLog{}
	rec, err := NewReconciler(ReconcilerConfig{HostID: "edge-1", Driver: drv, Store: st, State: desired(1, a, b), Bus: events})
	if err != nil {
		t.Fatalf("NewReconciler: %v", err)
	}

	if _, err := rec.Pass(ctx); err != nil {
		t.Fatalf("first Pass: %v", err)
	}
	if diff := cmp.Diff(rowStates(t, st, "edge-1"), map[string]string{"a": "running", "b": "running"}); diff != "" {
		t.Fatalf("rows after the first pass (-got +want):\n%s", diff)
	}

	id := dockerCmd(t, host, "ps", "-q", "--filter", "label=decnet.fleet="+fleetName, "--filter", "label=decnet.decky=a", "--filter", "label=decnet.service=ssh")
	if id == "" {
		t.Fatal("no ssh container for decky a")
	}
	dockerCmd(t, host, "stop", "-t", "1", id)

	res, err := rec.Pass(ctx)
	if err != nil {
		t.Fatalf("second Pass: %v", err)
	}
	if diff := cmp.Diff(rowStates(t, st, "edge-1"), map[string]string{"a": "degraded", "b": "running"}); diff != "" {
		t.Errorf("rows after stopping ssh (-got +want):\n%s", diff)
	}
	row, _ := st.GetFleetDecky(ctx, "edge-1", "a")
	if !strings.Contains(row.LastError, "ssh") {
		t.Errorf("last_error = %q, want it to name ssh", row.LastError)
	}
	if res.StateUpdated != 1 {
		t.Errorf("StateUpdated = %d, want 1", res.StateUpdated)
	}
	want := []string{"decky.edge-1:a.state state state_changed degraded<-running"}
	if diff := cmp.Diff(events.events, want); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
}

func dockerCmd(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"-H", host}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
