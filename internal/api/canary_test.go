package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/canary/blobstore"
	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver/native"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// canaryHarness is an API server with the canary routes over a real
// SQLite store, blob store and native decky driver.
type canaryHarness struct {
	*harness
	drv   *native.Driver
	decky decky.Decky
	blobs *blobstore.Store
}

const canaryUploadMax = 64 << 10

func newCanaryHarness(t *testing.T, withPlanter bool) *canaryHarness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()

	st, err := sqlstore.Open(ctx, filepath.Join(dir, "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := auth.NewService(st, auth.Options{Secret: testSecret, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobstore.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}

	ds, err := decky.Build(decky.BuildOptions{Count: 1, Services: []string{"ssh"}, Implemented: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	d.Services, d.IP, d.Persona = nil, "127.0.0.1", decky.PersonaLinux
	drv := native.New(native.Config{DataDir: dir})
	if err := drv.Deploy(ctx, d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drv.Close)

	cfg := CanaryConfig{Store: st, Blobs: blobs, UploadMax: canaryUploadMax}
	if withPlanter {
		cfg.Planter = &planter.Planter{Store: st, Driver: drv, Blobs: blobs, HTTPBase: "http://127.0.0.1:8088", DNSZone: "t.test",
			Deckies: func(ctx context.Context, name string) (decky.Decky, error) {
				if name == d.Name {
					return d, nil
				}
				return decky.Decky{}, store.ErrNotFound
			}}
	}

	s, err := New(Config{HostID: "local"}, Deps{Store: st, Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(CanaryRoutes(cfg))
	h := &harness{t: t, store: st, auth: svc, server: s, http: httptest.NewServer(s.Handler())}
	t.Cleanup(h.http.Close)

	adminHash, _ := auth.HashPassword(adminPassword, bcrypt.MinCost)
	if _, err := st.CreateUser(ctx, store.User{Username: "admin", PasswordHash: adminHash, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	viewerHash, _ := auth.HashPassword(viewerPassword, bcrypt.MinCost)
	if _, err := st.CreateUser(ctx, store.User{Username: "viewer", PasswordHash: viewerHash, Role: store.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	h.adminToken = h.login("admin", adminPassword)
	h.viewerToken = h.login("viewer", viewerPassword)
	return &canaryHarness{harness: h, drv: drv, decky: d, blobs: blobs}
}

// upload posts content as the multipart part "file" (or another name).
func (h *canaryHarness) upload(token, part, name string, content []byte) (*http.Response, []byte) {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile(part, name)
	w.Write(content)
	mw.Close()

	req, _ := http.NewRequest("POST", h.http.URL+"/api/v1/canary/blobs", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (h *canaryHarness) uploadBlob(content []byte, name string) CanaryBlobResponse {
	h.t.Helper()
	resp, body := h.upload(h.adminToken, "file", name, content)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("upload %s: %d %s", name, resp.StatusCode, body)
	}
	var b CanaryBlobResponse
	decodeJSON(h.t, body, &b)
	return b
}

func (h *canaryHarness) mint(req map[string]any) CanaryTokenResponse {
	h.t.Helper()
	resp, body := h.do("POST", "/api/v1/canary/tokens", h.adminToken, req)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("create token %v: %d %s", req, resp.StatusCode, body)
	}
	var tok CanaryTokenResponse
	decodeJSON(h.t, body, &tok)
	return tok
}

func (h *canaryHarness) hostFile(path string) string {
	return filepath.Join(h.drv.Root(h.decky.Name), filepath.FromSlash(strings.TrimPrefix(path, "/")))
}

func TestCanaryBlobUpload(t *testing.T) {
	h := newCanaryHarness(t, true)
	content := []byte("# notes\nnothing to see\n")

	first := h.uploadBlob(content, "notes.txt")
	second := h.uploadBlob(content, "other.txt")
	if first.UUID != second.UUID || second.Filename != "notes.txt" {
		t.Errorf("re-upload = %+v, want the first row %s named notes.txt", second, first.UUID)
	}
	if first.ContentType != "text/plain" || first.SizeBytes != int64(len(content)) || first.TokenCount != 0 {
		t.Errorf("blob = %+v", first)
	}

	tests := []struct {
		name   string
		part   string
		data   []byte
		status int
	}{
		{"empty file", "file", nil, http.StatusBadRequest},
		{"no file part", "document", content, http.StatusUnprocessableEntity},
		{"too large", "file", bytes.Repeat([]byte("a"), canaryUploadMax+1), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.upload(h.adminToken, tt.part, "x.txt", tt.data)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			detail(t, body)
		})
	}

	resp, body := h.do("POST", "/api/v1/canary/blobs", h.adminToken, map[string]string{"file": "x"})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON upload: %d %s, want 415", resp.StatusCode, body)
	}
	if resp, _ := h.upload(h.viewerToken, "file", "x.txt", content); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer upload: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.upload("", "file", "x.txt", content); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous upload: %d, want 401", resp.StatusCode)
	}

	var list CanaryBlobList
	resp, body = h.do("GET", "/api/v1/canary/blobs", h.adminToken, nil)
	decodeJSON(t, body, &list)
	if resp.StatusCode != http.StatusOK || list.Total != 1 || len(list.Blobs) != 1 {
		t.Errorf("blob list = %d %s", resp.StatusCode, body)
	}
}

func TestCanaryBlobRefcountAndDelete(t *testing.T) {
	h := newCanaryHarness(t, true)
	b := h.uploadBlob([]byte("api_key = {{CANARY_URL}}\n"), "settings.ini")

	tok := h.mint(map[string]any{"decky_name": h.decky.Name, "blob_uuid": b.UUID})
	if tok.Instrumenter == nil || *tok.Instrumenter != "plain" || tok.State != "planted" {
		t.Fatalf("blob token = %+v", tok)
	}
	var list CanaryBlobList
	_, body := h.do("GET", "/api/v1/canary/blobs", h.adminToken, nil)
	decodeJSON(t, body, &list)
	if list.Blobs[0].TokenCount != 1 {
		t.Errorf("token_count = %d, want 1", list.Blobs[0].TokenCount)
	}

	resp, body := h.do("DELETE", "/api/v1/canary/blobs/"+b.UUID, h.adminToken, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("delete referenced blob: %d %s, want 409", resp.StatusCode, body)
	}
	h.do("DELETE", "/api/v1/canary/tokens/"+tok.UUID, h.adminToken, nil)
	if resp, _ := h.do("DELETE", "/api/v1/canary/blobs/"+b.UUID, h.adminToken, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("delete blob of a revoked token: %d, want 409", resp.StatusCode)
	}
	if resp, _ := h.do("DELETE", "/api/v1/canary/blobs/missing", h.adminToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete missing blob: %d, want 404", resp.StatusCode)
	}

	free := h.uploadBlob([]byte("unused\n"), "u.txt")
	resp, body = h.do("DELETE", "/api/v1/canary/blobs/"+free.UUID, h.adminToken, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("delete unreferenced blob: %d %s", resp.StatusCode, body)
	}
	if _, err := h.blobs.Open(free.SHA256); err == nil {
		t.Error("blob bytes still on disk after delete")
	}
}

func TestCanaryCreateTokenErrors(t *testing.T) {
	h := newCanaryHarness(t, true)
	pdf := h.uploadBlob([]byte("%PDF-1.7\nthis is not a real document\n"), "broken.pdf")
	d := h.decky.Name

	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"neither source", map[string]any{"decky_name": d}, http.StatusBadRequest, "exactly one of blob_uuid or generator"},
		{"both sources", map[string]any{"decky_name": d, "generator": "env_file", "blob_uuid": pdf.UUID}, http.StatusBadRequest, "exactly one"},
		{"relative path", map[string]any{"decky_name": d, "generator": "env_file", "placement_path": "etc/x"}, http.StatusBadRequest, "placement_path"},
		{"dot-dot path", map[string]any{"decky_name": d, "generator": "env_file", "placement_path": "/tmp/../x"}, http.StatusBadRequest, "placement_path"},
		{"unknown generator", map[string]any{"decky_name": d, "generator": "bogus"}, http.StatusBadRequest, "unknown generator"},
		{"missing blob", map[string]any{"decky_name": d, "blob_uuid": "nope"}, http.StatusNotFound, "blob not found"},
		{"unknown topology", map[string]any{"decky_name": d, "generator": "env_file", "topology_id": "t1"}, http.StatusNotFound, "topology"},
		{"unknown decky", map[string]any{"decky_name": "decky-99", "generator": "env_file"}, http.StatusUnprocessableEntity, "decky_name"},
		{"kind mismatch", map[string]any{"decky_name": d, "generator": "aws_creds", "kind": "http"}, http.StatusUnprocessableEntity, "aws_creds"},
		{"bad kind", map[string]any{"decky_name": d, "generator": "env_file", "kind": "smtp"}, http.StatusUnprocessableEntity, "kind"},
		{"empty decky", map[string]any{"decky_name": "", "generator": "env_file"}, http.StatusUnprocessableEntity, "decky_name"},
		{"unknown field", map[string]any{"decky_name": d, "generator": "env_file", "colour": "red"}, http.StatusUnprocessableEntity, "colour"},
		{"instrumenter rejects", map[string]any{"decky_name": d, "blob_uuid": pdf.UUID}, http.StatusUnsupportedMediaType, "pdf"},
		{"not JSON", "decky_name=x", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/api/v1/canary/tokens", h.adminToken, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if got := detail(t, body); !strings.Contains(got, tt.want) {
				t.Errorf("detail %q, want it to mention %q", got, tt.want)
			}
		})
	}

	var list CanaryTokenList
	_, body := h.do("GET", "/api/v1/canary/tokens", h.adminToken, nil)
	decodeJSON(t, body, &list)
	if list.Total != 0 {
		t.Errorf("rejected requests left %d tokens", list.Total)
	}
}

func TestCanaryTokenLifecycle(t *testing.T) {
	h := newCanaryHarness(t, true)
	tok := h.mint(map[string]any{"decky_name": h.decky.Name, "generator": "git_config"})
	if tok.Kind != "http" || tok.State != "planted" || tok.Generator == nil || *tok.Generator != "git_config" || tok.BlobUUID != nil {
		t.Fatalf("token = %+v", tok)
	}
	if !strings.HasPrefix(tok.CallbackURL, "http://127.0.0.1:8088/c/"+tok.CallbackToken) || tok.DNSHost == nil {
		t.Errorf("callback_url %s dns_host %v", tok.CallbackURL, tok.DNSHost)
	}
	other := h.mint(map[string]any{"decky_name": h.decky.Name, "generator": "ssh_key", "placement_path": "/root/.ssh/id_ed25519"})
	if other.Kind != "dns" || other.PlacementPath != "/root/.ssh/id_ed25519" {
		t.Errorf("ssh_key token = %+v", other)
	}

	resp, body := h.do("GET", "/api/v1/canary/tokens/"+tok.UUID, h.viewerToken, nil)
	var got CanaryTokenResponse
	decodeJSON(t, body, &got)
	if resp.StatusCode != http.StatusOK || got.UUID != tok.UUID {
		t.Errorf("viewer detail: %d %s", resp.StatusCode, body)
	}

	filters := []struct {
		query string
		want  int
	}{
		{"", 2},
		{"?decky_name=" + h.decky.Name, 2},
		{"?decky_name=decky-99", 0},
		{"?kind=dns", 1},
		{"?generator=git_config", 1},
		{"?state=revoked", 0},
	}
	for _, f := range filters {
		var list CanaryTokenList
		resp, body := h.do("GET", "/api/v1/canary/tokens"+f.query, h.viewerToken, nil)
		decodeJSON(t, body, &list)
		if resp.StatusCode != http.StatusOK || list.Total != f.want || len(list.Tokens) != f.want {
			t.Errorf("list %q: %d total %d, want %d", f.query, resp.StatusCode, list.Total, f.want)
		}
	}
	if resp, _ := h.do("GET", "/api/v1/canary/tokens?state=gone", h.viewerToken, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad state filter: %d, want 400", resp.StatusCode)
	}

	planted, err := os.ReadFile(h.hostFile(tok.PlacementPath))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/preview", h.adminToken, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("preview: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, planted) || !bytes.Contains(body, []byte(tok.CallbackToken)) {
		t.Errorf("preview differs from the planted file:\n%s\nvs\n%s", body, planted)
	}
	if resp, _ := h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/preview", h.viewerToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer preview: %d, want 403", resp.StatusCode)
	}

	resp, _ = h.do("DELETE", "/api/v1/canary/tokens/"+tok.UUID, h.viewerToken, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer revoke: %d, want 403", resp.StatusCode)
	}
	resp, body = h.do("DELETE", "/api/v1/canary/tokens/"+tok.UUID, h.adminToken, nil)
	var rev CanaryRevokeResponse
	decodeJSON(t, body, &rev)
	if resp.StatusCode != http.StatusOK || rev.Message != "ok" || rev.Token.State != "revoked" {
		t.Errorf("revoke: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(h.hostFile(tok.PlacementPath)); !os.IsNotExist(err) {
		t.Errorf("planted file after revoke: %v", err)
	}
	_, body = h.do("GET", "/api/v1/canary/tokens/"+tok.UUID, h.adminToken, nil)
	decodeJSON(t, body, &got)
	if got.State != "revoked" {
		t.Errorf("state after revoke = %s", got.State)
	}

	for _, path := range []string{"/api/v1/canary/tokens/missing", "/api/v1/canary/tokens/missing/preview", "/api/v1/canary/tokens/missing/triggers"} {
		resp, body := h.do("GET", path, h.adminToken, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(detail(t, body), "token not found") {
			t.Errorf("GET %s: %d %s, want 404 token not found", path, resp.StatusCode, body)
		}
	}
	if resp, _ := h.do("DELETE", "/api/v1/canary/tokens/missing", h.adminToken, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke missing: %d, want 404", resp.StatusCode)
	}
}

func TestCanaryPreviewOfDeletedBlobBytes(t *testing.T) {
	h := newCanaryHarness(t, true)
	b := h.uploadBlob([]byte("<html><body>hi</body></html>"), "page.html")
	tok := h.mint(map[string]any{"decky_name": h.decky.Name, "blob_uuid": b.UUID})
	if _, err := h.blobs.Remove(b.SHA256, 0); err != nil {
		t.Fatal(err)
	}
	resp, body := h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/preview", h.adminToken, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("preview with missing blob bytes: %d %s, want 409", resp.StatusCode, body)
	}
	resp, body = h.do("POST", "/api/v1/canary/tokens", h.adminToken, map[string]any{"decky_name": h.decky.Name, "blob_uuid": b.UUID})
	if resp.StatusCode != http.StatusGone {
		t.Errorf("create from missing blob bytes: %d %s, want 410", resp.StatusCode, body)
	}
}

