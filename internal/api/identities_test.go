package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/cluster/identity"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// newIdentityHarness serves the identity routes over a store whose
// attackers were clustered by the real identity clusterer: three addresses
// share one HASSH and a fourth has its own.
func newIdentityHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var batch []sqlstore.Observation
	for i, hassh := range []string{"aaaa", "aaaa", "aaaa", "bbbb"} {
		e := services.Event{ID: fmt.Sprint("e", i), Time: t0.Add(time.Duration(i) * time.Minute), Decky: "decky-01",
			Service: "ssh", Kind: services.KindConnect, SrcIP: fmt.Sprintf("127.0.0.%d", 10+i)}
		batch = append(batch, sqlstore.Observation{Event: e, Fingerprints: map[string]string{store.FPHASSH: hassh}})
	}
	if _, err := st.IngestBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.New(st, identity.Options{}).Tick(ctx); err != nil {
		t.Fatalf("identity tick: %v", err)
	}

	svc, err := auth.NewService(st, auth.Options{Secret: testSecret, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{HostID: "local"}, Deps{Store: st, Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(s.IdentitiesGroup(st))
	h := &harness{t: t, store: st, auth: svc, server: s, http: httptest.NewServer(s.Handler())}
	t.Cleanup(h.http.Close)
	viewerHash, _ := auth.HashPassword(viewerPassword, bcrypt.MinCost)
	if _, err := st.CreateUser(ctx, store.User{Username: "viewer", PasswordHash: viewerHash, Role: store.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	h.viewerToken = h.login("viewer", viewerPassword)
	return h
}

func TestIdentityRoutes(t *testing.T) {
	h := newIdentityHarness(t)

	var list Page[sqlstore.Identity]
	resp, body := h.do("GET", "/api/v1/identities", h.viewerToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/identities = %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 2 || len(list.Data) != 2 {
		t.Fatalf("identities = %d (total %d), want 2", len(list.Data), list.Total)
	}

	counts := map[int]bool{}
	for _, id := range list.Data {
		var obs Page[store.Attacker]
		resp, body := h.do("GET", "/api/v1/identities/"+id.UUID+"/observations", h.viewerToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("observations of %s = %d %s", id.UUID, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &obs); err != nil {
			t.Fatal(err)
		}
		counts[obs.Total] = true

		var detail IdentityDetail
		resp, body = h.do("GET", "/api/v1/identities/"+id.UUID, h.viewerToken, nil)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &detail) != nil || detail.UUID != id.UUID {
			t.Errorf("detail of %s = %d %s", id.UUID, resp.StatusCode, body)
		}
	}
	if !counts[3] || !counts[1] {
		t.Errorf("observation counts = %v, want one identity of 3 and one of 1", counts)
	}

	tests := []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/api/v1/identities", "", http.StatusUnauthorized},
		{"unknown uuid", "/api/v1/identities/00000000-0000-0000-0000-000000000000", h.viewerToken, http.StatusNotFound},
		{"unknown observations", "/api/v1/identities/nope/observations", h.viewerToken, http.StatusNotFound},
		// The static events route wins over {uuid}: without a bus it is 503, not 404.
		{"events not shadowed", "/api/v1/identities/events", h.viewerToken, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := h.do("GET", tt.path, tt.token, nil); resp.StatusCode != tt.want {
				t.Errorf("GET %s = %d %s, want %d", tt.path, resp.StatusCode, body, tt.want)
			}
		})
	}
}
