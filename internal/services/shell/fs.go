package shell

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Default overlay limits. A session that reaches them gets "No space left
// on device", as a full disk would answer.
const (
	DefaultOverlayBytes = 4 << 20
	DefaultOverlayNodes = 4096
	// MaxReadBytes caps how much of one base file a command reads.
	MaxReadBytes = 1 << 20
)

// Errors returned by FS. Commands translate them to the text bash prints.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	ErrNotDir   = errors.New("not a directory")
	ErrIsDir    = errors.New("is a directory")
	ErrNoSpace  = errors.New("no space left on device")
	ErrNotEmpty = errors.New("directory not empty")
)

// FileInfo describes one file as ls shows it.
type FileInfo struct {
	Name    string
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
}

// IsDir reports whether the file is a directory.
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// FS is the filesystem a Shell sees: a read-only base (the decky's root
// directory) under an in-memory overlay that receives every write, so an
// attacker can never change or fill the host disk. Paths are absolute and
// slash-separated; "..", symlinks and the like are resolved by the base,
// which must itself stay inside its root (os.Root.FS does).
//
// An FS is safe for concurrent use. Each SSH session gets its own FS so one
// attacker never sees another's files.
type FS struct {
	base     fs.FS
	now      func() time.Time
	maxBytes int64
	maxNodes int

	// mu protects the following.
	mu    sync.Mutex
	over  map[string]*node
	bytes int64
}

// node is one overlay entry. A deleted node is a whiteout hiding the base
// file of the same path; an opaque directory hides the base's children.
type node struct {
	data    []byte
	mode    fs.FileMode
	mtime   time.Time
	deleted bool
	opaque  bool
}

// NewFS returns an FS over base (nil means an empty base holding only "/").
// maxBytes and maxNodes cap the overlay; zero picks the defaults.
func NewFS(base fs.FS, maxBytes int64, maxNodes int, now func() time.Time) *FS {
	if maxBytes <= 0 {
		maxBytes = DefaultOverlayBytes
	}
	if maxNodes <= 0 {
		maxNodes = DefaultOverlayNodes
	}
	if now == nil {
		now = time.Now
	}
	return &FS{base: base, now: now, maxBytes: maxBytes, maxNodes: maxNodes, over: map[string]*node{}}
}

// Clean returns p as a clean absolute path. Relative paths are taken from cwd.
func Clean(cwd, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = cwd + "/" + p
	}
	return path.Clean(p)
}

// basePath converts a clean absolute path to an io/fs path.
func basePath(p string) string {
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

// lookupLocked returns the overlay node for p, whether the base may be
// consulted for p, and whether an ancestor hides p.
func (f *FS) lookupLocked(p string) (n *node, baseVisible bool, hidden bool) {
	baseVisible = f.base != nil
	if p != "/" {
		parts := strings.Split(p[1:], "/")
		cur := ""
		for _, part := range parts[:len(parts)-1] {
			cur += "/" + part
			an, ok := f.over[cur]
			if !ok {
				continue
			}
			if an.deleted || !an.mode.IsDir() {
				return nil, false, true
			}
			if an.opaque {
				baseVisible = false
			}
		}
	}
	return f.over[p], baseVisible, false
}

// Stat returns the file at the clean absolute path p.
func (f *FS) Stat(p string) (FileInfo, error) {
	f.mu.Lock()
	n, baseVisible, hidden := f.lookupLocked(p)
	f.mu.Unlock()

	if hidden {
		return FileInfo{}, ErrNotExist
	}
	if n != nil {
		if n.deleted {
			return FileInfo{}, ErrNotExist
		}
		return FileInfo{Name: path.Base(p), Size: int64(len(n.data)), Mode: n.mode, ModTime: n.mtime}, nil
	}
	if p == "/" && !baseVisible {
		return FileInfo{Name: "/", Mode: fs.ModeDir | 0o755, ModTime: f.now()}, nil
	}
	if !baseVisible {
		return FileInfo{}, ErrNotExist
	}
	fi, err := fs.Stat(f.base, basePath(p))
	if err != nil {
		return FileInfo{}, ErrNotExist
	}
	return FileInfo{Name: path.Base(p), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}, nil
}

// ReadFile returns up to max bytes of the regular file at p.
func (f *FS) ReadFile(p string, max int64) ([]byte, error) {
	fi, err := f.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, ErrIsDir
	}

	f.mu.Lock()
	n := f.over[p]
	if n != nil {
		data := n.data
		if int64(len(data)) > max {
			data = data[:max]
		}
		out := append([]byte(nil), data...)
		f.mu.Unlock()
		return out, nil
	}
	f.mu.Unlock()

	// Only regular files are read: a FIFO or device in the root directory
	// would block or never end.
	if !fi.Mode.IsRegular() {
		return nil, fs.ErrPermission
	}
	file, err := f.base.Open(basePath(p))
	if err != nil {
		return nil, ErrNotExist
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, max))
	if err != nil {
		return nil, fs.ErrPermission
	}
	return data, nil
}

