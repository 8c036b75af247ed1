package blobstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestPutOpenRemove(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}

	content := []byte("quarterly figures\n")
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])

	digest, size, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatalf("Put() error: %v", err)
	}
	if digest != want || size != int64(len(content)) {
		t.Fatalf("Put() = %s, %d, want %s, %d", digest, size, want, len(content))
	}

	path := filepath.Join(dir, want[0:2], want[2:4], want)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("blob not at fan-out path %s: %v", path, err)
	}

	f, err := s.Open(digest)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("Open() content = %q, want %q", got, content)
	}

	if _, err := s.Remove(digest, 1); !errors.Is(err, ErrReferenced) {
		t.Errorf("Remove(refs=1) error = %v, want ErrReferenced", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Remove(refs=1) deleted the blob")
	}

	removed, err := s.Remove(digest, 0)
	if err != nil || !removed {
		t.Errorf("Remove(refs=0) = %v, %v, want true, nil", removed, err)
	}
	removed, err = s.Remove(digest, 0)
	if err != nil || removed {
		t.Errorf("second Remove() = %v, %v, want false, nil", removed, err)
	}
	if _, err := s.Open(digest); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open() after Remove error = %v, want ErrNotFound", err)
	}
}

func TestPutIdempotent(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)

	d1, _, err := s.Put(strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path(d1)
	before, _ := os.Stat(path)

	d2, _, err := s.Put(strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if d1 != d2 {
		t.Errorf("Put() digests differ: %s vs %s", d1, d2)
	}
	if !os.SameFile(before, after) {
		t.Errorf("second Put() replaced the existing file")
	}

	left, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(left) != 0 {
		t.Errorf("temp directory holds %d leftover files", len(left))
	}
}

func TestPutConcurrent(t *testing.T) {
	s, _ := New(t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Put(strings.NewReader("shared content"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put() error: %v", err)
		}
	}
}

func TestPutMaxSize(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)
	s.MaxSize = 10

	if _, _, err := s.Put(strings.NewReader(strings.Repeat("x", 11))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put(11 bytes, max 10) error = %v, want ErrTooLarge", err)
	}
	if _, _, err := s.Put(strings.NewReader(strings.Repeat("x", 10))); err != nil {
		t.Errorf("Put(10 bytes, max 10) error: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(left) != 0 {
		t.Errorf("temp directory holds %d leftover files after a rejected Put", len(left))
	}
}

func TestInvalidDigest(t *testing.T) {
	s, _ := New(t.TempDir())
	for _, d := range []string{"", "abc", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		if _, err := s.Open(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Open(%q) error = %v, want ErrInvalidDigest", d, err)
		}
		if _, err := s.Remove(d, 0); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Remove(%q) error = %v, want ErrInvalidDigest", d, err)
		}
	}
}

// TestPutStreams checks that a 64 MiB upload is not held in memory: the
// heap grows by far less than the blob size.
func TestPutStreams(t *testing.T) {
	s, _ := New(t.TempDir())
	const n = 64 << 20

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	_, size, err := s.Put(io.LimitReader(zeroReader{}, n))
	if err != nil {
		t.Fatalf("Put() error: %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	if size != n {
		t.Fatalf("Put() size = %d, want %d", size, n)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > n/8 {
		t.Errorf("Put(%d bytes) allocated %d bytes, want streaming", n, grew)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
