package instrumenters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/mime"
)

// Placeholders an operator can put in a text file before upload.
const (
	PlaceholderURL  = "{{CANARY_URL}}"
	PlaceholderHost = "{{CANARY_HOST}}"
)

// passthrough plants the file unchanged.
type passthrough struct{}

func (passthrough) Name() string { return "passthrough" }

func (passthrough) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	if err := copyAll(w, src, size); err != nil {
		return artifact.Artifact{}, err
	}
	return artifact.Artifact{
		Instrumenter: "passthrough",
		Kind:         artifact.KindDNS,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(7),
		Notes: artifact.Notes{
			What:  "the uploaded file, unchanged",
			Trips: "only a placement path that contains the DNS token host (" + tc.CallbackHost() + "), when something resolves that name",
		},
	}, nil
}

// plain rewrites text files: placeholders first, else a comment line.
type plain struct{}

func (plain) Name() string { return "plain" }

func (plain) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	data, err := readAll(src, size)
	if err != nil {
		return artifact.Artifact{}, err
	}
	url := tc.CallbackURL()
	a := artifact.Artifact{
		Instrumenter: "plain",
		Kind:         artifact.KindHTTP,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(7),
		Notes: artifact.Notes{
			What:    "the uploaded text file with the callback URL added",
			Trips:   "a request to " + url + " by someone who copies the URL from the file, or a tool that follows it",
			Clients: []string{"curl", "wget", "browsers", "scripts that read the file"},
		},
	}

	out, details, err := substitute(data, tc)
	if err != nil {
		return artifact.Artifact{}, err
	}
	if details == nil {
		out, details, err = appendReference(data, tc)
		if err != nil {
			return artifact.Artifact{}, err
		}
	}
	if bytes.Contains(data, []byte(PlaceholderHost)) {
		a.Kind = artifact.KindDNS
		a.Notes.Trips = "a DNS lookup of " + tc.DNSHost() + " or a request to " + url
	}
	a.Notes.Details = details

	if _, err := w.Write(out); err != nil {
		return artifact.Artifact{}, fmt.Errorf("write output: %w", err)
	}
	return a, nil
}

// substitute replaces the placeholders. It returns nil details when the
// file has none.
func substitute(data []byte, tc artifact.Context) ([]byte, []string, error) {
	var details []string
	if n := bytes.Count(data, []byte(PlaceholderURL)); n > 0 {
		data = bytes.ReplaceAll(data, []byte(PlaceholderURL), []byte(tc.CallbackURL()))
		details = append(details, fmt.Sprintf("replaced %d %s placeholder(s) with %s", n, PlaceholderURL, tc.CallbackURL()))
	}
	if n := bytes.Count(data, []byte(PlaceholderHost)); n > 0 {
		if tc.DNSHost() == "" {
			return nil, nil, fmt.Errorf("plain: the file uses %s but no DNS zone is configured: %w", PlaceholderHost, artifact.ErrKindMismatch)
		}
		data = bytes.ReplaceAll(data, []byte(PlaceholderHost), []byte(tc.DNSHost()))
		details = append(details, fmt.Sprintf("replaced %d %s placeholder(s) with %s", n, PlaceholderHost, tc.DNSHost()))
	}
	return data, details, nil
}

// commentStyles maps file extensions to the line comment of their syntax.
var commentStyles = map[string]string{
	".sh": "#", ".bash": "#", ".zsh": "#", ".py": "#", ".rb": "#", ".pl": "#",
	".yaml": "#", ".yml": "#", ".toml": "#", ".conf": "#", ".cfg": "#", ".env": "#",
	".properties": "#", ".txt": "#", ".r": "#", ".ps1": "#", ".tf": "#", ".dockerfile": "#",
	".ini": ";", ".reg": ";",
	".js": "//", ".mjs": "//", ".cjs": "//", ".ts": "//", ".go": "//", ".c": "//", ".h": "//",
	".cc": "//", ".cpp": "//", ".hpp": "//", ".java": "//", ".cs": "//", ".kt": "//",
	".swift": "//", ".rs": "//", ".php": "//", ".scss": "//",
	".sql": "--", ".lua": "--",
	".css":  "/*",
	".md":   "<!--",
	".json": "json",
}

var (
	iniSection   = regexp.MustCompile(`(?m)^\s*\[[^\]\n]+\]\s*$`)
	iniHashNote  = regexp.MustCompile(`(?m)^\s*#`)
	cLikeMarkers = regexp.MustCompile(`(?m)^\s*(//|function\s|const\s|let\s|var\s|package\s|#include\s|import\s.*\sfrom\s|export\s|public\s+class\s)`)
)

