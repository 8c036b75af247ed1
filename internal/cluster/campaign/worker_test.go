package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
)

// fakeTicker counts ticks and returns a scripted result or error.
type fakeTicker struct {
	mu    sync.Mutex
	ticks int
	res   Result
	err   error
	ch    chan struct{}
}

func (f *fakeTicker) Tick(context.Context) (Result, error) {
	f.mu.Lock()
	f.ticks++
	res, err := f.res, f.err
	f.res = Result{}
	f.mu.Unlock()
	f.ch <- struct{}{}
	return res, err
}

func waitTick(t *testing.T, f *fakeTicker) {
	t.Helper()
	select {
	case <-f.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no tick within 10 s")
	}
}

func TestWorkerPublishesAndWakes(t *testing.T) {
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "campaign-test")
	ctx, cancel := context.WithCancel(context.Background())

	prior := "cmp-old"
	ft := &fakeTicker{ch: make(chan struct{}, 8), err: errors.New("database is locked")}
	w := &Worker{Clusterer: ft, Bus: b, Debounce: 10 * time.Millisecond, PollInterval: time.Hour}

	var mu sync.Mutex
	got := map[string][]json.RawMessage{}
	sub, err := b.Subscribe(">", func(m bus.Msg) {
		env, err := m.Envelope()
		if err != nil {
			return
		}
		mu.Lock()
		got[m.Subject] = append(got[m.Subject], env.Payload)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitTick(t, ft) // the first tick fails; the loop goes on

	ft.mu.Lock()
	ft.res = Result{
		Formed:           []Formed{{CampaignUUID: "cmp-1", IdentityUUIDs: []string{"i-1", "i-2"}}},
		Assigned:         []Assigned{{CampaignUUID: "cmp-1", IdentityUUID: "i-3", PriorCampaignUUID: &prior}},
		Merged:           []Merged{{WinnerUUID: "cmp-1", LoserUUID: "cmp-old", CampaignUUID: "cmp-1"}},
		Unmerged:         []Unmerged{{ResurrectedUUID: "cmp-9", FormerWinnerUUID: "cmp-1"}},
		IdentityAssigned: []IdentityAssigned{{IdentityUUID: "i-1", CampaignUUID: "cmp-1"}, {IdentityUUID: "i-2", CampaignUUID: "cmp-1"}, {IdentityUUID: "i-3", CampaignUUID: "cmp-1", PriorCampaignUUID: &prior}},
	}
	ft.err = nil
	ft.mu.Unlock()

	// An identity event wakes the worker.
	b.PublishSafely(ctx, bus.IdentityFormed, "formed", map[string]string{"identity_uuid": "i-1"})
	waitTick(t, ft)

	var counts map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		counts = map[string]int{}
		for k, v := range got {
			counts[k] = len(v)
		}
		mu.Unlock()
		if counts[bus.IdentityCampaignAssigned] == 3 {
			break
		}
	}
	want := map[string]int{
		bus.IdentityFormed: 1, bus.CampaignFormed: 1, bus.CampaignIdentityAssigned: 1,
		bus.CampaignMerged: 1, bus.CampaignUnmerged: 1, bus.IdentityCampaignAssigned: 3,
	}
	if diff := cmp.Diff(counts, want); diff != "" {
		t.Errorf("published subjects (-got +want):\n%s", diff)
	}

	// The worker's own identity.campaign.assigned events did not wake it.
	time.Sleep(200 * time.Millisecond)
	ft.mu.Lock()
	ticks := ft.ticks
	ft.mu.Unlock()
	if ticks != 2 {
		t.Errorf("ticks = %d, want 2 (its own events must not wake it)", ticks)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not stop within 5 s")
	}
}
