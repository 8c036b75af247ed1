package mime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decnet/decnet/internal/canary/canarytest"
)

func TestSniff(t *testing.T) {
	long := strings.Repeat("a", Window-1) + "é" // the é is cut at the window edge
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"png", canarytest.PNG(), PNG},
		{"jpeg", canarytest.JPEG(), JPEG},
		{"gif", canarytest.GIF(), GIF},
		{"pdf", canarytest.PDFClassic(0), PDF},
		{"docx", canarytest.DOCX(1), DOCX},
		{"xlsx", canarytest.XLSX(), XLSX},
		{"plain zip", canarytest.Zip("a.txt", "x"), Zip},
		{"broken zip", []byte("PK\x03\x04garbage"), Zip},
		{"html doctype lower", []byte("<!doctype html><p>x"), HTML},
		{"html bom and space", []byte("\xef\xbb\xbf \n\t<HTML><body>"), HTML},
		{"html comment first", []byte("<!-- x --><html>"), HTML},
		{"not html abbr", []byte("<abbrev>x</abbrev>"), Text},
		{"xml", []byte("<?xml version=\"1.0\"?><config/>"), XML},
		{"svg with decl", []byte("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), SVG},
		{"svg bare", []byte("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), SVG},
		{"xhtml", []byte("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"></html>"), XHTML},
		{"json object", []byte(`{"a": [1, 2]}`), JSON},
		{"json array", []byte(" [1, 2, 3]\n"), JSON},
		{"json truncated", []byte(`{"a": "` + strings.Repeat("x", Window) + `"}`), JSON},
		{"bracket text", []byte("[this is not json"), Text},
		{"yaml doc", []byte("---\na: 1\n"), YAML},
		{"yaml keys", []byte("# settings\nname: app\nreplicas: 3\nports:\n  - 80\n"), YAML},
		{"toml", []byte("title = \"x\"\n[server]\nport = 8080\nenabled = true\n"), TOML},
		{"ini is text", []byte("[main]\nuser = root\nhost = db\n"), Text},
		{"plain", []byte("hello world\n"), Text},
		{"empty", []byte{}, Text},
		{"utf8 cut at window", []byte(long), Text},
		{"binary", []byte{0x00, 0x01, 0x02, 0xff}, OctetStream},
		{"invalid utf8", []byte("abc\xff\xfe"), OctetStream},
	}
	for _, tt := range tests {
		if got := SniffBytes(tt.in); got != tt.want {
			t.Errorf("SniffBytes(%s) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// seeds returns small sample files plus a few from the Go source tree.
func seeds(f *testing.F) {
	for _, b := range [][]byte{
		canarytest.PNG(), canarytest.JPEG(), canarytest.GIF(), canarytest.PDFClassic(0),
		canarytest.DOCX(1), canarytest.XLSX(), []byte("<html>"), []byte(`{"a":1}`), []byte("a: 1\nb: 2\n"),
	} {
		f.Add(b)
	}
	goroot := os.Getenv("GOROOT")
	if goroot == "" {
		goroot = "/usr/local/go"
	}
	for _, pattern := range []string{"src/archive/zip/testdata/*.zip", "src/image/testdata/*.png"} {
		files, _ := filepath.Glob(filepath.Join(goroot, pattern))
		for i, p := range files {
			if i >= 8 {
				break
			}
			if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
}

func FuzzSniff(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got := SniffBytes(data)
		if got == "" {
			t.Fatalf("SniffBytes returned an empty type")
		}
		if again := SniffBytes(data); again != got {
			t.Fatalf("SniffBytes not stable: %s then %s", got, again)
		}
	})
}
