package canary

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"errors"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/canary/canarytest"
	"github.com/decnet/decnet/internal/canary/pdf"
)

// Fixed slugs: random slugs could spell a forbidden word by chance, which
// would make the tell scan flaky.
var testSlugs = []string{"abcdefghijklmnopqrstuvwxy2", "mfrggzdfmztwq2lknnwg23tpoa", "b4wy7qz2ltp3xk5n6rjm2vsdaq"}

func testContext(slug string, persona Persona) Context {
	return Context{Slug: slug, HTTPBase: "https://cdn.example.net/", DNSZone: "t.example.net", Persona: persona, Decky: "web-01"}
}

// instrumentInputs are the sample uploads, by instrumenter name.
func instrumentInputs() map[string][]struct {
	file    string
	content []byte
} {
	type in = struct {
		file    string
		content []byte
	}
	return map[string][]in{
		"docx":        {{"report.docx", canarytest.DOCX(3)}},
		"xlsx":        {{"figures.xlsx", canarytest.XLSX()}},
		"pdf":         {{"classic.pdf", canarytest.PDFClassic(0)}, {"xrefstream.pdf", canarytest.PDFXrefStream(0)}},
		"image":       {{"a.png", canarytest.PNG()}, {"a.jpg", canarytest.JPEG()}, {"a.gif", canarytest.GIF()}},
		"html":        {{"index.html", []byte("<!DOCTYPE html>\n<html><body><p>Hi</p></BODY >\n</html>\n")}},
		"plain":       {{"deploy.sh", []byte("#!/bin/sh\necho deploy\n")}, {"settings.json", []byte(`{"a": 1}`)}},
		"passthrough": {{"blob.bin", []byte{0, 1, 2, 3}}},
	}
}

func TestGenerateDeterministic(t *testing.T) {
	for _, name := range Generators() {
		for _, p := range []Persona{PersonaLinux, PersonaWindows} {
			ctx := testContext(testSlugs[0], p)
			a1, err := Generate(name, ctx)
			if err != nil {
				t.Fatalf("Generate(%s, %s) error: %v", name, p, err)
			}
			a2, _ := Generate(name, ctx)
			if !bytes.Equal(a1.Content, a2.Content) {
				t.Errorf("Generate(%s, %s) differs between two runs", name, p)
			}
			other, _ := Generate(name, testContext(testSlugs[1], p))
			if bytes.Equal(a1.Content, other.Content) {
				t.Errorf("Generate(%s) is identical for two slugs", name)
			}
			if a1.Generator != name || a1.Path == "" || a1.Notes.What == "" || a1.Notes.Trips == "" || a1.Mode == 0 || a1.MtimeOffset >= 0 {
				t.Errorf("Generate(%s, %s) metadata incomplete: %+v", name, p, a1)
			}
			if err := ValidatePlacement(a1.Path, p); err != nil {
				t.Errorf("Generate(%s, %s) path %q invalid: %v", name, p, a1.Path, err)
			}
		}
	}
}

// TestGenerateEmbedsCallback checks that each artifact contains the
// callback URL or DNS host that its notes name.
func TestGenerateEmbedsCallback(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	url := ctx.CallbackURL()
	host := ctx.DNSHost()
	tests := []struct {
		name string
		want string // "" means the artifact must not contain the slug
	}{
		{"aws_creds", ""},
		{"git_config", url + "/"},
		{"env_file", "API_BASE_URL=" + url + "/"},
		{"ssh_key", ""},
		{"honeydoc", `<img src="` + url + `"`},
		{"honeydoc_docx", url},
		{"honeydoc_xlsx", url},
		{"honeydoc_pdf", "/URI (" + ctx.DNSURL() + ")"},
		{"mysql_dump", "-- Host: " + host},
	}
	for _, tt := range tests {
		a, err := Generate(tt.name, ctx)
		if err != nil {
			t.Fatalf("Generate(%s) error: %v", tt.name, err)
		}
		text := expand(t, a.Content)
		if tt.want == "" {
			if tt.name == "aws_creds" && strings.Contains(text, ctx.Slug) {
				t.Errorf("Generate(aws_creds) contains the slug")
			}
			continue
		}
		if !strings.Contains(text, tt.want) {
			t.Errorf("Generate(%s) does not contain %q", tt.name, tt.want)
		}
	}
}