// commentStyle picks the comment syntax of a text file from its name,
// then its media type, then its content.
func commentStyle(fileName string, data []byte) string {
	if ext := strings.ToLower(path.Ext(strings.ReplaceAll(fileName, `\`, "/"))); ext != "" {
		if s, ok := commentStyles[ext]; ok {
			if s == ";" && iniHashNote.Match(data) {
				return "#"
			}
			return s
		}
	}
	switch base := strings.ToLower(path.Base(fileName)); {
	case base == ".env" || strings.HasPrefix(base, ".env.") || base == "dockerfile" || base == "makefile":
		return "#"
	}

	switch mime.SniffBytes(data) {
	case mime.JSON:
		return "json"
	case mime.YAML, mime.TOML:
		return "#"
	}

	head := data[:min(len(data), 4096)]
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		return "#"
	case iniSection.Match(head):
		if iniHashNote.Match(head) {
			return "#"
		}
		return ";"
	case cLikeMarkers.Match(head):
		return "//"
	}
	return "#"
}

// appendReference appends a comment with the callback URL, or adds a key
// to a JSON object.
func appendReference(data []byte, tc artifact.Context) ([]byte, []string, error) {
	url := tc.CallbackURL()
	style := commentStyle(tc.FileName, data)
	if style == "json" {
		return addJSONKey(data, url)
	}

	var line string
	switch style {
	case "/*":
		line = "/* see " + url + " for the latest version */"
	case "<!--":
		line = "<!-- see " + url + " for the latest version -->"
	default:
		line = style + " see " + url + " for the latest version"
	}

	out := make([]byte, 0, len(data)+len(line)+3)
	out = append(out, data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if len(out) > 0 {
		out = append(out, '\n')
	}
	out = append(out, line...)
	out = append(out, '\n')
	return out, []string{fmt.Sprintf("appended a %q comment pointing at %s", style, url)}, nil
}

// jsonKeys are tried in order until one is free at the top level.
var jsonKeys = []string{"homepage", "documentation", "support_url", "source_url"}

// addJSONKey inserts a URL-valued key as the first member of a top-level
// object, keeping the file's indentation. Arrays and scalars stay as they
// are because any addition would change their meaning.
func addJSONKey(data []byte, url string) ([]byte, []string, error) {
	if !json.Valid(data) {
		return nil, nil, artifact.Unsupported("plain: the file is not valid JSON")
	}
	body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return data, []string{"JSON is not an object: left unchanged, so the file cannot trip; use " + PlaceholderURL}, nil
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, artifact.Unsupported("plain: decode JSON object: %v", err)
	}
	key := ""
	for _, k := range jsonKeys {
		if _, taken := top[k]; !taken {
			key = k
			break
		}
	}
	if key == "" {
		return data, []string{"JSON object already has every candidate key: left unchanged; use " + PlaceholderURL}, nil
	}

	brace := len(data) - len(trimmed)
	after := data[brace+1:]
	rest := bytes.TrimLeft(after, " \t\r\n")
	empty := len(rest) > 0 && rest[0] == '}'

	k, _ := json.Marshal(key)
	v, _ := json.Marshal(url)
	var member string
	switch {
	case empty:
		member = string(k) + ":" + string(v)
	case bytes.HasPrefix(bytes.TrimLeft(after, " \t"), []byte("\n")) || bytes.HasPrefix(bytes.TrimLeft(after, " \t"), []byte("\r\n")):
		// Pretty-printed: copy the indentation of the first member.
		ws := after[:len(after)-len(rest)]
		indent := ws[bytes.LastIndexByte(ws, '\n')+1:]
		member = "\n" + string(indent) + string(k) + ": " + string(v) + ","
	default:
		member = string(k) + ":" + string(v) + ","
	}

	out := make([]byte, 0, len(data)+len(member))
	out = append(out, data[:brace+1]...)
	out = append(out, member...)
	out = append(out, after...)
	return out, []string{fmt.Sprintf("added top-level JSON key %q = %s", key, url)}, nil
}

// htmlInstrumenter adds a 1×1 image that loads the callback URL.
type htmlInstrumenter struct{}

func (htmlInstrumenter) Name() string { return "html" }

var bodyClose = regexp.MustCompile(`(?i)</body\s*>`)

func (htmlInstrumenter) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	data, err := readAll(src, size)
	if err != nil {
		return artifact.Artifact{}, err
	}
	url := tc.CallbackURL()
	pixel := Pixel(url) + "\n"

	var out []byte
	var detail string
	if loc := bodyClose.FindIndex(data); loc != nil {
		out = append(out, data[:loc[0]]...)
		out = append(out, pixel...)
		out = append(out, data[loc[0]:]...)
		detail = "inserted the image before </body>"
	} else {
		out = append(out, data...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, pixel...)
		detail = "no </body> found: appended the image at the end"
	}

	if _, err := w.Write(out); err != nil {
		return artifact.Artifact{}, fmt.Errorf("write output: %w", err)
	}
	return artifact.Artifact{
		Instrumenter: "html",
		Kind:         artifact.KindHTTP,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(7),
		Notes: artifact.Notes{
			What:    "the uploaded HTML page with a 1x1 image whose source is the callback URL",
			Trips:   "opening the page in a browser or any client that loads images",
			Clients: []string{"web browsers", "HTML mail clients with remote images enabled", "link preview bots"},
			Details: []string{detail, "image src=" + url},
		},
	}, nil
}

// Pixel returns the HTML of a hidden 1×1 image loading url.
func Pixel(url string) string {
	return `<img src="` + html.EscapeString(url) + `" width="1" height="1" alt="" style="border:0">`
}
