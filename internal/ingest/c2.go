package ingest

import (
	"net"
	"net/url"
	"strings"
)

// maxC2PerCommand caps the endpoints taken from one command line.
const maxC2PerCommand = 16

// downloaders are the commands whose arguments name a host to fetch from or
// talk to. The value says how to read the arguments.
var downloaders = map[string]string{
	"wget": "url", "curl": "url", "fetch": "url", "lwp-download": "url",
	"nc": "hostport", "ncat": "hostport", "netcat": "hostport", "telnet": "hostport",
	"ftp": "host", "tftp": "host", "ftpget": "host", "busybox": "busybox",
}

// ExtractC2 returns the URLs and hosts that a shell command line would
// contact through wget, curl, nc, ftp, tftp and similar tools. It only reads
// the text: nothing is resolved or fetched.
func ExtractC2(line string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] && len(out) < maxC2PerCommand {
			seen[v] = true
			out = append(out, v)
		}
	}

	for _, words := range splitCommands(line) {
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.Contains(words[0], "/") {
			words = words[1:] // VAR=value prefixes
		}
		if len(words) == 0 {
			continue
		}
		name := words[0]
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		mode, ok := downloaders[name]
		if !ok {
			continue
		}
		args := words[1:]
		if mode == "busybox" && len(args) > 0 {
			mode = downloaders[args[0]]
			args = args[1:]
		}
		switch mode {
		case "url":
			for _, a := range operands(args) {
				if !strings.Contains(a, "/") && net.ParseIP(a) == nil {
					continue // a bare word such as an output file name
				}
				if u, host := parseURLish(a); u != "" {
					add(u)
					add(host)
				}
			}
		case "hostport", "host":
			for _, a := range operands(args) {
				if u, host := parseURLish(a); u != "" && strings.Contains(a, "://") {
					add(u)
					add(host)
				} else if looksLikeHost(a) {
					add(a)
				}
				if mode == "hostport" {
					break
				}
			}
		}
	}
	return out
}

// valueFlags are short options of the tools above that take the next word
// as their value (an output file, a program, a port), so that word is not an
// endpoint.
var valueFlags = map[string]bool{
	"-o": true, "-O": true, "-P": true, "-a": true, "-e": true, "-c": true, "-p": true, "-s": true,
	"-w": true, "-i": true, "-q": true, "-r": true, "-l": true, "-m": true, "-u": true, "-U": true,
	"-A": true, "-H": true, "-d": true, "-X": true, "-T": true, "-F": true, "-b": true,
}

// operands drops options and the values of value-taking options.
func operands(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if valueFlags[a] {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// parseURLish accepts "http://h/p", "h/p" and "h:port/p" as wget does and
// returns the URL text and its host.
func parseURLish(a string) (string, string) {
	if strings.HasPrefix(a, "-") || a == "" {
		return "", ""
	}
	raw := a
	if !strings.Contains(raw, "://") {
		if !looksLikeHost(strings.SplitN(raw, "/", 2)[0]) {
			return "", ""
		}
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", ""
	}
	return a, u.Hostname()
}

// looksLikeHost accepts an IP address or a dotted DNS name, with an optional
// port.
func looksLikeHost(s string) bool {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return true
	}
	if !strings.Contains(host, ".") || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	return strings.IndexFunc(last, func(r rune) bool { return r >= '0' && r <= '9' }) < 0
}

// splitCommands cuts a command line into simple commands at ; & | and
// newlines, and each into words, honouring single and double quotes and
// backslash escapes. It does not expand anything.
func splitCommands(line string) [][]string {
	var (
		cmds   [][]string
		words  []string
		word   strings.Builder
		quote  byte
		inWord bool
	)
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}

	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) {
				i++
				word.WriteByte(line[i])
			} else {
				word.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		case c == ';' || c == '&' || c == '|' || c == '\n' || c == '(' || c == ')' || c == '`':
			flushCmd()
		case c == ' ' || c == '\t' || c == '\r':
			flushWord()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	return cmds
}
