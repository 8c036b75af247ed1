package workers_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/workers"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// statuses returns name/instance → status from a snapshot.
func statuses(r *workers.Registry) map[string]workers.Status {
	out := map[string]workers.Status{}
	for _, ws := range r.Snapshot() {
		out[ws.Name+"/"+ws.InstanceID] = ws.Status
	}
	return out
}

type healthyWorker struct{}

func (healthyWorker) Name() string { return "ingester" }
func (healthyWorker) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
func (healthyWorker) Health() map[string]any { return map[string]any{"queue": 3} }

func TestHeartbeatAndRegistry(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "test")
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}

	reg := workers.NewRegistry([]string{"api", "ingester"}, clock.Now)
	sub, err := reg.Subscribe(b)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		r := &workers.Runner{Bus: b, InstanceID: "inst-1", HeartbeatInterval: 20 * time.Millisecond, Now: clock.Now}
		done <- r.Run(ctx, healthyWorker{},
			// An unknown worker's heartbeats are ignored.
			workers.NewFunc("stranger", func(ctx context.Context) error { <-ctx.Done(); return nil }))
	}()

	waitFor(t, "an ingester heartbeat", func() bool { return statuses(reg)["ingester/inst-1"] == workers.StatusOK })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := map[string]workers.Status{"api/": workers.StatusUnknown, "ingester/inst-1": workers.StatusOK}
	if diff := cmp.Diff(statuses(reg), want); diff != "" {
		t.Errorf("statuses (-got +want):\n%s", diff)
	}

	snap := reg.Snapshot()
	hb := snap[1].Heartbeat
	if hb == nil || hb.PID == 0 || hb.Host == "" || !hb.StartedAt.Equal(clock.Now()) || hb.Extra["queue"] != float64(3) {
		t.Errorf("heartbeat = %+v, want pid, host, started_at and extra.queue filled", hb)
	}

	clock.Advance(89 * time.Second)
	if got, _ := reg.Status("ingester"); got != workers.StatusOK {
		t.Errorf("status after 89s = %s, want ok", got)
	}
	clock.Advance(2 * time.Second)
	if got, _ := reg.Status("ingester"); got != workers.StatusStale {
		t.Errorf("status after 91s = %s, want stale", got)
	}
	if got, _ := reg.Status("api"); got != workers.StatusUnknown {
		t.Errorf("api status = %s, want unknown", got)
	}
	if _, ok := reg.Status("stranger"); ok {
		t.Error("Status(stranger) reported a worker outside the known list")
	}

	clock.Advance(workers.DefaultForgetAfter)
	if diff := cmp.Diff(statuses(reg), map[string]workers.Status{"api/": workers.StatusUnknown, "ingester/": workers.StatusUnknown}); diff != "" {
		t.Errorf("statuses after a day (-got +want):\n%s", diff)
	}
}

func TestControlStopAndRestart(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "test")

	var clustererRuns, webhookRuns atomic.Int32
	clusterer := workers.NewFunc("clusterer", func(ctx context.Context) error {
		clustererRuns.Add(1)
		<-ctx.Done()
		return nil
	})
	webhook := workers.NewFunc("webhook", func(ctx context.Context) error {
		webhookRuns.Add(1)
		<-ctx.Done()
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		r := &workers.Runner{Bus: b}
		done <- r.Run(ctx, clusterer, webhook)
	}()

	// The control listener may subscribe a moment after the worker
	// starts, so the request is repeated until it is seen.
	waitFor(t, "clusterer restart", func() bool {
		if err := workers.SendControl(ctx, b, "clusterer", workers.ActionRestart, "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return clustererRuns.Load() >= 2
	})

	// A bare JSON object works as well as an envelope.
	waitFor(t, "webhook stop", func() bool {
		if err := b.Conn().Publish("system.webhook.control", []byte(`{"action":"stop"}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return webhookStopped(b)
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := webhookRuns.Load(); got != 1 {
		t.Errorf("webhook ran %d times, want 1", got)
	}
}

// webhookStopped reports whether the webhook's control listener is gone,
// which the runner does once the stopped worker returned.
func webhookStopped(b *bus.Bus) bool {
	// A request with no responders fails fast once nobody subscribes.
	_, err := b.Conn().Request("system.webhook.control", []byte(`{"action":"status"}`), 50*time.Millisecond)
	return errors.Is(err, nats.ErrNoResponders)
}

func TestParseControl(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    workers.ControlRequest
		wantErr bool
	}{
		{"bare stop", `{"action":"stop"}`, workers.ControlRequest{Action: "stop"}, false},
		{"bare with requester", `{"action":"restart","requested_by":"admin"}`, workers.ControlRequest{Action: "restart", RequestedBy: "admin"}, false},
		{"envelope", `{"schema_version":1,"type":"control","payload":{"action":"stop","requested_by":"api"}}`, workers.ControlRequest{Action: "stop", RequestedBy: "api"}, false},
		{"no action", `{"requested_by":"x"}`, workers.ControlRequest{}, true},
		{"not json", `stop`, workers.ControlRequest{}, true},
		{"payload not object", `{"payload":"stop"}`, workers.ControlRequest{}, true},
		{"oversized", `{"action":"stop","requested_by":"` + string(make([]byte, 5000)) + `"}`, workers.ControlRequest{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workers.ParseControl([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseControl error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ParseControl (-got +want):\n%s", diff)
			}
		})
	}
}

func FuzzParseControl(f *testing.F) {
	for _, s := range []string{`{"action":"stop"}`, `{"payload":{"action":"restart"}}`, `{}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := workers.ParseControl(data)
		if err == nil && req.Action == "" {
			t.Fatalf("ParseControl(%q) accepted a request with no action", data)
		}
	})
}
