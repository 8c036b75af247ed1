// Package canary is the entry point to decnet's canary artifacts: it
// generates decoy files, instruments uploaded files, sniffs their media
// type and chooses where they go in a decky. The work is done by the
// subpackages generators, instrumenters, mime, placement, pdf and ziprw;
// the shared types live in package artifact and are re-exported here.
package canary

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/generators"
	"github.com/decnet/decnet/internal/canary/instrumenters"
	"github.com/decnet/decnet/internal/canary/mime"
	"github.com/decnet/decnet/internal/canary/placement"
	"github.com/decnet/decnet/internal/canary/slug"
)

// The aliases below are defined in the artifact subpackage and shared with
// the generators and instrumenters.
type (
	// Context is what a generator or instrumenter needs to know about a token.
	Context = artifact.Context
	// Artifact is the file a generator or instrumenter produced.
	Artifact = artifact.Artifact
	// Notes tell the operator what an artifact is and what trips it.
	Notes = artifact.Notes
	// Persona is the operating-system family the artifact is shaped for.
	Persona = artifact.Persona
	// Kind is how a token calls back: http, dns or aws_passive.
	Kind = artifact.Kind
)

// Personas and kinds.
const (
	PersonaLinux   = artifact.PersonaLinux
	PersonaWindows = artifact.PersonaWindows
	KindHTTP       = artifact.KindHTTP
	KindDNS        = artifact.KindDNS
	KindPassive    = artifact.KindPassive
)

// Error kinds; see package artifact for the status code each maps to.
var (
	ErrUnsupported  = artifact.ErrUnsupported  // 415
	ErrTooLarge     = artifact.ErrTooLarge     // 413
	ErrKindMismatch = artifact.ErrKindMismatch // 422
	ErrUnknown      = artifact.ErrUnknown      // 400
)

// NewSlug returns a fresh random token slug.
func NewSlug() (string, error) { return slug.New() }

// ValidSlug reports whether s is a slug (case-insensitive).
func ValidSlug(s string) bool { return slug.Valid(s) }

// ParsePersona returns the persona named s ("" means linux).
func ParsePersona(s string) (Persona, error) { return artifact.ParsePersona(s) }

// Generators returns the generator names in registry order.
func Generators() []string { return generators.Names() }

// Instrumenters returns the instrumenter names in registry order.
func Instrumenters() []string { return instrumenters.Names() }

// Generate builds the named generator's artifact for ctx, with Content
// and the default placement path set.
func Generate(name string, ctx Context) (Artifact, error) {
	return generators.Generate(name, ctx)
}

// Instrument rewrites in-memory content with the named instrumenter
// ("auto" or "" picks one from the sniffed media type).
func Instrument(name string, ctx Context, content []byte) (Artifact, error) {
	var out bytes.Buffer
	a, err := InstrumentTo(name, ctx, bytes.NewReader(content), int64(len(content)), &out)
	if err != nil {
		return Artifact{}, err
	}
	a.Content = out.Bytes()
	return a, nil
}

// InstrumentTo streams size bytes from src through the named instrumenter
// ("auto" or "" picks one) into w. The returned artifact has no Content;
// its MIME is the sniffed input type. On error w may hold partial output.
func InstrumentTo(name string, ctx Context, src io.ReaderAt, size int64, w io.Writer) (Artifact, error) {
	if err := ctx.Validate(); err != nil {
		return Artifact{}, fmt.Errorf("instrument: %w", err)
	}
	mediaType, err := mime.Sniff(src, size)
	if err != nil {
		return Artifact{}, fmt.Errorf("instrument: sniff input: %w", err)
	}
	if name == "" || name == "auto" {
		name = instrumenters.Pick(mediaType)
	}
	in, err := instrumenters.Get(name)
	if err != nil {
		return Artifact{}, err
	}

	a, err := in.Instrument(ctx, src, size, w)
	if err != nil {
		return Artifact{}, fmt.Errorf("instrument %s: %w", name, err)
	}
	a.MIME = mediaType
	a.Path = placement.ForUpload(ctx.FileName, ctx.Persona)
	return a, nil
}

// SniffMIME returns the media type of size bytes readable from src.
func SniffMIME(src io.ReaderAt, size int64) (string, error) { return mime.Sniff(src, size) }

// SniffMIMEBytes returns the media type of in-memory content.
func SniffMIMEBytes(content []byte) string { return mime.SniffBytes(content) }

// PickInstrumenter returns the instrumenter name for a media type;
// unknown types get "passthrough".
func PickInstrumenter(mediaType string) string { return instrumenters.Pick(mediaType) }

// DefaultPlacement returns a generator's default path for a persona.
func DefaultPlacement(generator string, p Persona) (string, error) {
	return placement.Default(generator, p)
}

// UploadPlacement returns the default path of an uploaded file.
func UploadPlacement(fileName string, p Persona) string { return placement.ForUpload(fileName, p) }

// ValidatePlacement checks a placement path for a persona.
func ValidatePlacement(path string, p Persona) error { return placement.Validate(path, p) }

// CheckKind returns an error wrapping ErrKindMismatch when the named
// generator or instrumenter cannot serve kind under ctx, and ErrUnknown
// when no generator or instrumenter has that name.
func CheckKind(name string, kind Kind, ctx Context) error {
	var allowed []Kind
	if g, err := generators.Get(name); err == nil {
		allowed = g.Kinds()
	} else if _, err := instrumenters.Get(name); err == nil {
		allowed = instrumenters.AllowedKinds(name, ctx)
	} else {
		return fmt.Errorf("check kind: %q is neither a generator nor an instrumenter: %w", name, ErrUnknown)
	}

	if !slices.Contains(allowed, kind) {
		return fmt.Errorf("%s cannot serve a %s token (allowed: %v): %w", name, kind, allowed, ErrKindMismatch)
	}
	if kind == KindDNS && ctx.DNSHost() == "" {
		return fmt.Errorf("%s as a dns token needs a DNS zone: %w", name, ErrKindMismatch)
	}
	return nil
}
