package mime

import (
	"bytes"
	"regexp"
)

var (
	yamlKey     = regexp.MustCompile(`^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_][A-Za-z0-9_.\- ]*):(\s|$)`)
	yamlItem    = regexp.MustCompile(`^\s*- `)
	tomlTable   = regexp.MustCompile(`^\s*\[\[?\s*[A-Za-z0-9_."' -]+\s*\]\]?\s*(#.*)?$`)
	tomlKey     = regexp.MustCompile(`^\s*[A-Za-z0-9_."'-]+(\s*\.\s*[A-Za-z0-9_"'-]+)*\s*=\s*(.*)$`)
	tomlLiteral = regexp.MustCompile(`^("|'|\[|\{|[+-]?(\d|inf|nan)|true\b|false\b)`)
)

// meaningfulLines returns the lines of body that are neither blank nor
// comments. When the window cut the body, the last (partial) line is
// dropped.
func meaningfulLines(body []byte, truncated bool, comment string) []string {
	lines := bytes.Split(body, []byte("\n"))
	if truncated && len(lines) > 1 {
		lines = lines[:len(lines)-1]
	}
	var out []string
	for _, l := range lines {
		t := bytes.TrimSpace(l)
		if len(t) == 0 || bytes.HasPrefix(t, []byte(comment)) {
			continue
		}
		out = append(out, string(bytes.TrimRight(l, "\r")))
	}
	return out
}

// looksTOML reports whether every meaningful line is a table header or a
// key whose value is a TOML literal, with at least one key. INI files,
// whose values are bare words, fail the literal check.
func looksTOML(body []byte, truncated bool) bool {
	keys := 0
	for _, l := range meaningfulLines(body, truncated, "#") {
		if tomlTable.MatchString(l) {
			continue
		}
		m := tomlKey.FindStringSubmatch(l)
		if m == nil {
			// Continuation lines of multi-line arrays and strings.
			if keys > 0 && (len(l) > 0 && (l[0] == ' ' || l[0] == '\t' || l[0] == ']' || l[0] == '"')) {
				continue
			}
			return false
		}
		if !tomlLiteral.MatchString(m[2]) {
			return false
		}
		keys++
	}
	return keys > 0
}

// looksYAML reports whether body starts like a YAML document: a "---" or
// "%YAML" line, or mostly "key: value" and "- item" lines starting with a
// key.
func looksYAML(body []byte) bool {
	lines := meaningfulLines(body, true, "#")
	if len(lines) == 0 {
		return false
	}
	first := lines[0]
	if first == "---" || bytes.HasPrefix([]byte(first), []byte("--- ")) || bytes.HasPrefix([]byte(first), []byte("%YAML")) {
		return true
	}
	if !yamlKey.MatchString(first) || len(lines) < 2 {
		return false
	}

	hits := 0
	for _, l := range lines {
		if yamlKey.MatchString(l) || yamlItem.MatchString(l) || l[0] == ' ' {
			hits++
		}
	}
	return hits*10 >= len(lines)*9
}
