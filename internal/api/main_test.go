package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
	"github.com/decnet/decnet/internal/webhook"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// modernc.org/sqlite and nats keep process-wide helpers.
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

var testSecret = []byte("test-secret-0123456789abcdef-0123456789")

const (
	adminPassword  = "admin password 1"
	viewerPassword = "viewer password 1"
)

// harness is an API server over a real SQLite store, optionally with a real
// embedded NATS server.
type harness struct {
	t      *testing.T
	store  *sqlstore.Store
	auth   *auth.Service
	bus    *bus.Bus
	server *Server
	http   *httptest.Server
	fleet  *fakeFleet

	adminToken  string
	viewerToken string
	viewerUUID  string
}

type harnessOptions struct {
	withBus   bool
	keepalive time.Duration
}

type fakeFleet struct {
	deployed []DeployRequest
	torn     []string
}

func (f *fakeFleet) Deploy(_ context.Context, req DeployRequest) (DeployResult, error) {
	f.deployed = append(f.deployed, req)
	return DeployResult{Deckies: []string{"decky-09"}}, nil
}

func (f *fakeFleet) Teardown(_ context.Context, name string) error {
	if name == "missing" {
		return store.ErrNotFound
	}
	f.torn = append(f.torn, name)
	return nil
}

func newHarness(t *testing.T, opts harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()

	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })

	svc, err := auth.NewService(st, auth.Options{Secret: testSecret, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("auth.NewService: %v", err)
	}
	h := &harness{t: t, store: st, auth: svc, fleet: &fakeFleet{}}

	deps := Deps{Store: st, Auth: svc, Fleet: h.fleet,
		Webhooks: webhook.NewAdmin(webhook.NewStore(st.DB(), nil), nil, false, nil)}
	if opts.withBus {
		srv := bustest.Start(t)
		h.bus = bustest.Connect(t, srv, "api")
		deps.Bus = h.bus
	}

	s, err := New(Config{HostID: "local", KeepaliveInterval: opts.keepalive}, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.server = s
	h.http = httptest.NewServer(s.Handler())
	t.Cleanup(h.http.Close)

	adminHash, _ := auth.HashPassword(adminPassword, bcrypt.MinCost)
	if _, err := st.CreateUser(ctx, store.User{Username: "admin", PasswordHash: adminHash, Role: store.RoleAdmin}); err != nil {
		t.Fatalf("CreateUser(admin): %v", err)
	}
	viewerHash, _ := auth.HashPassword(viewerPassword, bcrypt.MinCost)
	viewer, err := st.CreateUser(ctx, store.User{Username: "viewer", PasswordHash: viewerHash, Role: store.RoleViewer})
	if err != nil {
		t.Fatalf("CreateUser(viewer): %v", err)
	}
	h.viewerUUID = viewer.UUID
	h.adminToken = h.login("admin", adminPassword)
	h.viewerToken = h.login("viewer", viewerPassword)
	return h
}

func (h *harness) login(user, pw string) string {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("login %s: status %d body %s", user, resp.StatusCode, body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		h.t.Fatalf("login %s: decode: %v", user, err)
	}
	return tr.AccessToken
}

// do sends a request with an optional bearer token and JSON body.
func (h *harness) do(method, path, token string, body any) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, h.http.URL+path, rd)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// detail decodes an error body and fails when it is not {"detail": ...}.
func detail(t *testing.T, body []byte) string {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	d, ok := e["detail"].(string)
	if !ok || d == "" {
		t.Fatalf("error body %s has no detail string", body)
	}
	return d
}

func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
