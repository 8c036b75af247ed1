package canary

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/canary/canarytest"
	"github.com/decnet/decnet/internal/testenv"
)

func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSSHKeyWithSSHKeygen(t *testing.T) {
	keygen := testenv.RequireTool(t, "ssh-keygen", "openssh-client")
	ctx := testContext(testSlugs[0], PersonaLinux)
	a, err := Generate("ssh_key", ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "id_ed25519", a.Content, 0o600)

	out, err := run(t, nil, keygen, "-y", "-f", path)
	if err != nil {
		t.Fatalf("ssh-keygen -y rejected the key: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "ssh-ed25519 ") || !strings.Contains(out, "@"+ctx.DNSHost()) {
		t.Errorf("ssh-keygen -y = %q, want an ed25519 key with comment @%s", out, ctx.DNSHost())
	}
}

func TestGitConfigWithGit(t *testing.T) {
	git := testenv.RequireTool(t, "git", "git")

	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()

	ctx := testContext(testSlugs[0], PersonaLinux)
	ctx.HTTPBase = srv.URL
	a, err := Generate("git_config", ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "config", a.Content, 0o644)
	env := []string{"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}

	url, err := run(t, env, git, "config", "-f", path, "remote.origin.url")
	if err != nil {
		t.Fatalf("git config -f failed: %v\n%s", err, url)
	}
	url = strings.TrimSpace(url)
	if !strings.HasPrefix(url, ctx.CallbackURL()+"/") {
		t.Fatalf("git config remote.origin.url = %q, want it under %s/", url, ctx.CallbackURL())
	}

	// git ls-remote fails on the 404, but the request must have been made.
	_, _ = run(t, env, git, "ls-remote", url)
	mu.Lock()
	defer mu.Unlock()
	want := strings.TrimPrefix(url, srv.URL) + "/info/refs"
	found := false
	for _, p := range paths {
		found = found || p == want
	}
	if !found {
		t.Errorf("git requested %v, want %s", paths, want)
	}
}

func TestAWSCredsWithAWSCLI(t *testing.T) {
	aws := testenv.RequireTool(t, "aws", "awscli")
	ctx := testContext(testSlugs[0], PersonaLinux)
	a, err := Generate("aws_creds", ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "credentials", a.Content, 0o600)
	env := []string{"AWS_SHARED_CREDENTIALS_FILE=" + path, "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "HOME=" + dir}

	for _, key := range []string{"aws_access_key_id", "aws_secret_access_key", "region"} {
		out, err := run(t, env, aws, "configure", "get", key, "--profile", "default")
		if err != nil {
			t.Fatalf("aws configure get %s failed: %v\n%s", key, err, out)
		}
		if v := strings.TrimSpace(out); v == "" || !strings.Contains(string(a.Content), key+" = "+v) {
			t.Errorf("aws configure get %s = %q, not the value in the file", key, v)
		}
	}
}

// pdfInputs returns sample PDFs plus qpdf rewrites of them with object
// streams, keyed by file name.
func pdfInputs(t *testing.T, qpdf, dir string) map[string][]byte {
	t.Helper()
	gen, err := Generate("honeydoc_pdf", testContext(testSlugs[1], PersonaLinux))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string][]byte{
		"classic.pdf":    canarytest.PDFClassic(2000),
		"xrefstream.pdf": canarytest.PDFXrefStream(2000),
		"generated.pdf":  gen.Content,
	}
	for name, data := range map[string][]byte{"classic.pdf": in["classic.pdf"], "generated.pdf": gen.Content} {
		src := writeFile(t, dir, "src-"+name, data, 0o644)
		dst := filepath.Join(dir, "objstm-"+name)
		if out, err := run(t, nil, qpdf, "--object-streams=generate", src, dst); err != nil {
			t.Fatalf("qpdf --object-streams=generate %s: %v\n%s", name, err, out)
		}
		b, _ := os.ReadFile(dst)
		in["objstm-"+name] = b
	}
	return in
}

func checkPDF(t *testing.T, qpdf, pdfinfo, path, wantURI string) {
	t.Helper()
	if out, err := run(t, nil, qpdf, "--check", path); err != nil {
		t.Errorf("qpdf --check %s failed: %v\n%s", filepath.Base(path), err, out)
	}
	out, err := run(t, nil, qpdf, "--qdf", "--object-streams=disable", path, "-")
	if err != nil {
		t.Errorf("qpdf --qdf %s failed: %v", filepath.Base(path), err)
	}
	if !strings.Contains(out, "/S /URI") || !strings.Contains(out, "/URI ("+wantURI+")") {
		t.Errorf("qpdf shows no /URI action to %s in %s", wantURI, filepath.Base(path))
	}
	if out, err := run(t, nil, pdfinfo, path); err != nil {
		t.Errorf("pdfinfo %s failed: %v\n%s", filepath.Base(path), err, out)
	}
}

func TestPDFWithQpdf(t *testing.T) {
	qpdf := testenv.RequireTool(t, "qpdf", "qpdf")
	pdfinfo := testenv.RequireTool(t, "pdfinfo", "poppler-utils")
	dir := t.TempDir()
	ctx := testContext(testSlugs[0], PersonaLinux)

	for name, data := range pdfInputs(t, qpdf, dir) {
		a, err := Instrument("pdf", ctx, data)
		if err != nil {
			t.Errorf("Instrument(pdf, %s) error: %v", name, err)
			continue
		}
		checkPDF(t, qpdf, pdfinfo, writeFile(t, dir, "out-"+name, a.Content, 0o644), ctx.DNSURL())
	}

	// The generator's own output, straight.
	gen, _ := Generate("honeydoc_pdf", ctx)
	checkPDF(t, qpdf, pdfinfo, writeFile(t, dir, "gen.pdf", gen.Content, 0o644), ctx.DNSURL())
}

func TestImagesWithRealTools(t *testing.T) {
	pngcheck := testenv.RequireTool(t, "pngcheck", "pngcheck")
	djpeg := testenv.RequireTool(t, "djpeg", "libjpeg-turbo-progs")
	dir := t.TempDir()
	ctx := testContext(testSlugs[0], PersonaLinux)

	png, err := Instrument("image", ctx, canarytest.PNG())
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, pngcheck, "-t", writeFile(t, dir, "a.png", png.Content, 0o644))
	if err != nil {
		t.Errorf("pngcheck rejected the PNG: %v\n%s", err, out)
	}
	if !strings.Contains(out, ctx.CallbackURL()) {
		t.Errorf("pngcheck -t shows no callback URL:\n%s", out)
	}

	jpg, err := Instrument("image", ctx, canarytest.JPEG())
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "a.jpg", jpg.Content, 0o644)
	if out, err := run(t, nil, djpeg, "-outfile", filepath.Join(dir, "a.ppm"), path); err != nil {
		t.Errorf("djpeg rejected the JPEG: %v\n%s", err, out)
	}
}