func TestCanaryTriggersPage(t *testing.T) {
	h := newCanaryHarness(t, true)
	tok := h.mint(map[string]any{"decky_name": h.decky.Name, "generator": "env_file"})

	var page CanaryTriggerList
	resp, body := h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/triggers", h.viewerToken, nil)
	decodeJSON(t, body, &page)
	if resp.StatusCode != http.StatusOK || page.Total != 0 || len(page.Triggers) != 0 || page.Limit != 100 {
		t.Errorf("empty triggers: %d %s", resp.StatusCode, body)
	}

	base := time.Now().UTC()
	var hits []sqlstore.CanaryHit
	for i, src := range []string{"127.0.0.5", "127.0.0.6", "127.0.0.7"} {
		hits = append(hits, sqlstore.CanaryHit{Slug: tok.CallbackToken, Time: base.Add(time.Duration(i) * time.Second),
			Trigger: sqlstore.CanaryTrigger{Protocol: "http", SrcIP: src, PeerAddr: src + ":1", Method: "GET",
				RequestPath: "/c/" + tok.CallbackToken, DedupeKey: src}})
	}
	if _, err := h.store.RecordCanaryHits(context.Background(), hits, time.Second); err != nil {
		t.Fatal(err)
	}

	resp, body = h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/triggers?limit=2&offset=1", h.viewerToken, nil)
	decodeJSON(t, body, &page)
	if resp.StatusCode != http.StatusOK || page.Total != 3 || len(page.Triggers) != 2 {
		t.Fatalf("page: %d %s", resp.StatusCode, body)
	}
	if page.Triggers[0].SrcIP != "127.0.0.6" || page.Triggers[0].DNSQType != nil || page.Triggers[0].HitCount != 1 {
		t.Errorf("second newest trigger = %+v", page.Triggers[0])
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?offset=-1", "?limit=x"} {
		if resp, _ := h.do("GET", "/api/v1/canary/tokens/"+tok.UUID+"/triggers"+q, h.viewerToken, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("triggers%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestCanaryRolesAndAuth(t *testing.T) {
	h := newCanaryHarness(t, true)
	tests := []struct {
		method, path string
		body         any
		token        string
		status       int
	}{
		{"POST", "/api/v1/canary/tokens", map[string]any{"decky_name": "x", "generator": "env_file"}, "", http.StatusUnauthorized},
		{"POST", "/api/v1/canary/tokens", map[string]any{"decky_name": "x", "generator": "env_file"}, "viewer", http.StatusForbidden},
		{"GET", "/api/v1/canary/tokens", nil, "", http.StatusUnauthorized},
		{"GET", "/api/v1/canary/tokens", nil, "viewer", http.StatusOK},
		{"GET", "/api/v1/canary/blobs", nil, "viewer", http.StatusForbidden},
		{"DELETE", "/api/v1/canary/blobs/x", nil, "viewer", http.StatusForbidden},
		{"GET", "/api/v1/canary/blobs", nil, "admin", http.StatusOK},
	}
	for _, tt := range tests {
		token := map[string]string{"": "", "viewer": h.viewerToken, "admin": h.adminToken}[tt.token]
		resp, body := h.do(tt.method, tt.path, token, tt.body)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s as %q: %d %s, want %d", tt.method, tt.path, tt.token, resp.StatusCode, body, tt.status)
		}
	}
}

func TestCanaryWithoutPlanter(t *testing.T) {
	h := newCanaryHarness(t, false)
	resp, body := h.do("POST", "/api/v1/canary/tokens", h.adminToken, map[string]any{"decky_name": "x", "generator": "env_file"})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("create without planter: %d %s, want 503", resp.StatusCode, body)
	}
}

func TestCanaryRoutesInOpenAPI(t *testing.T) {
	h := newCanaryHarness(t, true)
	doc, err := h.server.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"/api/v1/canary/blobs":                  {"get", "post"},
		"/api/v1/canary/blobs/{uuid}":           {"delete"},
		"/api/v1/canary/tokens":                 {"get", "post"},
		"/api/v1/canary/tokens/{uuid}":          {"get", "delete"},
		"/api/v1/canary/tokens/{uuid}/preview":  {"get"},
		"/api/v1/canary/tokens/{uuid}/triggers": {"get"},
	}
	for path, methods := range want {
		for _, m := range methods {
			op, ok := spec.Paths[path][m]
			if !ok {
				t.Errorf("OpenAPI lacks %s %s", m, path)
				continue
			}
			if _, ok := op.Responses["401"]; !ok {
				t.Errorf("%s %s does not document 401", m, path)
			}
		}
	}
	if _, ok := spec.Paths["/api/v1/canary/blobs"]["post"].Responses["413"]; !ok {
		t.Error("blob upload does not document 413")
	}
	if _, ok := spec.Paths["/api/v1/canary/tokens"]["post"].Responses["415"]; !ok {
		t.Error("token creation does not document 415")
	}
}