func TestGenerateAWSShape(t *testing.T) {
	a, _ := Generate("aws_creds", testContext(testSlugs[0], PersonaLinux))
	ids := regexp.MustCompile(`(?m)^aws_access_key_id = (AKIA[A-Z2-7]{16})$`).FindAllStringSubmatch(string(a.Content), -1)
	secrets := regexp.MustCompile(`(?m)^aws_secret_access_key = ([A-Za-z0-9+/]{40})$`).FindAllString(string(a.Content), -1)
	if len(ids) != 2 || len(secrets) != 2 {
		t.Errorf("aws_creds has %d key ids and %d secrets, want 2 and 2:\n%s", len(ids), len(secrets), a.Content)
	}
	if !strings.HasPrefix(string(a.Content), "[default]\n") || !strings.Contains(string(a.Content), "region = ") {
		t.Errorf("aws_creds lacks [default] or region:\n%s", a.Content)
	}
}

func TestGenerateErrors(t *testing.T) {
	noZone := testContext(testSlugs[0], PersonaLinux)
	noZone.DNSZone = ""
	if _, err := Generate("mysql_dump", noZone); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("Generate(mysql_dump) without zone error = %v, want ErrKindMismatch", err)
	}
	if _, err := Generate("nope", noZone); !errors.Is(err, ErrUnknown) {
		t.Errorf("Generate(nope) error = %v, want ErrUnknown", err)
	}
	bad := noZone
	bad.Slug = "short"
	if _, err := Generate("env_file", bad); err == nil {
		t.Errorf("Generate(env_file) with an invalid slug succeeded")
	}
	bad = noZone
	bad.HTTPBase = "ftp://x"
	if _, err := Generate("env_file", bad); err == nil {
		t.Errorf("Generate(env_file) with an ftp base succeeded")
	}
}

func TestInstrumentDeterministicAndTrips(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	for name, inputs := range instrumentInputs() {
		for _, in := range inputs {
			ctx.FileName = in.file
			a1, err := Instrument("auto", ctx, in.content)
			if err != nil {
				t.Fatalf("Instrument(auto, %s) error: %v", in.file, err)
			}
			if a1.Instrumenter != name {
				t.Errorf("Instrument(auto, %s) picked %s, want %s", in.file, a1.Instrumenter, name)
			}
			a2, _ := Instrument(name, ctx, in.content)
			if !bytes.Equal(a1.Content, a2.Content) {
				t.Errorf("Instrument(%s, %s) differs between two runs", name, in.file)
			}

			text := expand(t, a1.Content)
			switch name {
			case "passthrough":
				if !bytes.Equal(a1.Content, in.content) {
					t.Errorf("passthrough changed %s", in.file)
				}
			case "pdf":
				if !strings.Contains(text, ctx.DNSURL()) {
					t.Errorf("Instrument(pdf, %s) lacks the DNS URL %s", in.file, ctx.DNSURL())
				}
			default:
				if !strings.Contains(text, ctx.CallbackURL()) {
					t.Errorf("Instrument(%s, %s) lacks the callback URL", name, in.file)
				}
			}
		}
	}
}

func TestInstrumentImages(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	for _, in := range instrumentInputs()["image"] {
		a, err := Instrument("image", ctx, in.content)
		if err != nil {
			t.Fatalf("Instrument(image, %s) error: %v", in.file, err)
		}
		if _, _, err := image.Decode(bytes.NewReader(a.Content)); err != nil {
			t.Errorf("instrumented %s does not decode: %v", in.file, err)
		}
		if strings.HasSuffix(in.file, ".jpg") {
			exif := bytes.Index(a.Content, []byte(canarytest.EXIFMarker))
			com := bytes.Index(a.Content, []byte{0xff, 0xfe})
			if exif < 0 || com < exif {
				t.Errorf("JPEG: EXIF at %d, COM at %d; want EXIF kept and COM after it", exif, com)
			}
		}
		if strings.HasSuffix(in.file, ".png") {
			text := bytes.Index(a.Content, []byte("tEXtComment\x00"))
			iend := bytes.Index(a.Content, []byte("IEND"))
			if text < 0 || iend < text {
				t.Errorf("PNG: tEXt at %d, IEND at %d; want tEXt before IEND", text, iend)
			}
		}
	}
}

func TestInstrumentRejects(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	tests := []struct {
		name, instrumenter string
		content            []byte
	}{
		{"encrypted pdf", "pdf", canarytest.PDFEncrypted()},
		{"truncated pdf", "pdf", canarytest.PDFClassic(0)[:200]},
		{"pdf garbage", "pdf", []byte("%PDF-1.4\ngarbage")},
		{"docx not zip", "docx", []byte("PK\x03\x04 not really")},
		{"docx plain zip", "docx", canarytest.Zip("a.txt", "hello")},
		{"xlsx from docx", "xlsx", canarytest.DOCX(1)},
		{"png truncated", "image", canarytest.PNG()[:30]},
		{"not an image", "image", []byte("hello")},
		{"json invalid", "plain", []byte(`{"a": `)},
	}
	for _, tt := range tests {
		c := ctx
		if tt.name == "json invalid" {
			c.FileName = "x.json"
		}
		_, err := Instrument(tt.instrumenter, c, tt.content)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Instrument(%s) error = %v, want ErrUnsupported", tt.name, err)
		}
	}

	noZone := ctx
	noZone.DNSZone = ""
	if _, err := Instrument("plain", noZone, []byte("host={{CANARY_HOST}}\n")); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("Instrument(plain, {{CANARY_HOST}} without zone) error = %v, want ErrKindMismatch", err)
	}
}

