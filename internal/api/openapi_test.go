package api

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json")

func TestOpenAPIGolden(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	got, err := h.server.OpenAPI()
	if err != nil {
		t.Fatalf("OpenAPI: %v", err)
	}

	golden := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run go test -run TestOpenAPIGolden -update): %v", err)
	}
	if diff := cmp.Diff(string(got), string(want)); diff != "" {
		t.Errorf("OpenAPI document changed (-got +want); rerun with -update if intended:\n%s", diff)
	}

	// The served document is the generated one.
	resp, body := h.do("GET", "/api/v1/openapi.json", "", nil)
	if resp.StatusCode != 200 || string(body) != string(got) {
		t.Errorf("GET /api/v1/openapi.json: status %d, body differs from OpenAPI()", resp.StatusCode)
	}
}

// TestOpenAPICoversRouteTable checks every route against the document: its
// role, its body schema and the error statuses that apply to it.
func TestOpenAPICoversRouteTable(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	raw, err := h.server.OpenAPI()
	if err != nil {
		t.Fatalf("OpenAPI: %v", err)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}

	for _, r := range h.server.Routes() {
		t.Run(r.pattern(), func(t *testing.T) {
			op, ok := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]
			if !ok {
				t.Fatalf("missing from the document")
			}
			if got := op["x-decnet-role"]; got != r.Role.String() {
				t.Errorf("x-decnet-role = %v, want %s", got, r.Role)
			}
			_, hasBody := op["requestBody"]
			if hasBody != (r.Body != nil) {
				t.Errorf("requestBody present = %v, want %v", hasBody, r.Body != nil)
			}
			responses := op["responses"].(map[string]any)
			want := []int{r.successStatus()}
			if r.Role != Public {
				want = append(want, 401, 403)
			}
			if r.Body != nil {
				want = append(want, 400, 413, 415, 422)
			}
			if strings.Contains(r.Path, "{") {
				want = append(want, 404)
			}
			for _, code := range want {
				if _, ok := responses[strconv.Itoa(code)]; !ok {
					t.Errorf("response %d not documented", code)
				}
			}
		})
	}
}