// ReadDir returns the entries of the directory at p sorted by name.
func (f *FS) ReadDir(p string) ([]FileInfo, error) {
	fi, err := f.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, ErrNotDir
	}

	f.mu.Lock()
	n, baseVisible, _ := f.lookupLocked(p)
	if n != nil && n.opaque {
		baseVisible = false
	}
	entries := map[string]FileInfo{}
	whiteouts := map[string]bool{}
	prefix := strings.TrimSuffix(p, "/") + "/"
	for k, v := range f.over {
		if !strings.HasPrefix(k, prefix) || strings.Contains(k[len(prefix):], "/") || k == p {
			continue
		}
		name := k[len(prefix):]
		if v.deleted {
			whiteouts[name] = true
			continue
		}
		entries[name] = FileInfo{Name: name, Size: int64(len(v.data)), Mode: v.mode, ModTime: v.mtime}
	}
	f.mu.Unlock()

	if baseVisible {
		des, err := fs.ReadDir(f.base, basePath(p))
		if err == nil {
			for _, de := range des {
				if _, ok := entries[de.Name()]; ok || whiteouts[de.Name()] {
					continue
				}
				info, err := de.Info()
				if err != nil {
					continue
				}
				entries[de.Name()] = FileInfo{Name: de.Name(), Size: info.Size(), Mode: info.Mode(), ModTime: info.ModTime()}
			}
		}
	}

	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// putLocked stores n at p, charging the overlay quota.
func (f *FS) putLocked(p string, n *node) error {
	old := f.over[p]
	delta := int64(len(n.data))
	if old != nil {
		delta -= int64(len(old.data))
	}
	if f.bytes+delta > f.maxBytes || (old == nil && len(f.over) >= f.maxNodes) {
		return ErrNoSpace
	}
	f.bytes += delta
	f.over[p] = n
	return nil
}

// parentDir checks that the parent of p is an existing directory.
func (f *FS) parentDir(p string) error {
	if p == "/" {
		return ErrExist
	}
	fi, err := f.Stat(path.Dir(p))
	if err != nil {
		return ErrNotExist
	}
	if !fi.IsDir() {
		return ErrNotDir
	}
	return nil
}

// WriteFile creates or replaces (or, with appendData, extends) the file at p
// in the overlay. The base file, if any, is copied up first when appending.
func (f *FS) WriteFile(p string, data []byte, appendData bool) error {
	if err := f.parentDir(p); err != nil {
		return err
	}
	fi, err := f.Stat(p)
	exists := err == nil
	if exists && fi.IsDir() {
		return ErrIsDir
	}

	var content []byte
	mode := fs.FileMode(0o644)
	if exists {
		mode = fi.Mode
		if appendData {
			old, err := f.ReadFile(p, f.maxBytes)
			if err != nil {
				return err
			}
			content = old
		}
	}
	if int64(len(content))+int64(len(data)) > f.maxBytes {
		return ErrNoSpace
	}
	content = append(content, data...)

	f.mu.Lock()
	defer f.mu.Unlock()
	return f.putLocked(p, &node{data: content, mode: mode, mtime: f.now()})
}

// Mkdir creates the directory p. With parents it creates missing parents and
// accepts an existing directory, as mkdir -p does.
func (f *FS) Mkdir(p string, parents bool) error {
	if fi, err := f.Stat(p); err == nil {
		if parents && fi.IsDir() {
			return nil
		}
		return ErrExist
	}
	if parents && p != "/" {
		if err := f.Mkdir(path.Dir(p), true); err != nil {
			return err
		}
	}
	if err := f.parentDir(p); err != nil {
		return err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	opaque := false
	if old, ok := f.over[p]; ok && old.deleted {
		opaque = true
	}
	return f.putLocked(p, &node{mode: fs.ModeDir | 0o755, mtime: f.now(), opaque: opaque})
}

// Remove deletes p. A non-empty directory needs recursive.
func (f *FS) Remove(p string, recursive bool) error {
	fi, err := f.Stat(p)
	if err != nil {
		return err
	}
	if p == "/" {
		return fs.ErrPermission
	}
	if fi.IsDir() && !recursive {
		entries, err := f.ReadDir(p)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return ErrNotEmpty
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := p + "/"
	for k, v := range f.over {
		if strings.HasPrefix(k, prefix) {
			f.bytes -= int64(len(v.data))
			delete(f.over, k)
		}
	}
	if old, ok := f.over[p]; ok {
		f.bytes -= int64(len(old.data))
		delete(f.over, p)
	}
	return f.putLocked(p, &node{deleted: true})
}

// Chmod sets the permission bits of p, copying a base file up first.
func (f *FS) Chmod(p string, perm fs.FileMode) error {
	fi, err := f.Stat(p)
	if err != nil {
		return err
	}

	var data []byte
	if !fi.IsDir() {
		data, err = f.ReadFile(p, f.maxBytes)
		if err != nil {
			return err
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.over[p]
	if n == nil {
		n = &node{data: data, mtime: fi.ModTime}
	} else {
		copied := *n
		n = &copied
	}
	n.mode = fi.Mode&^fs.ModePerm | perm&fs.ModePerm
	return f.putLocked(p, n)
}

// Touch creates an empty file at p or updates its modification time.
func (f *FS) Touch(p string) error {
	if _, err := f.Stat(p); err != nil {
		return f.WriteFile(p, nil, false)
	}
	fi, err := f.Stat(p)
	if err != nil {
		return err
	}
	return f.Chmod(p, fi.Mode.Perm())
}
