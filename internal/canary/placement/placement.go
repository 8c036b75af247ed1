// Package placement chooses and checks where a canary file is planted
// inside a decky. Paths are absolute. Linux personas use POSIX paths;
// windows personas also accept drive paths such as C:\Users\x\file.txt,
// with either separator.
package placement

import (
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// MaxLen caps the length of a placement path in bytes; Linux PATH_MAX is 4096.
const MaxLen = 4096

// maxSegment caps one path segment; NAME_MAX is 255 on Linux and NTFS.
const maxSegment = 255

// defaults lists the default path of each generator as a linux path under
// the user's home and a windows path under the user's profile.
var defaults = map[string][2]string{
	"aws_creds":     {"/home/admin/.aws/credentials", `C:\Users\Administrator\.aws\credentials`},
	"git_config":    {"/home/admin/src/app/.git/config", `C:\Users\Administrator\source\repos\app\.git\config`},
	"env_file":      {"/home/admin/app/.env", `C:\Users\Administrator\app\.env`},
	"ssh_key":       {"/home/admin/.ssh/id_ed25519", `C:\Users\Administrator\.ssh\id_ed25519`},
	"honeydoc":      {"/home/admin/Documents/quarterly_report.html", `C:\Users\Administrator\Documents\quarterly_report.html`},
	"honeydoc_docx": {"/home/admin/Documents/quarterly_report.docx", `C:\Users\Administrator\Documents\quarterly_report.docx`},
	"honeydoc_xlsx": {"/home/admin/Documents/quarterly_figures.xlsx", `C:\Users\Administrator\Documents\quarterly_figures.xlsx`},
	"honeydoc_pdf":  {"/home/admin/Documents/quarterly_report.pdf", `C:\Users\Administrator\Documents\quarterly_report.pdf`},
	"mysql_dump":    {"/var/backups/mysql/app_production.sql", `C:\Backups\mysql\app_production.sql`},
}

// Default returns the default placement path of a generator for a persona.
func Default(generator string, p artifact.Persona) (string, error) {
	d, ok := defaults[generator]
	if !ok {
		return "", fmt.Errorf("placement: generator %q: %w", generator, artifact.ErrUnknown)
	}
	if p.IsWindows() {
		return d[1], nil
	}
	return d[0], nil
}

// ForUpload returns the default path of an uploaded file: the Documents
// folder of the persona's user plus the file's base name.
func ForUpload(fileName string, p artifact.Persona) string {
	base := fileName
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	if err := checkSegment(base, p); err != nil || base == "" {
		base = "document"
	}
	if p.IsWindows() {
		return `C:\Users\Administrator\Documents\` + base
	}
	return "/home/admin/Documents/" + base
}

// Validate checks that path is an absolute file path that the persona can
// hold. It rejects relative paths, NUL and line breaks, "." and ".."
// segments, empty segments, a trailing separator and the bare root. Drive
// paths (C:\...) are accepted only for windows personas.
func Validate(path string, p artifact.Persona) error {
	if path == "" {
		return fmt.Errorf("placement: path is empty")
	}
	if len(path) > MaxLen {
		return fmt.Errorf("placement: path is %d bytes long, the limit is %d", len(path), MaxLen)
	}
	if strings.ContainsRune(path, 0) {
		return fmt.Errorf("placement: path %q contains a NUL byte", path)
	}
	if strings.ContainsAny(path, "\r\n") {
		return fmt.Errorf("placement: path %q contains a line break", path)
	}

	rest, sep, err := splitRoot(path, p)
	if err != nil {
		return err
	}
	if rest == "" {
		return fmt.Errorf("placement: path %q is a bare root, want a file path", path)
	}
	if strings.IndexByte(sep, rest[len(rest)-1]) >= 0 {
		return fmt.Errorf("placement: path %q ends with a separator, want a file path", path)
	}

	segments := splitAny(rest, sep)
	for _, s := range segments {
		if s == "" {
			return fmt.Errorf("placement: path %q contains an empty segment", path)
		}
	}
	for _, s := range segments {
		if err := checkSegment(s, p); err != nil {
			return fmt.Errorf("placement: path %q: %w", path, err)
		}
	}
	return nil
}

// splitRoot strips the root of path and returns the rest with the
// separators valid for the persona.
func splitRoot(path string, p artifact.Persona) (rest, sep string, err error) {
	if hasDrive(path) {
		if !p.IsWindows() {
			return "", "", fmt.Errorf("placement: path %q is a windows drive path, but the persona is %s", path, personaName(p))
		}
		if len(path) < 3 || (path[2] != '\\' && path[2] != '/') {
			return "", "", fmt.Errorf("placement: path %q is drive-relative, want C:\\ followed by a path", path)
		}
		return path[3:], `\/`, nil
	}

	if p.IsWindows() && strings.HasPrefix(path, `\\`) {
		return "", "", fmt.Errorf("placement: path %q is a network (UNC) path, want a local path", path)
	}
	if !strings.HasPrefix(path, "/") && !(p.IsWindows() && strings.HasPrefix(path, `\`)) {
		return "", "", fmt.Errorf("placement: path %q is relative, want an absolute path", path)
	}
	if p.IsWindows() {
		return path[1:], `\/`, nil
	}
	return path[1:], "/", nil
}

func hasDrive(path string) bool {
	if len(path) < 2 || path[1] != ':' {
		return false
	}
	c := path[0] | 0x20
	return c >= 'a' && c <= 'z'
}

// splitAny splits s at every byte in seps, keeping empty segments.
func splitAny(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func checkSegment(s string, p artifact.Persona) error {
	switch {
	case s == ".":
		return fmt.Errorf(`contains a "." segment`)
	case s == "..":
		return fmt.Errorf(`contains a ".." segment`)
	case len(s) > maxSegment:
		return fmt.Errorf("segment %q is longer than %d bytes", s[:32]+"...", maxSegment)
	}
	if p.IsWindows() {
		if i := strings.IndexAny(s, `<>:"|?*`); i >= 0 {
			return fmt.Errorf("segment %q contains %q, which windows does not allow in file names", s, s[i])
		}
		for _, r := range s {
			if r < 0x20 {
				return fmt.Errorf("segment %q contains a control character", s)
			}
		}
	}
	return nil
}

func personaName(p artifact.Persona) string {
	if p == "" {
		return string(artifact.PersonaLinux)
	}
	return string(p)
}