func TestInstrumentPlain(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	url := ctx.CallbackURL()
	tests := []struct {
		name, file, in, want string
	}{
		{"url placeholder", "a.txt", "see {{CANARY_URL}} and {{CANARY_URL}}\n", "see " + url + " and " + url + "\n"},
		{"host placeholder", "a.conf", "server {{CANARY_HOST}}\n", "server " + ctx.DNSHost() + "\n"},
		{"shell", "run.sh", "#!/bin/sh\necho hi", "#!/bin/sh\necho hi\n\n# see " + url + " for the latest version\n"},
		{"yaml with url", "", "name: app\nurl: http://x.example/\nport: 80\n", "name: app\nurl: http://x.example/\nport: 80\n\n# see " + url + " for the latest version\n"},
		{"toml", "", "[server]\nport = 80\nhost = \"x\"\n", "[server]\nport = 80\nhost = \"x\"\n\n# see " + url + " for the latest version\n"},
		{"ini", "", "[main]\nuser=root\n", "[main]\nuser=root\n\n; see " + url + " for the latest version\n"},
		{"ini with hash comments", "", "# cfg\n[main]\nuser=root\n", "# cfg\n[main]\nuser=root\n\n# see " + url + " for the latest version\n"},
		{"js", "app.js", "const a = 1;\n", "const a = 1;\n\n// see " + url + " for the latest version\n"},
		{"go by content", "", "package main\n\nfunc main() {}\n", "package main\n\nfunc main() {}\n\n// see " + url + " for the latest version\n"},
		{"json compact", "", `{"a":1}`, `{"homepage":"` + url + `","a":1}`},
		{"json pretty", "", "{\n  \"homepage\": 1\n}\n", "{\n  \"documentation\": \"" + url + "\",\n  \"homepage\": 1\n}\n"},
		{"json empty object", "", "{ }", `{"homepage":"` + url + `" }`},
		{"json array unchanged", "", `[1, 2]`, `[1, 2]`},
	}
	for _, tt := range tests {
		c := ctx
		c.FileName = tt.file
		a, err := Instrument("plain", c, []byte(tt.in))
		if err != nil {
			t.Errorf("Instrument(plain, %s) error: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(string(a.Content), tt.want); diff != "" {
			t.Errorf("Instrument(plain, %s) mismatch (-got +want):\n%s", tt.name, diff)
		}
	}
}

func TestInstrumentHTML(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	pixel := `<img src="` + ctx.CallbackURL() + `" width="1" height="1" alt="" style="border:0">` + "\n"
	tests := []struct{ in, want string }{
		{"<html><body>x</body></html>", "<html><body>x" + pixel + "</body></html>"},
		{"<html><body>x</BODY  >", "<html><body>x" + pixel + "</BODY  >"},
		{"<p>fragment</p>", "<p>fragment</p>\n" + pixel},
	}
	for _, tt := range tests {
		a, err := Instrument("html", ctx, []byte(tt.in))
		if err != nil {
			t.Fatalf("Instrument(html, %q) error: %v", tt.in, err)
		}
		if diff := cmp.Diff(string(a.Content), tt.want); diff != "" {
			t.Errorf("Instrument(html, %q) mismatch (-got +want):\n%s", tt.in, diff)
		}
	}
}

func TestInstrumentPDFStructure(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	for _, in := range instrumentInputs()["pdf"] {
		a, err := Instrument("pdf", ctx, in.content)
		if err != nil {
			t.Fatalf("Instrument(pdf, %s) error: %v", in.file, err)
		}
		if !bytes.HasPrefix(a.Content, in.content) {
			t.Errorf("Instrument(pdf, %s) changed the original bytes; want an appended update", in.file)
		}

		r, err := pdf.Open(bytes.NewReader(a.Content), int64(len(a.Content)))
		if err != nil {
			t.Fatalf("reopen instrumented %s: %v", in.file, err)
		}
		_, cat, err := r.Catalog()
		if err != nil {
			t.Fatalf("catalog of instrumented %s: %v", in.file, err)
		}
		open, _ := cat["OpenAction"].(pdf.Dict)
		if s, _ := open.Name("S"); s != "URI" || string(open["URI"].(pdf.String)) != ctx.DNSURL() {
			t.Errorf("%s: /OpenAction = %v, want a /URI action to %s", in.file, cat["OpenAction"], ctx.DNSURL())
		}
		if next, _ := open["Next"].(pdf.Dict); next == nil {
			t.Errorf("%s: the original /OpenAction destination was not chained with /Next", in.file)
		}
		_, page, err := r.FirstPage(cat)
		if err != nil {
			t.Fatalf("first page of instrumented %s: %v", in.file, err)
		}
		aa, _ := page["AA"].(pdf.Dict)
		if o, _ := aa["O"].(pdf.Dict); o == nil {
			t.Errorf("%s: first page has no /AA /O action", in.file)
		}
		if r.XrefIsStream() != strings.Contains(in.file, "xrefstream") {
			t.Errorf("%s: update xref type is stream=%v", in.file, r.XrefIsStream())
		}
	}
}

func TestCheckKind(t *testing.T) {
	ctx := testContext(testSlugs[0], PersonaLinux)
	noZone := ctx
	noZone.DNSZone = ""
	tests := []struct {
		name    string
		kind    Kind
		ctx     Context
		wantErr error
	}{
		{"aws_creds", KindPassive, ctx, nil},
		{"aws_creds", KindHTTP, ctx, ErrKindMismatch},
		{"git_config", KindHTTP, ctx, nil},
		{"mysql_dump", KindDNS, ctx, nil},
		{"mysql_dump", KindDNS, noZone, ErrKindMismatch},
		{"mysql_dump", KindHTTP, ctx, ErrKindMismatch},
		{"passthrough", KindDNS, ctx, nil},
		{"passthrough", KindHTTP, ctx, ErrKindMismatch},
		{"pdf", KindDNS, ctx, nil},
		{"pdf", KindDNS, noZone, ErrKindMismatch},
		{"docx", KindHTTP, ctx, nil},
		{"nope", KindHTTP, ctx, ErrUnknown},
	}
	for _, tt := range tests {
		err := CheckKind(tt.name, tt.kind, tt.ctx)
		if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("CheckKind(%s, %s, zone=%q) = %v, want %v", tt.name, tt.kind, tt.ctx.DNSZone, err, tt.wantErr)
		}
	}
}

