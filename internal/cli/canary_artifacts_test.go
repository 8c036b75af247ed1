package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/canary/canarytest"
)

func runCanaryCmd(t *testing.T, cmd func(*globals) *cobra.Command, args ...string) (canaryArtifactReport, error) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{stdout: &out, stderr: &out}
	c := cmd(g)
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(&out)
	if err := c.Execute(); err != nil {
		return canaryArtifactReport{}, err
	}
	var r canaryArtifactReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return r, nil
}

func TestCanaryGenerateCmd(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "creds")
	r, err := runCanaryCmd(t, newCanaryGenerateCmd, "aws_creds", "--slug", "abcdefghijklmnopqrstuvwxy2",
		"--http-base", "http://127.0.0.1:8080", "--persona", "windows", "--out", out)
	if err != nil {
		t.Fatalf("canary generate error: %v", err)
	}
	if r.Generator != "aws_creds" || r.Mode != "0600" || r.Kind != "aws_passive" {
		t.Errorf("report = %+v", r)
	}
	if r.DefaultPlacement != `C:\Users\Administrator\.aws\credentials` {
		t.Errorf("default_placement = %q, want the windows path", r.DefaultPlacement)
	}
	info, err := os.Stat(out)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != r.Size {
		t.Errorf("output file: %v, %v; want mode 0600 and size %d", info, err, r.Size)
	}
}

func TestCanaryGenerateNewSlug(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	r, err := runCanaryCmd(t, newCanaryGenerateCmd, "env_file", "--http-base", "http://127.0.0.1:8080", "--out", out)
	if err != nil {
		t.Fatalf("canary generate error: %v", err)
	}
	if len(r.Slug) != 26 || !strings.HasSuffix(r.CallbackURL, "/c/"+r.Slug) {
		t.Errorf("slug %q, callback %q", r.Slug, r.CallbackURL)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), r.CallbackURL) {
		t.Errorf("output does not contain %s", r.CallbackURL)
	}
}

func TestCanaryInstrumentCmd(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(in, canarytest.PDFClassic(0), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pdf")
	r, err := runCanaryCmd(t, newCanaryInstrumentCmd, "--in", in, "--out", out, "--slug", "abcdefghijklmnopqrstuvwxy2",
		"--http-base", "http://127.0.0.1:8080", "--dns-zone", "t.example.net")
	if err != nil {
		t.Fatalf("canary instrument error: %v", err)
	}
	if r.Instrumenter != "pdf" || r.MIME != "application/pdf" || r.Kind != "dns" {
		t.Errorf("report = %+v", r)
	}
	if r.DefaultPlacement != "/home/admin/Documents/report.pdf" {
		t.Errorf("default_placement = %q", r.DefaultPlacement)
	}
	data, _ := os.ReadFile(out)
	if !bytes.Contains(data, []byte("abcdefghijklmnopqrstuvwxy2.t.example.net")) {
		t.Errorf("instrumented PDF lacks the DNS host")
	}
}

func TestCanaryInstrumentErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.pdf")
	_ = os.WriteFile(in, canarytest.PDFEncrypted(), 0o644)
	out := filepath.Join(dir, "out.pdf")

	_, err := runCanaryCmd(t, newCanaryInstrumentCmd, "--in", in, "--out", out, "--http-base", "http://127.0.0.1:8080")
	if err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("instrument encrypted PDF error = %v, want one naming encryption", err)
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Errorf("failed run left %s behind", out)
	}

	_, err = runCanaryCmd(t, newCanaryInstrumentCmd, "--in", in, "--out", out, "--http-base", "http://127.0.0.1:8080", "--instrumenter", "nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown instrumenter error = %v", err)
	}
	_, err = runCanaryCmd(t, newCanaryGenerateCmd, "env_file", "--http-base", "http://127.0.0.1:8080", "--persona", "bsd", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "persona") {
		t.Errorf("bad persona error = %v", err)
	}
}
