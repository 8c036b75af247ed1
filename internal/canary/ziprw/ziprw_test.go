package ziprw

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/canarytest"
)

func TestRewrite(t *testing.T) {
	src := canarytest.Zip("a.txt", "alpha", "b/c.xml", "<c/>", "d.bin", "delta")
	a, err := Open(bytes.NewReader(src), int64(len(src)), DefaultLimits)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	when := time.Date(2023, 1, 2, 3, 4, 6, 0, time.UTC)
	var out bytes.Buffer
	err = a.Write(&out, Edit{
		Replace: map[string][]byte{"b/c.xml": []byte("<c>new</c>")},
		Add:     []Entry{{Name: "e.txt", Data: []byte("echo"), Modified: when}},
	})
	if err != nil {
		t.Fatalf("Write() error: %v", err)
	}

	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatalf("output is not a zip: %v", err)
	}
	want := map[string]string{"a.txt": "alpha", "b/c.xml": "<c>new</c>", "d.bin": "delta", "e.txt": "echo"}
	order := []string{"a.txt", "b/c.xml", "d.bin", "e.txt"}
	if len(zr.File) != len(order) {
		t.Fatalf("output has %d entries, want %d", len(zr.File), len(order))
	}
	for i, f := range zr.File {
		if f.Name != order[i] {
			t.Errorf("entry %d = %s, want %s", i, f.Name, order[i])
		}
		rc, _ := f.Open()
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != want[f.Name] {
			t.Errorf("entry %s = %q, %v; want %q", f.Name, b, err, want[f.Name])
		}
	}
	if !zr.File[3].Modified.Equal(when) {
		t.Errorf("added entry time = %v, want %v", zr.File[3].Modified, when)
	}
}

func TestOpenLimits(t *testing.T) {
	src := canarytest.Zip("a", "1", "b", "2", "c", "3")
	if _, err := Open(bytes.NewReader(src), int64(len(src)), Limits{MaxEntries: 2, MaxTotal: 1 << 20, MaxEntry: 1 << 20}); !errors.Is(err, artifact.ErrUnsupported) {
		t.Errorf("Open(3 entries, max 2) error = %v, want ErrUnsupported", err)
	}

	// A zip bomb: 12 MiB of zeros compresses to about 12 KiB.
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("zeros")
	_, _ = w.Write(make([]byte, 12<<20))
	_ = zw.Close()
	if _, err := Open(bytes.NewReader(b.Bytes()), int64(b.Len()), Limits{MaxEntries: 10, MaxTotal: 10 << 20, MaxEntry: 1 << 20}); !errors.Is(err, artifact.ErrUnsupported) {
		t.Errorf("Open(zip bomb) error = %v, want ErrUnsupported", err)
	}

	a, err := Open(bytes.NewReader(b.Bytes()), int64(b.Len()), Limits{MaxEntries: 10, MaxTotal: 100 << 20, MaxEntry: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read("zeros"); !errors.Is(err, artifact.ErrUnsupported) {
		t.Errorf("Read(entry over MaxEntry) error = %v, want ErrUnsupported", err)
	}
}

func TestOpenRejects(t *testing.T) {
	enc := canarytest.Zip("secret.txt", "x")
	// Set the encryption bit in the local and central headers.
	enc = bytes.Replace(enc, []byte("PK\x03\x04\x14\x00\x08\x00"), []byte("PK\x03\x04\x14\x00\x09\x00"), 1)
	enc = bytes.Replace(enc, []byte("PK\x01\x02\x14\x00\x14\x00\x08\x00"), []byte("PK\x01\x02\x14\x00\x14\x00\x09\x00"), 1)

	dup := canarytest.Zip("a.xml", "1", "A.xml", "2")
	tests := map[string][]byte{"not a zip": []byte("hello"), "encrypted": enc, "duplicate names": dup}
	for name, data := range tests {
		if _, err := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits); !errors.Is(err, artifact.ErrUnsupported) {
			t.Errorf("Open(%s) error = %v, want ErrUnsupported", name, err)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add(canarytest.DOCX(1))
	f.Add(canarytest.XLSX())
	f.Add(canarytest.Zip("a", "b"))
	files, _ := filepath.Glob("/usr/local/go/src/archive/zip/testdata/*.zip")
	for i, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 && i < 12 {
			f.Add(b)
		}
	}
	lim := Limits{MaxEntries: 64, MaxTotal: 4 << 20, MaxEntry: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Open(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			return
		}
		names := a.Names()
		edit := Edit{Replace: map[string][]byte{}}
		if len(names) > 0 {
			if _, err := a.Read(names[0]); err == nil {
				edit.Replace[names[0]] = []byte("replaced")
			}
		}
		var out bytes.Buffer
		if err := a.Write(&out, edit); err != nil {
			return
		}
		if _, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
			t.Fatalf("rewritten archive does not open: %v", err)
		}
	})
}