// forbidden are the words that would tell an attacker the file is a trap.
var forbidden = regexp.MustCompile(`(?i)canary|decnet|honey`)

// TestNoTells scans every generated and instrumented artifact, including
// zip entry names and contents and inflated PDF streams.
func TestNoTells(t *testing.T) {
	for _, s := range testSlugs {
		for _, p := range []Persona{PersonaLinux, PersonaWindows} {
			ctx := testContext(s, p)
			for _, name := range Generators() {
				a, err := Generate(name, ctx)
				if err != nil {
					t.Fatalf("Generate(%s) error: %v", name, err)
				}
				if m := forbidden.FindString(expand(t, a.Content)); m != "" {
					t.Errorf("Generate(%s, slug %s) contains %q", name, s, m)
				}
			}
			for name, inputs := range instrumentInputs() {
				for _, in := range inputs {
					a, err := Instrument(name, ctx, in.content)
					if err != nil {
						t.Fatalf("Instrument(%s, %s) error: %v", name, in.file, err)
					}
					if m := forbidden.FindString(expand(t, a.Content)); m != "" {
						t.Errorf("Instrument(%s, %s) contains %q", name, in.file, m)
					}
				}
			}
		}
	}
}

var streamRE = regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`)

// expand returns content as text plus, for zip archives, every entry name
// and inflated entry, and for PDFs every inflated stream.
func expand(t *testing.T, content []byte) string {
	t.Helper()
	var b strings.Builder
	b.Write(content)

	if zr, err := zip.NewReader(bytes.NewReader(content), int64(len(content))); err == nil {
		for _, f := range zr.File {
			b.WriteString("\n" + f.Name + "\n")
			rc, err := f.Open()
			if err != nil {
				t.Fatalf("open zip entry %s: %v", f.Name, err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			b.Write(data)
		}
	}
	if bytes.HasPrefix(content, []byte("%PDF-")) {
		for _, m := range streamRE.FindAllSubmatch(content, -1) {
			if zr, err := zlib.NewReader(bytes.NewReader(m[1])); err == nil {
				data, _ := io.ReadAll(zr)
				b.Write(data)
			}
		}
	}
	return b.String()
}
