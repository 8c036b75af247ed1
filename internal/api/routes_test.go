package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// routeSample is a request that succeeds for an admin on one route.
type routeSample struct {
	path string
	body any
	// last routes run after every other one, each with a token from a new
	// login, because they delete fixtures or end the caller's token.
	last bool
}

// seed inserts one decky, one attacker with a log row and a credential,
// and one webhook target.
func (h *harness) seed() {
	h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()

	err := h.store.UpsertFleetDecky(ctx, store.FleetDecky{HostID: "local", Name: "decky-01", IP: "127.77.0.2", Driver: "native",
		Decky: decky.Decky{Name: "decky-01"}, State: store.DeckyRunning})
	if err != nil {
		h.t.Fatalf("UpsertFleetDecky: %v", err)
	}
	_, err = h.store.IngestBatch(ctx, []sqlstore.Observation{{
		Event:      services.Event{ID: "ev-1", Time: now, Decky: "decky-01", Service: "ssh", Kind: services.KindAuthAttempt, SrcIP: "203.0.113.5", SrcPort: 4000},
		Credential: &sqlstore.CredentialAttempt{Principal: "root", SecretKind: "plaintext", Secret: []byte("toor"), SecretPrintable: "toor", Outcome: "failure"},
	}})
	if err != nil {
		h.t.Fatalf("IngestBatch: %v", err)
	}
	resp, body := h.do("POST", "/api/v1/webhooks", h.adminToken, map[string]any{
		"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/hook", "subjects": []string{"attacker.>"},
	})
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("create webhook: %d %s", resp.StatusCode, body)
	}
}

