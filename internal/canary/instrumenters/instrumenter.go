// Package instrumenters rewrites operator-uploaded files so that opening
// or using them calls back to the canary receivers. Each instrumenter
// streams its output, is deterministic (the same input and context give
// the same bytes) and fails with an error wrapping
// artifact.ErrUnsupported rather than ship a file that cannot trip.
package instrumenters

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/mime"
)

// Instrumenter rewrites one kind of file.
type Instrumenter interface {
	// Name is the registry name, such as "docx".
	Name() string
	// Instrument reads size bytes from src and writes the instrumented
	// file to w. The returned artifact has no Content. On error w may
	// hold partial output, which the caller discards.
	Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error)
}

// registry lists the instrumenters in a fixed order.
var registry = []Instrumenter{docx{}, xlsx{}, pdfInstrumenter{}, htmlInstrumenter{}, imageInstrumenter{}, plain{}, passthrough{}}

// maxTextSize caps the text formats (plain, html), which are rewritten in
// memory.
const maxTextSize = 32 << 20

// Names returns the instrumenter names in registry order.
func Names() []string {
	out := make([]string, len(registry))
	for i, in := range registry {
		out[i] = in.Name()
	}
	return out
}

// Get returns the instrumenter with the given name.
func Get(name string) (Instrumenter, error) {
	for _, in := range registry {
		if in.Name() == name {
			return in, nil
		}
	}
	return nil, fmt.Errorf("instrumenter %q (want one of %s): %w", name, strings.Join(Names(), ", "), artifact.ErrUnknown)
}

// Pick returns the name of the instrumenter for a media type. Types no
// instrumenter can rewrite map to passthrough.
func Pick(mediaType string) string {
	t := strings.ToLower(strings.TrimSpace(mediaType))
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case mime.DOCX, mime.DOCM:
		return "docx"
	case mime.XLSX, mime.XLSM:
		return "xlsx"
	case mime.PDF:
		return "pdf"
	case mime.HTML, mime.XHTML:
		return "html"
	case mime.PNG, mime.JPEG, mime.GIF:
		return "image"
	case mime.JSON, mime.YAML, "application/x-yaml", mime.TOML:
		return "plain"
	}
	if strings.HasPrefix(t, "text/") {
		return "plain"
	}
	return "passthrough"
}

// AllowedKinds returns the token kinds an instrumenter's output can serve.
func AllowedKinds(name string, tc artifact.Context) []artifact.Kind {
	switch name {
	case "passthrough":
		return []artifact.Kind{artifact.KindDNS}
	case "pdf":
		if tc.DNSZone != "" {
			return []artifact.Kind{artifact.KindHTTP, artifact.KindDNS}
		}
	case "plain":
		return []artifact.Kind{artifact.KindHTTP, artifact.KindDNS}
	}
	return []artifact.Kind{artifact.KindHTTP}
}

// readAll reads a whole text input, capped at maxTextSize.
func readAll(src io.ReaderAt, size int64) ([]byte, error) {
	if size > maxTextSize {
		return nil, fmt.Errorf("input is %d bytes, the limit for text files is %d: %w", size, maxTextSize, artifact.ErrTooLarge)
	}
	b := make([]byte, size)
	if _, err := src.ReadAt(b, 0); err != nil && (err != io.EOF || int64(len(b)) != size) {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return b, nil
}

// copyAll copies the whole input to w.
func copyAll(w io.Writer, src io.ReaderAt, size int64) error {
	if _, err := io.Copy(w, io.NewSectionReader(src, 0, size)); err != nil {
		return fmt.Errorf("copy input: %w", err)
	}
	return nil
}

// Bytes runs an instrumenter on in-memory content and returns the
// artifact with Content set.
func Bytes(in Instrumenter, tc artifact.Context, content []byte) (artifact.Artifact, error) {
	var out bytes.Buffer
	a, err := in.Instrument(tc, bytes.NewReader(content), int64(len(content)), &out)
	if err != nil {
		return artifact.Artifact{}, err
	}
	a.Content = out.Bytes()
	return a, nil
}
