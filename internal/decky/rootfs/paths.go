package rootfs

import (
	"fmt"
	"path"
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

// HostPath maps a path inside a decky to a path relative to the decky's root
// directory on the host, with forward slashes.
//
// Linux paths drop their leading slash: /etc/passwd becomes etc/passwd.
// Windows paths turn the drive letter into the top directory, and either
// slash works: C:\Users\jsmith\Documents and C:/Users/jsmith/Documents both
// become C/Users/jsmith/Documents. Paths that are relative, or that climb
// out of the root with "..", are rejected.
func HostPath(p string) (string, error) {
	if len(p) >= 2 && p[1] == ':' && isLetter(p[0]) {
		rest := strings.ReplaceAll(p[2:], `\`, "/")
		if rest != "" && rest[0] != '/' {
			return "", fmt.Errorf("invalid decky path %q: want an absolute path such as C:/Users", p)
		}
		return clean(strings.ToUpper(p[:1])+"/"+rest, p)
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("invalid decky path %q: want an absolute path", p)
	}
	return clean(p[1:], p)
}

func clean(rel, original string) (string, error) {
	for part := range strings.SplitSeq(rel, "/") {
		if part == ".." {
			return "", fmt.Errorf("invalid decky path %q: \"..\" is not allowed", original)
		}
	}
	c := path.Clean("/" + rel)[1:]
	if c == "" {
		return ".", nil
	}
	return c, nil
}

func isLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// WebRoot returns the directory inside the decky that its web server serves:
// C:/inetpub/wwwroot on Windows personas, /srv/http on Arch,
// /var/www/localhost/htdocs on Alpine and /var/www/html elsewhere.
func WebRoot(d decky.Decky) string {
	if d.Persona.IsWindows() {
		return "C:/inetpub/wwwroot"
	}
	switch family(d) {
	case decky.FamilyArch:
		return "/srv/http"
	case decky.FamilyAlpine:
		return "/var/www/localhost/htdocs"
	default:
		return "/var/www/html"
	}
}