func (h *harness) samples() map[string]routeSample {
	return map[string]routeSample{
		"GET /healthz":                       {path: "/healthz"},
		"GET /readyz":                        {path: "/readyz"},
		"GET /metrics":                       {path: "/metrics"},
		"GET /api/v1/openapi.json":           {path: "/api/v1/openapi.json"},
		"POST /api/v1/auth/login":            {path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": adminPassword}},
		"GET /api/v1/auth/me":                {path: "/api/v1/auth/me"},
		"POST /api/v1/auth/password":         {path: "/api/v1/auth/password", body: map[string]string{"current_password": adminPassword, "new_password": adminPassword + "-next"}, last: true},
		"POST /api/v1/auth/logout":           {path: "/api/v1/auth/logout", last: true},
		"POST /api/v1/auth/stream-ticket":    {path: "/api/v1/auth/stream-ticket"},
		"GET /api/v1/users":                  {path: "/api/v1/users?limit=10"},
		"POST /api/v1/users":                 {path: "/api/v1/users", body: map[string]string{"username": "carol", "password": "carol password 1", "role": "viewer"}},
		"GET /api/v1/users/{uuid}":           {path: "/api/v1/users/" + h.viewerUUID},
		"PATCH /api/v1/users/{uuid}":         {path: "/api/v1/users/" + h.viewerUUID, body: map[string]any{"role": "viewer"}},
		"POST /api/v1/users/{uuid}/password": {path: "/api/v1/users/" + h.viewerUUID + "/password", body: map[string]any{"password": viewerPassword}},
		"DELETE /api/v1/users/{uuid}":        {path: "/api/v1/users/" + h.viewerUUID, last: true},
		"GET /api/v1/deckies":                {path: "/api/v1/deckies"},
		"GET /api/v1/deckies/{name}":         {path: "/api/v1/deckies/decky-01"},
		"POST /api/v1/deckies/deploy":        {path: "/api/v1/deckies/deploy", body: map[string]any{"count": 1}},
		"DELETE /api/v1/deckies/{name}":      {path: "/api/v1/deckies/decky-01"},
		"GET /api/v1/attackers":              {path: "/api/v1/attackers?decky=decky-01&service=ssh&since=2000-01-01T00:00:00Z"},
		"GET /api/v1/attackers/{id}":         {path: "/api/v1/attackers/203.0.113.5"},
		"GET /api/v1/logs":                   {path: "/api/v1/logs?kind=auth_attempt"},
		"GET /api/v1/credentials":            {path: "/api/v1/credentials?attacker_ip=203.0.113.5"},
		"GET /api/v1/workers":                {path: "/api/v1/workers"},
		"POST /api/v1/workers/{name}/stop":   {path: "/api/v1/workers/orchestrator/stop"},
		"GET /api/v1/events/stream":          {path: "/api/v1/events/stream"},
		"GET /api/v1/webhooks":               {path: "/api/v1/webhooks"},
		"POST /api/v1/webhooks":              {path: "/api/v1/webhooks", body: map[string]any{"name": "siem2", "kind": "syslog", "address": "127.0.0.1:9", "transport": "udp", "subjects": []string{"canary.>"}}},
		"DELETE /api/v1/webhooks/{name}":     {path: "/api/v1/webhooks/siem", last: true},
		"POST /api/v1/webhooks/{name}/test":  {path: "/api/v1/webhooks/siem2/test"},
		"GET /api/v1/webhooks/dead-letters":  {path: "/api/v1/webhooks/dead-letters?target=siem"},
	}
}

// doRoute sends a sample request; stream routes are closed once the
// headers arrived.
func (h *harness) doRoute(r Route, s routeSample, token string) (int, string) {
	h.t.Helper()
	if !r.Stream {
		resp, body := h.do(r.Method, s.path, token, s.body)
		return resp.StatusCode, string(body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, r.Method, h.http.URL+s.path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s: %v", r.pattern(), err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type")
}

func TestWorkerStopUnknownName(t *testing.T) {
	h := newHarness(t, harnessOptions{withBus: true})
	resp, body := h.do("POST", "/api/v1/workers/nope/stop", h.login("admin", adminPassword), nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("stop of an unknown worker = %d %s, want 404", resp.StatusCode, body)
	}
}

func TestRouteTableRoles(t *testing.T) {
	h := newHarness(t, harnessOptions{withBus: true})
	h.seed()
	samples := h.samples()
	routes := h.server.Routes()

	for _, r := range routes {
		if _, ok := samples[r.pattern()]; !ok {
			t.Fatalf("route %s has no sample request in the test table", r.pattern())
		}
	}

	for _, r := range routes {
		s := samples[r.pattern()]
		t.Run(r.pattern(), func(t *testing.T) {
			if r.Role == Public {
				return
			}
			code, body := h.doRoute(r, s, "")
			if code != http.StatusUnauthorized {
				t.Errorf("no token: status %d (%s), want 401", code, body)
			}
			if r.Role == Admin {
				code, body := h.doRoute(r, s, h.viewerToken)
				if code != http.StatusForbidden {
					t.Errorf("viewer token: status %d (%s), want 403", code, body)
				}
			}
		})
	}

	run := func(last bool) {
		for _, r := range routes {
			s := samples[r.pattern()]
			if s.last != last {
				continue
			}
			t.Run(r.pattern()+" as admin", func(t *testing.T) {
				token := h.adminToken
				if s.last {
					// The password route changes the admin password, so a
					// later route logs in with whichever one is current.
					token = h.tryLogin("admin", adminPassword)
					if token == "" {
						token = h.login("admin", adminPassword+"-next")
					}
				}
				code, body := h.doRoute(r, s, token)
				if code != r.successStatus() {
					t.Errorf("admin: status %d (%s), want %d", code, body, r.successStatus())
				}
				if r.Stream && !strings.HasPrefix(body, "text/event-stream") {
					t.Errorf("admin: Content-Type %q, want text/event-stream", body)
				}
			})
		}
	}
	run(false)
	run(true)
}

func TestForgedTokensRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	claims, err := h.auth.Tokens().Parse(h.viewerToken)
	if err != nil {
		t.Fatalf("Parse(viewer token): %v", err)
	}

	parts := strings.Split(h.viewerToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"typ":"access"`, `"typ":"access","role":"admin"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]

	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("another-secret-another-secret-0000"))
	expiredClaims := claims
	expiredClaims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	expiredClaims.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, expiredClaims).SignedString(testSecret)
	unknownUser := claims
	unknownUser.Subject = "no-such-user"
	unknown, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, unknownUser).SignedString(testSecret)

	tests := []struct {
		name   string
		header string
	}{
		{"tampered payload", "Bearer " + tampered},
		{"alg none", "Bearer " + none},
		{"wrong key", "Bearer " + wrongKey},
		{"expired", "Bearer " + expired},
		{"unknown user", "Bearer " + unknown},
		{"basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminPassword))},
		{"empty bearer", "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.http.URL+"/api/v1/auth/me", nil)
			req.Header.Set("Authorization", tt.header)
			resp, err := h.http.Client().Do(req)
			if err != nil {
				t.Fatalf("GET /api/v1/auth/me: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	h := newHarness(t, harnessOptions{})

	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantDetail string
	}{
		{"malformed JSON", "POST", "/api/v1/users", `{"username": `, 400, "truncated"},
		{"syntax error", "POST", "/api/v1/users", `{"username" "x"}`, 400, "invalid JSON"},
		{"unknown field", "POST", "/api/v1/users", `{"username":"bob","password":"bob password 12","role":"viewer","admin":true}`, 422, "admin: unknown field"},
		{"wrong type", "POST", "/api/v1/users", `{"username":5,"password":"bob password 12","role":"viewer"}`, 422, "username: must be a string"},
		{"missing field", "POST", "/api/v1/users", map[string]string{"password": "bob password 12", "role": "viewer"}, 422, "username: is required"},
		{"short password", "POST", "/api/v1/users", map[string]string{"username": "bob", "password": "short", "role": "viewer"}, 422, "password: must be at least 12 bytes"},
		{"bad role", "POST", "/api/v1/users", map[string]string{"username": "bob", "password": "bob password 12", "role": "root"}, 422, "role: must be one of admin, viewer"},
		{"bad username", "POST", "/api/v1/users", map[string]string{"username": "bob smith", "password": "bob password 12", "role": "viewer"}, 422, "username: must match"},
		{"duplicate user", "POST", "/api/v1/users", map[string]string{"username": "viewer", "password": "bob password 12", "role": "viewer"}, 409, "already exists"},
		{"limit too large", "GET", "/api/v1/attackers?limit=5000", nil, 400, "limit: must be between 1 and 1000"},
		{"limit not a number", "GET", "/api/v1/logs?limit=ten", nil, 400, "limit: must be an integer"},
		{"bad time", "GET", "/api/v1/attackers?since=yesterday", nil, 400, "since: must be an RFC 3339 time"},
		{"unknown attacker", "GET", "/api/v1/attackers/198.51.100.1", nil, 404, "not found"},
		{"unknown route", "GET", "/api/v1/nothing", nil, 404, "no route"},
		{"unknown decky teardown", "DELETE", "/api/v1/deckies/missing", nil, 404, "not found"},
		{"deploy count zero", "POST", "/api/v1/deckies/deploy", map[string]int{"count": 0}, 422, "count: must be at least 1"},
		{"deploy too many", "POST", "/api/v1/deckies/deploy", map[string]int{"count": 251}, 422, "count: must be at most 250"},
		{"webhook metadata address", "POST", "/api/v1/webhooks", map[string]any{"name": "x", "kind": "http", "url": "http://169.254.169.254/latest", "subjects": []string{"canary.>"}}, 422, "link-local"},
		{"webhook bad filter", "POST", "/api/v1/webhooks", map[string]any{"name": "x", "kind": "http", "url": "http://127.0.0.1/", "subjects": []string{"system.>"}}, 422, "must start with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(tt.method, tt.path, h.adminToken, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if d := detail(t, body); !strings.Contains(d, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", d, tt.wantDetail)
			}
		})
	}

	t.Run("content type", func(t *testing.T) {
		req, _ := http.NewRequest("POST", h.http.URL+"/api/v1/auth/login", strings.NewReader(`{"username":"a","password":"b"}`))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := h.http.Client().Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status = %d, want 415", resp.StatusCode)
		}
	})

	t.Run("body too large", func(t *testing.T) {
		big := `{"username":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `","password":"x"}`
		resp, body := h.do("POST", "/api/v1/auth/login", "", big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d (%s), want 413", resp.StatusCode, body)
		}
	})
}

