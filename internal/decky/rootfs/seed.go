// Package rootfs generates the fake filesystem of a decky: the files under
// /etc, home directories with shell history, a web root and a few files an
// intruder would look for, all consistent with the decky's distro, persona,
// hostname and services.
//
// Files returns the tree as data, so a driver can copy it anywhere (the
// docker driver writes it through the archive API, which keeps owners).
// Seed writes it into a host directory that is the decky's root.
// Paths inside a decky map to that directory as HostPath describes; a
// Windows persona's C: drive is the directory "C".
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"github.com/decnet/decnet/internal/decky"
)

// File is one entry of a decky's filesystem. Directories have fs.ModeDir
// set in Mode and no Data.
type File struct {
	Path    string // path inside the decky, such as /etc/passwd or C:/Users
	Data    []byte
	Mode    fs.FileMode
	ModTime time.Time
	UID     int
	GID     int
}

// Files returns the filesystem tree of d as it should look at now, parents
// before children. Equal inputs give equal trees; mtimes lie in the past of
// now, spread over the months since the decky was "installed".
func Files(d decky.Decky, now time.Time) []File {
	t := newTree(d, now)
	if d.Persona.IsWindows() {
		t.windows()
	} else {
		t.linux()
	}
	return t.files
}

// Seed writes the filesystem of d into dir, as Files describes it at the
// current time. It is idempotent: files that exist already are kept as they
// are, so changes an intruder made or files a planter added survive a
// redeploy. Owners are not set, because the host's uids mean other users;
// File.UID and File.GID carry them for drivers that can.
func Seed(dir string, d decky.Decky) error {
	return SeedAt(dir, d, time.Now())
}

// SeedAt is Seed with an explicit clock.
func SeedAt(dir string, d decky.Decky, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("seed rootfs of %s: %w", d.Name, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("seed rootfs of %s: %w", d.Name, err)
	}
	defer root.Close()

	// Creating entries updates the mtime of their parent, so the times of
	// new directories are set after every file is written.
	var newDirs []File
	for _, f := range Files(d, now) {
		rel, err := HostPath(f.Path)
		if err != nil {
			return fmt.Errorf("seed rootfs of %s: %w", d.Name, err)
		}
		created, err := writeEntry(root, rel, f)
		if err != nil {
			return fmt.Errorf("seed rootfs of %s: write %s: %w", d.Name, f.Path, err)
		}
		if created && f.Mode.IsDir() {
			newDirs = append(newDirs, f)
		}
	}

	slices.Reverse(newDirs)
	for _, f := range newDirs {
		rel, _ := HostPath(f.Path)
		if err := root.Chtimes(rel, f.ModTime, f.ModTime); err != nil {
			return fmt.Errorf("seed rootfs of %s: set time of %s: %w", d.Name, f.Path, err)
		}
	}
	return nil
}

// writeEntry creates one file or directory unless it exists, and reports
// whether it did.
func writeEntry(root *os.Root, rel string, f File) (bool, error) {
	if f.Mode.IsDir() {
		if _, err := root.Stat(rel); err == nil {
			return false, nil
		}
		if err := root.MkdirAll(rel, f.Mode.Perm()|0o700); err != nil {
			return false, err
		}
		return true, nil
	}

	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
	}
	// The owner keeps read and write access: the decnet process is the
	// only reader of these files on the host.
	out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode.Perm()|0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := out.Write(f.Data); err != nil {
		out.Close()
		return false, err
	}
	if err := out.Close(); err != nil {
		return false, err
	}
	if err := root.Chtimes(rel, f.ModTime, f.ModTime); err != nil {
		return false, err
	}
	return true, nil
}
