// Package artifact defines the types that canary generators and
// instrumenters share: the token context an artifact is built for, the
// resulting artifact with its file metadata and operator notes, and the
// error kinds callers map to API status codes.
package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/slug"
)

// Persona is the operating-system family a decky imitates. It decides the
// shape of default placement paths and which path forms are valid.
type Persona string

// The personas placement paths know about.
const (
	PersonaLinux   Persona = "linux"
	PersonaWindows Persona = "windows"
)

// ParsePersona returns the persona named s (case-insensitive). An empty
// string means linux.
func ParsePersona(s string) (Persona, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "linux":
		return PersonaLinux, nil
	case "windows":
		return PersonaWindows, nil
	}
	return "", fmt.Errorf("invalid persona %q: use linux or windows", s)
}

// IsWindows reports whether p is the windows persona.
func (p Persona) IsWindows() bool { return p == PersonaWindows }

// Kind is how a token reports back: over HTTP, over DNS, or not at all
// (the artifact is only valuable if someone uses it elsewhere).
type Kind string

// Token kinds.
const (
	KindHTTP    Kind = "http"
	KindDNS     Kind = "dns"
	KindPassive Kind = "aws_passive"
)

// Context is everything a generator or instrumenter needs to build one
// token's artifact. Output is a pure function of these fields.
type Context struct {
	// Slug is the token's random identifier (see package slug).
	Slug string
	// HTTPBase is the public base URL of the HTTP callback receiver, for
	// example "https://cdn.example.net". A trailing slash is ignored.
	HTTPBase string
	// DNSZone is the zone the DNS callback receiver is authoritative for.
	// Empty means no DNS callbacks.
	DNSZone string
	// Persona is the OS family of the decky that receives the file.
	Persona Persona
	// Decky is the name of the decky the artifact is planted in. It only
	// feeds plausible filler; it may be empty.
	Decky string
	// FileName is the base name of an uploaded file. Instrumenters use its
	// extension to choose a comment syntax; it may be empty.
	FileName string
}

// Validate checks that the context can produce a working callback.
func (c Context) Validate() error {
	if !slug.Valid(c.Slug) {
		return fmt.Errorf("invalid slug %q: want %d characters of lowercase base32 (a-z, 2-7)", c.Slug, slug.Len)
	}

	u, err := url.Parse(c.HTTPBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid http base %q: want an absolute http or https URL", c.HTTPBase)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("invalid http base %q: query, fragment and user info are not allowed", c.HTTPBase)
	}

	if c.DNSZone != "" && !validZone(c.DNSZone) {
		return fmt.Errorf("invalid dns zone %q: want a DNS name such as t.example.net", c.DNSZone)
	}

	if c.Persona != "" && c.Persona != PersonaLinux && c.Persona != PersonaWindows {
		return fmt.Errorf("invalid persona %q: use linux or windows", c.Persona)
	}
	return nil
}

// CallbackURL returns "<http base>/c/<slug>" followed by the given path
// segments, for example CallbackURL("repo.git").
func (c Context) CallbackURL(segments ...string) string {
	u := strings.TrimRight(c.HTTPBase, "/") + "/c/" + slug.Normalize(c.Slug)
	for _, s := range segments {
		u += "/" + s
	}
	return u
}

// DNSHost returns "<slug>.<zone>", or "" when no zone is set.
func (c Context) DNSHost() string {
	if c.DNSZone == "" {
		return ""
	}
	return slug.Normalize(c.Slug) + "." + strings.TrimSuffix(strings.ToLower(c.DNSZone), ".")
}

// DNSURL returns the callback URL with its host replaced by the DNS token
// host, so that a client resolving it trips the DNS receiver even where
// outbound HTTP is blocked. Scheme, port and base path stay those of the
// HTTP base. Without a zone it equals CallbackURL.
func (c Context) DNSURL(segments ...string) string {
	plain := c.CallbackURL(segments...)
	host := c.DNSHost()
	if host == "" {
		return plain
	}

	u, err := url.Parse(plain)
	if err != nil {
		return plain
	}
	if port := u.Port(); port != "" {
		host += ":" + port
	}
	u.Host = host
	return u.String()
}

// HTTPHost returns the host name (without port) of the HTTP base.
func (c Context) HTTPHost() string {
	u, err := url.Parse(c.HTTPBase)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// CallbackHost returns the DNS token host when a zone is set, else the
// host of the HTTP base.
func (c Context) CallbackHost() string {
	if h := c.DNSHost(); h != "" {
		return h
	}
	return c.HTTPHost()
}

func validZone(z string) bool {
	z = strings.TrimSuffix(z, ".")
	if z == "" || len(z) > 253-slug.Len-1 {
		return false
	}
	for _, label := range strings.Split(z, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i] | 0x20
			if (ch < 'a' || ch > 'z') && (label[i] < '0' || label[i] > '9') && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// Notes tell the operator what an artifact is and how it reports back.
// They are never written into the artifact.
type Notes struct {
	// What describes the artifact.
	What string `json:"what"`
	// Trips describes the action that makes the token call back.
	Trips string `json:"trips"`
	// Clients lists programs known to perform that action.
	Clients []string `json:"clients,omitempty"`
	// Details records facts about this particular artifact, such as the
	// callback URL it embeds or the edits made to an uploaded file.
	Details []string `json:"details,omitempty"`
}

// Artifact is a finished decoy file plus the metadata the planter needs.
type Artifact struct {
	// Generator names the generator that built it ("" for uploads).
	Generator string `json:"generator,omitempty"`
	// Instrumenter names the instrumenter that rewrote an upload.
	Instrumenter string `json:"instrumenter,omitempty"`
	// MIME is the media type of Content.
	MIME string `json:"mime"`
	// Kind is how the token reports back.
	Kind Kind `json:"kind"`
	// Content is the file body. Streaming instrumenters leave it nil and
	// write the body to the caller's writer instead.
	Content []byte `json:"-"`
	// Mode is the file mode to plant with.
	Mode fs.FileMode `json:"mode"`
	// MtimeOffset is added to the plant time to get the file's mtime; a
	// negative value backdates the file.
	MtimeOffset time.Duration `json:"mtime_offset"`
	// Path is the default placement path for the decky's persona.
	Path string `json:"path,omitempty"`
	// Notes are for the operator only.
	Notes Notes `json:"notes"`
}

// Days converts a day count to a duration, for mtime offsets.
func Days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

var (
	// ErrUnsupported means the input cannot be instrumented: an unknown
	// format, an encrypted or damaged document, a zip bomb. An API maps it
	// to 415 Unsupported Media Type.
	ErrUnsupported = errors.New("unsupported input")

	// ErrTooLarge means an input exceeds a size cap. An API maps it to
	// 413 Content Too Large.
	ErrTooLarge = errors.New("input too large")

	// ErrKindMismatch means the requested token kind cannot be served by
	// the chosen generator or instrumenter, or the context lacks what that
	// kind needs (a DNS zone for a DNS token). An API maps it to 422.
	ErrKindMismatch = errors.New("token kind does not match the artifact")

	// ErrUnknown means no generator or instrumenter has the given name.
	// An API maps it to 400.
	ErrUnknown = errors.New("unknown name")
)

// Unsupported wraps ErrUnsupported with a reason.
func Unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}
