package shell

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestFSStaysInsideRoot(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inside.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":    outside,
		"rel":    filepath.Join("..", filepath.Base(outside)),
		"good":   "inside.txt",
		"loop":   "loop",
		"etcpwd": "/etc/passwd",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fsys := NewFS(root.FS(), 0, 0, nil)

	tests := []struct {
		path    string
		wantErr bool
		want    string
	}{
		{"/inside.txt", false, "ok"},
		{"/good", false, "ok"},
		{"/../../inside.txt", false, "ok"},
		{"/abs/secret", true, ""},
		{"/rel/secret", true, ""},
		{"/etcpwd", true, ""},
		{"/loop", true, ""},
	}
	for _, tc := range tests {
		data, err := fsys.ReadFile(Clean("/", tc.path), MaxReadBytes)
		if (err != nil) != tc.wantErr || string(data) != tc.want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q, error %v", tc.path, data, err, tc.want, tc.wantErr)
		}
	}
	if _, err := fsys.ReadDir("/abs"); err == nil {
		t.Error("ReadDir through a symlink out of the root succeeded")
	}

	// Writes never reach the directory.
	sh := New(Env{}, fsys)
	run(t, sh, "echo x > /new.txt; rm -rf /inside.txt; mkdir /d; chmod 000 /good")
	if _, err := os.Stat(filepath.Join(dir, "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("redirect created a file in the root directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "inside.txt")); err != nil {
		t.Errorf("rm removed a file of the root directory: %v", err)
	}
}

func TestFSOverlay(t *testing.T) {
	base := fstest.MapFS{"a/b.txt": {Data: []byte("base")}, "a/c.txt": {Data: []byte("c")}}
	tests := []struct {
		name string
		op   func(f *FS) error
		path string
		want string
		err  error
	}{
		{"base read", func(*FS) error { return nil }, "/a/b.txt", "base", nil},
		{"replace", func(f *FS) error { return f.WriteFile("/a/b.txt", []byte("new"), false) }, "/a/b.txt", "new", nil},
		{"append copies up", func(f *FS) error { return f.WriteFile("/a/b.txt", []byte("+"), true) }, "/a/b.txt", "base+", nil},
		{"remove hides base", func(f *FS) error { return f.Remove("/a/b.txt", false) }, "/a/b.txt", "", ErrNotExist},
		{"remove dir hides children", func(f *FS) error { return f.Remove("/a", true) }, "/a/c.txt", "", ErrNotExist},
		{"recreated dir is empty", func(f *FS) error {
			if err := f.Remove("/a", true); err != nil {
				return err
			}
			return f.Mkdir("/a", false)
		}, "/a/c.txt", "", ErrNotExist},
		{"write needs parent", func(f *FS) error { return f.WriteFile("/x/y", nil, false) }, "/x/y", "", ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFS(base, 0, 0, nil)
			if err := tc.op(f); err != nil && tc.err == nil {
				t.Fatalf("op: %v", err)
			}
			data, err := f.ReadFile(tc.path, MaxReadBytes)
			if !errors.Is(err, tc.err) || (err == nil && string(data) != tc.want) {
				t.Errorf("ReadFile(%s) = %q, %v; want %q, %v", tc.path, data, err, tc.want, tc.err)
			}
		})
	}

	f := NewFS(base, 0, 0, nil)
	if err := f.Remove("/a", false); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Remove of a non-empty directory without recursive: %v, want ErrNotEmpty", err)
	}
	if err := f.Remove("/", true); err == nil {
		t.Error("Remove(/) succeeded")
	}
}
