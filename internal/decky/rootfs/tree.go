package rootfs

import (
	"io/fs"
	"math/rand/v2"
	"time"

	"github.com/decnet/decnet/internal/decky"
)

// tree accumulates the entries of one decky's filesystem.
type tree struct {
	d         decky.Decky
	dist      decky.Distro
	r         *rand.Rand
	now       time.Time
	installed time.Time // when the OS was "installed"; most mtimes follow it
	users     []User
	company   string
	files     []File
	seen      map[string]bool
}

func newTree(d decky.Decky, now time.Time) *tree {
	dist, err := decky.LookupDistro(d.Distro)
	if err != nil {
		dist, _ = decky.LookupDistro("debian")
	}
	r := d.Rand("rootfs")
	age := time.Duration(120+r.IntN(720)) * 24 * time.Hour
	installed := now.Add(-age).Truncate(time.Second)
	return &tree{
		d:         d,
		dist:      dist,
		r:         r,
		now:       now,
		installed: installed,
		users:     Users(d),
		company:   companyName(d),
		seen:      make(map[string]bool),
	}
}

// dir adds a directory and any missing parents, which get mode 0755 and
// root ownership.
func (t *tree) dir(p string, mode fs.FileMode, owner User, mtime time.Time) {
	if t.seen[p] {
		return
	}
	if parent := parentOf(p); parent != "" {
		t.dir(parent, 0o755, User{}, t.installed)
	}
	t.seen[p] = true
	t.files = append(t.files, File{Path: p, Mode: fs.ModeDir | mode, ModTime: mtime, UID: owner.UID, GID: owner.GID})
}

// file adds a regular file, and its parent directories when missing.
func (t *tree) file(p, data string, mode fs.FileMode, owner User, mtime time.Time) {
	if parent := parentOf(p); parent != "" {
		t.dir(parent, 0o755, User{}, t.installed)
	}
	t.seen[p] = true
	t.files = append(t.files, File{Path: p, Data: []byte(data), Mode: mode, ModTime: mtime, UID: owner.UID, GID: owner.GID})
}

// soon returns a time up to maxDays after the install time, never later
// than an hour before now.
func (t *tree) soon(maxDays int) time.Time {
	return t.clamp(t.installed.Add(time.Duration(t.r.Int64N(int64(maxDays)*86400)+60) * time.Second))
}

// recent returns a time within the last maxDays days, never before the
// install time.
func (t *tree) recent(maxDays int) time.Time {
	at := t.now.Add(-time.Duration(3600+t.r.Int64N(int64(maxDays)*86400)) * time.Second).Truncate(time.Second)
	if at.Before(t.installed) {
		return t.installed.Add(time.Hour)
	}
	return at
}

func (t *tree) clamp(at time.Time) time.Time {
	if limit := t.now.Add(-time.Hour); at.After(limit) {
		return limit.Truncate(time.Second)
	}
	return at.Truncate(time.Second)
}

func (t *tree) hasService(name string) bool {
	_, ok := t.d.Service(name)
	return ok
}

func (t *tree) pick(options []string) string {
	return options[t.r.IntN(len(options))]
}

// parentOf returns the parent of a decky path, or "" at a root ("/" or
// "C:").
func parentOf(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			if i == 2 && p[1] == ':' {
				return p[:2]
			}
			return p[:i]
		}
	}
	return ""
}

func companyName(d decky.Decky) string {
	r := d.Rand("company")
	prefixes := []string{"Bluestone", "Northgate", "Meridian", "Crestline", "Ironwood", "Silverlake", "Redfield", "Oakridge"}
	suffixes := []string{"Logistics", "Holdings", "Engineering", "Health", "Consulting", "Manufacturing"}
	return prefixes[r.IntN(len(prefixes))] + " " + suffixes[r.IntN(len(suffixes))]
}
