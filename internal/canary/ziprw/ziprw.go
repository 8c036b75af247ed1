// Package ziprw rewrites zip archives such as OOXML documents: it reads a
// few entries, replaces or adds some, and copies every other entry raw
// (still compressed, never inflated). It caps the entry count and the
// declared uncompressed size so that a zip bomb is rejected before any
// work, and rejects encrypted entries.
package ziprw

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// Limits caps what an archive may contain.
type Limits struct {
	// MaxEntries caps the number of entries.
	MaxEntries int
	// MaxTotal caps the sum of the declared uncompressed sizes, in bytes.
	MaxTotal uint64
	// MaxEntry caps the uncompressed size of one entry that is read.
	MaxEntry int64
}

// DefaultLimits fit office documents with large embedded media: 10,000
// entries, 1 GiB uncompressed in total, 64 MiB per entry read.
var DefaultLimits = Limits{MaxEntries: 10_000, MaxTotal: 1 << 30, MaxEntry: 64 << 20}

// Archive is an opened zip archive.
type Archive struct {
	r      *zip.Reader
	lim    Limits
	byName map[string]*zip.File
	byFold map[string]*zip.File
}

// Open reads the central directory of the zip in ra and checks it
// against lim. Errors wrap artifact.ErrUnsupported.
func Open(ra io.ReaderAt, size int64, lim Limits) (*Archive, error) {
	r, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, artifact.Unsupported("zip: not a valid zip archive: %v", err)
	}
	if len(r.File) > lim.MaxEntries {
		return nil, artifact.Unsupported("zip: %d entries, the limit is %d", len(r.File), lim.MaxEntries)
	}

	a := &Archive{r: r, lim: lim, byName: map[string]*zip.File{}, byFold: map[string]*zip.File{}}
	var total uint64
	for _, f := range r.File {
		if f.Flags&0x1 != 0 {
			return nil, artifact.Unsupported("zip: entry %q is encrypted", f.Name)
		}
		total += f.UncompressedSize64
		if total > lim.MaxTotal || f.UncompressedSize64 > lim.MaxTotal {
			return nil, artifact.Unsupported("zip: uncompressed size exceeds %d bytes", lim.MaxTotal)
		}
		fold := strings.ToLower(f.Name)
		if _, dup := a.byFold[fold]; dup {
			return nil, artifact.Unsupported("zip: duplicate entry %q", f.Name)
		}
		a.byName[f.Name] = f
		a.byFold[fold] = f
	}
	return a, nil
}

// Names returns the entry names in archive order.
func (a *Archive) Names() []string {
	out := make([]string, len(a.r.File))
	for i, f := range a.r.File {
		out[i] = f.Name
	}
	return out
}

// Lookup returns the archive's own spelling of name, matched exactly or
// else case-insensitively (OPC part names ignore case).
func (a *Archive) Lookup(name string) (string, bool) {
	if f, ok := a.byName[name]; ok {
		return f.Name, true
	}
	if f, ok := a.byFold[strings.ToLower(name)]; ok {
		return f.Name, true
	}
	return "", false
}

// Modified returns the modification time of an entry, or the zero time.
func (a *Archive) Modified(name string) time.Time {
	if f := a.file(name); f != nil {
		return f.Modified
	}
	return time.Time{}
}

func (a *Archive) file(name string) *zip.File {
	if n, ok := a.Lookup(name); ok {
		return a.byName[n]
	}
	return nil
}

// Read inflates one entry, capped at Limits.MaxEntry bytes.
func (a *Archive) Read(name string) ([]byte, error) {
	f := a.file(name)
	if f == nil {
		return nil, fmt.Errorf("zip: entry %q not found", name)
	}
	if f.UncompressedSize64 > uint64(a.lim.MaxEntry) {
		return nil, artifact.Unsupported("zip: entry %q is %d bytes uncompressed, the limit is %d", name, f.UncompressedSize64, a.lim.MaxEntry)
	}

	rc, err := f.Open()
	if err != nil {
		return nil, artifact.Unsupported("zip: open entry %q: %v", name, err)
	}
	defer rc.Close()

	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rc, a.lim.MaxEntry+1))
	if err != nil {
		return nil, artifact.Unsupported("zip: read entry %q: %v", name, err)
	}
	if n > a.lim.MaxEntry {
		return nil, artifact.Unsupported("zip: entry %q inflates past %d bytes", name, a.lim.MaxEntry)
	}
	return buf.Bytes(), nil
}

// Entry is a new archive member.
type Entry struct {
	Name     string
	Data     []byte
	Modified time.Time
}

// Edit lists the changes Write applies.
type Edit struct {
	// Replace maps existing entry names (as Lookup spells them) to new
	// content. A replaced entry keeps its position and time and is
	// written deflated.
	Replace map[string][]byte
	// Add lists entries appended after the existing ones, in order.
	Add []Entry
}

// Write writes the edited archive to w. Entries not replaced are copied
// raw with their original headers.
func (a *Archive) Write(w io.Writer, e Edit) error {
	for name := range e.Replace {
		if _, ok := a.byName[name]; !ok {
			return fmt.Errorf("zip: replace %q: entry not found", name)
		}
	}
	for _, add := range e.Add {
		if _, exists := a.Lookup(add.Name); exists {
			return fmt.Errorf("zip: add %q: entry exists", add.Name)
		}
	}

	zw := zip.NewWriter(w)
	for _, f := range a.r.File {
		if data, ok := e.Replace[f.Name]; ok {
			fh := &zip.FileHeader{
				Name:         f.Name,
				Comment:      f.Comment,
				Method:       zip.Deflate,
				Modified:     f.Modified,
				ModifiedTime: f.ModifiedTime, //nolint:staticcheck // copied so untouched entries keep their exact MS-DOS time
				ModifiedDate: f.ModifiedDate, //nolint:staticcheck // copied so untouched entries keep their exact MS-DOS time
			}
			if err := writeEntry(zw, fh, data); err != nil {
				return err
			}
			continue
		}
		if err := copyRaw(zw, f); err != nil {
			return err
		}
	}

	for _, add := range e.Add {
		fh := &zip.FileHeader{Name: add.Name, Method: zip.Deflate, Modified: add.Modified}
		if err := writeEntry(zw, fh, add.Data); err != nil {
			return err
		}
	}

	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: finish archive: %w", err)
	}
	return nil
}

func writeEntry(zw *zip.Writer, fh *zip.FileHeader, data []byte) error {
	ew, err := zw.CreateHeader(fh)
	if err != nil {
		return fmt.Errorf("zip: write entry %q: %w", fh.Name, err)
	}
	if _, err := ew.Write(data); err != nil {
		return fmt.Errorf("zip: write entry %q: %w", fh.Name, err)
	}
	return nil
}

func copyRaw(zw *zip.Writer, f *zip.File) error {
	fh := f.FileHeader
	ew, err := zw.CreateRaw(&fh)
	if err != nil {
		return fmt.Errorf("zip: copy entry %q: %w", f.Name, err)
	}
	rc, err := f.OpenRaw()
	if err != nil {
		return artifact.Unsupported("zip: copy entry %q: %v", f.Name, err)
	}
	if _, err := io.Copy(ew, rc); err != nil {
		return artifact.Unsupported("zip: copy entry %q: %v", f.Name, err)
	}
	return nil
}