func TestPaginationTotals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	var batch []sqlstore.Observation
	for i := 0; i < 7; i++ {
		batch = append(batch, sqlstore.Observation{Event: services.Event{
			ID: "ev-" + string(rune('a'+i)), Time: time.Now().UTC(), Decky: "decky-01", Service: "ssh",
			Kind: services.KindConnect, SrcIP: "198.51.100." + string(rune('1'+i)),
		}})
	}
	if _, err := h.store.IngestBatch(ctx, batch); err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}

	var page Page[store.Attacker]
	resp, body := h.do("GET", "/api/v1/attackers?limit=3&offset=5", h.viewerToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	decodeJSON(t, body, &page)
	if page.Total != 7 || page.Limit != 3 || page.Offset != 5 || len(page.Data) != 2 {
		t.Errorf("page = total %d limit %d offset %d items %d, want 7 3 5 2", page.Total, page.Limit, page.Offset, len(page.Data))
	}
}

func TestMustChangePasswordGate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	hash, _ := auth.HashPassword("first password 1", 4)
	if _, err := h.store.CreateUser(context.Background(), store.User{Username: "newbie", PasswordHash: hash, Role: store.RoleViewer, MustChangePassword: true}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	token := h.login("newbie", "first password 1")

	if resp, _ := h.do("GET", "/api/v1/attackers", token, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("attackers before the change: status %d, want 403", resp.StatusCode)
	}
	resp, body := h.do("POST", "/api/v1/auth/password", token, map[string]string{"current_password": "first password 1", "new_password": "second password 2"})
	if resp.StatusCode != 200 {
		t.Fatalf("password change: status %d (%s)", resp.StatusCode, body)
	}
	var tr TokenResponse
	decodeJSON(t, body, &tr)

	if resp, _ := h.do("GET", "/api/v1/attackers", token, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old token after the change: status %d, want 401", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/api/v1/attackers", tr.AccessToken, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("new token: status %d, want 200", resp.StatusCode)
	}
}

func TestLoginRateLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := 0; i < auth.MaxFailures; i++ {
		resp, _ := h.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong password"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, body := h.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d (%s), want 429", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
}

func TestLastAdminConflict(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	me := h.do
	resp, body := me("GET", "/api/v1/auth/me", h.adminToken, nil)
	var p auth.Principal
	decodeJSON(t, body, &p)
	if resp.StatusCode != 200 {
		t.Fatalf("me: %d", resp.StatusCode)
	}
	resp, body = h.do("PATCH", "/api/v1/users/"+p.UUID, h.adminToken, map[string]any{"disabled": true})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("disable last admin: status %d (%s), want 409", resp.StatusCode, body)
	}
}

// tryLogin returns a token, or "" when the credentials are rejected.
func (h *harness) tryLogin(user, pw string) string {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw})
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var tr TokenResponse
	decodeJSON(h.t, body, &tr)
	return tr.AccessToken
}

func TestQueryWithSemicolonRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp, body := h.do("GET", "/api/v1/logs?src_ip=127.0.0.9;", h.viewerToken, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("query with ';' = %d %s, want 400", resp.StatusCode, body)
	}
}
