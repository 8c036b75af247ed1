// Package blobstore keeps uploaded canary source files on disk, keyed by
// the SHA-256 of their content. The file for digest h lives at
// <dir>/h[0:2]/h[2:4]/h. Writes stream through a temporary file and are
// renamed into place, so a reader never sees a partial blob and writing
// the same content twice is a no-op.
package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

var (
	// ErrNotFound means no blob has the given digest.
	ErrNotFound = errors.New("blobstore: blob not found")

	// ErrTooLarge means a Put exceeded Store.MaxSize.
	ErrTooLarge = errors.New("blobstore: blob too large")

	// ErrReferenced means Remove was called with a non-zero reference
	// count; the blob stays.
	ErrReferenced = errors.New("blobstore: blob is still referenced")

	// ErrInvalidDigest means a digest is not 64 lowercase hex characters.
	ErrInvalidDigest = errors.New("blobstore: invalid sha256 digest")
)

// tmpDir is the directory under the root that holds partial writes.
const tmpDir = ".tmp"

// Store is a content-addressed file store. It is safe for concurrent use
// by several goroutines and processes sharing the directory.
type Store struct {
	dir string

	// MaxSize caps the size of one blob in bytes; 0 means no cap. Set it
	// before the first Put.
	MaxSize int64
}

// New returns a store rooted at dir, creating the directory if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blobstore: directory is empty")
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("blobstore: create %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Put streams r into the store and returns the hex SHA-256 digest and size
// of the content. Storing content that is already present leaves the
// existing file untouched.
func (s *Store) Put(r io.Reader) (digest string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blobstore: create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := sha256.New()
	src := r
	if s.MaxSize > 0 {
		src = io.LimitReader(r, s.MaxSize+1)
	}
	size, err = io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return "", 0, fmt.Errorf("blobstore: write temp file: %w", err)
	}
	if s.MaxSize > 0 && size > s.MaxSize {
		return "", 0, fmt.Errorf("blobstore: blob exceeds %d bytes: %w", s.MaxSize, ErrTooLarge)
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("blobstore: sync temp file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("blobstore: close temp file: %w", err)
	}

	digest = hex.EncodeToString(h.Sum(nil))
	target := s.path(digest)
	if _, statErr := os.Stat(target); statErr == nil {
		os.Remove(tmp.Name())
		return digest, size, nil
	}

	if err = os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", 0, fmt.Errorf("blobstore: create fan-out directory: %w", err)
	}
	if err = os.Chmod(tmp.Name(), 0o640); err != nil {
		return "", 0, fmt.Errorf("blobstore: chmod temp file: %w", err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return "", 0, fmt.Errorf("blobstore: rename blob %s into place: %w", digest, err)
	}
	return digest, size, nil
}

// Open returns the blob with the given digest for reading. The caller
// closes it. A missing blob returns an error wrapping ErrNotFound.
func (s *Store) Open(digest string) (*os.File, error) {
	if !ValidDigest(digest) {
		return nil, fmt.Errorf("blobstore: open %q: %w", digest, ErrInvalidDigest)
	}
	f, err := os.Open(s.path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blobstore: open %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobstore: open %s: %w", digest, err)
	}
	return f, nil
}

// Remove deletes the blob when refCount, the number of tokens that still
// use it as counted by the caller, is zero. It reports whether a file was
// removed; removing a missing blob is not an error.
func (s *Store) Remove(digest string, refCount int) (bool, error) {
	if !ValidDigest(digest) {
		return false, fmt.Errorf("blobstore: remove %q: %w", digest, ErrInvalidDigest)
	}
	if refCount != 0 {
		return false, fmt.Errorf("blobstore: remove %s with %d references: %w", digest, refCount, ErrReferenced)
	}

	err := os.Remove(s.path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blobstore: remove %s: %w", digest, err)
	}
	return true, nil
}

// Path returns the file path of a digest, whether or not the blob exists.
func (s *Store) Path(digest string) (string, error) {
	if !ValidDigest(digest) {
		return "", fmt.Errorf("blobstore: path %q: %w", digest, ErrInvalidDigest)
	}
	return s.path(digest), nil
}

func (s *Store) path(digest string) string {
	return filepath.Join(s.dir, digest[0:2], digest[2:4], digest)
}

// ValidDigest reports whether d is a lowercase hex SHA-256 digest.
func ValidDigest(d string) bool {
	if len(d) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