// TestOfficeWithLibreOffice has LibreOffice create DOCX, XLSX and PDF
// inputs, instruments them and the built-in samples, and has LibreOffice
// open every instrumented DOCX and XLSX again.
func TestOfficeWithLibreOffice(t *testing.T) {
	soffice := testenv.RequireTool(t, "soffice", "libreoffice-writer-nogui")
	qpdf := testenv.RequireTool(t, "qpdf", "qpdf")
	pdfinfo := testenv.RequireTool(t, "pdfinfo", "poppler-utils")
	if testing.Short() {
		t.Skip("LibreOffice is slow; skipped with -short")
	}
	dir := t.TempDir()
	profile := "-env:UserInstallation=file://" + filepath.Join(dir, "profile")
	office := func(format string, files ...string) {
		t.Helper()
		args := append([]string{profile, "--headless", "--norestore", "--convert-to", format, "--outdir", dir}, files...)
		if out, err := run(t, []string{"HOME=" + dir}, soffice, args...); err != nil {
			t.Fatalf("soffice --convert-to %s: %v\n%s", format, err, out)
		}
	}

	text := writeFile(t, dir, "lo-text.txt", []byte("Budget summary\n\nThe figures below are preliminary.\n"), 0o644)
	csv := writeFile(t, dir, "lo-sheet.csv", []byte("Region,Amount\nnorth,10\nsouth,20\n"), 0o644)
	office("docx", text)
	office("xlsx", csv)
	pdfSrc := writeFile(t, dir, "lo-pdf.txt", []byte("A page for the PDF export.\n"), 0o644)
	office("pdf", pdfSrc)

	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("LibreOffice did not write %s: %v", name, err)
		}
		return b
	}

	ctx := testContext(testSlugs[0], PersonaLinux)
	inputs := map[string][]byte{
		"lo-text.docx":  read("lo-text.docx"),
		"lo-sheet.xlsx": read("lo-sheet.xlsx"),
		"sample.docx":   canarytest.DOCX(5),
		"sample.xlsx":   canarytest.XLSX(),
	}
	var reopen []string
	for name, data := range inputs {
		if got := SniffMIMEBytes(data); PickInstrumenter(got) != strings.TrimPrefix(filepath.Ext(name), ".") {
			t.Errorf("%s sniffed as %s", name, got)
		}
		a, err := Instrument("auto", ctx, data)
		if err != nil {
			t.Fatalf("Instrument(auto, %s) error: %v", name, err)
		}
		// Instrument twice to cover files that already have a drawing.
		twice, err := Instrument("auto", ctx, a.Content)
		if err != nil {
			t.Fatalf("Instrument(auto, instrumented %s) error: %v", name, err)
		}
		reopen = append(reopen,
			writeFile(t, dir, "out-"+name, a.Content, 0o644),
			writeFile(t, dir, "twice-"+name, twice.Content, 0o644))
	}
	for _, g := range []string{"honeydoc_docx", "honeydoc_xlsx"} {
		a, err := Generate(g, ctx)
		if err != nil {
			t.Fatal(err)
		}
		ext := map[string]string{"honeydoc_docx": ".docx", "honeydoc_xlsx": ".xlsx"}[g]
		reopen = append(reopen, writeFile(t, dir, "gen-"+g+ext, a.Content, 0o644))
	}

	pdfOut, err := Instrument("auto", ctx, read("lo-pdf.pdf"))
	if err != nil {
		t.Fatalf("Instrument(auto, LibreOffice PDF) error: %v", err)
	}
	checkPDF(t, qpdf, pdfinfo, writeFile(t, dir, "out-lo.pdf", pdfOut.Content, 0o644), ctx.DNSURL())

	office("pdf", reopen...)
	for _, p := range reopen {
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) + ".pdf"
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Size() == 0 {
			t.Errorf("LibreOffice could not open %s: no %s", filepath.Base(p), name)
		}
	}
	if t.Failed() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Logf("left in %s: %s", dir, e.Name())
		}
	}
}
