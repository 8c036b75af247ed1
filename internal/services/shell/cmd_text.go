package shell

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"
)

var shellCommands = map[string]builtin{
	"echo":     cmdEcho,
	"export":   cmdExport,
	"unset":    cmdUnset,
	"env":      cmdEnv,
	"printenv": cmdEnv,
	"history":  cmdHistory,
	"exit":     cmdExit,
	"logout":   cmdExit,
	"true":     func(context.Context, *Shell, *invocation) int { return 0 },
	":":        func(context.Context, *Shell, *invocation) int { return 0 },
	"false":    func(context.Context, *Shell, *invocation) int { return 1 },
	"sleep":    func(context.Context, *Shell, *invocation) int { return 0 },
	"clear":    cmdClear,
	"grep":     cmdGrep,
	"wc":       cmdWc,
	"head":     cmdHead,
	"tail":     cmdTail,
	"which":    cmdWhich,
	"sudo":     cmdSudo,
	"sh":       cmdSh,
	"bash":     cmdSh,
}

func cmdEcho(_ context.Context, _ *Shell, in *invocation) int {
	args := in.args[1:]
	newline, escapes := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		for _, c := range args[0][1:] {
			switch c {
			case 'n':
				newline = false
			case 'e':
				escapes = true
			case 'E':
				escapes = false
			}
		}
		args = args[1:]
	}
	text := strings.Join(args, " ")
	if escapes {
		text = echoEscapes(text)
	}
	if newline {
		text += "\n"
	}
	in.io.stdout.Write([]byte(text))
	return 0
}

// echoEscapes interprets the backslash escapes of echo -e.
func echoEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case 'a':
			b.WriteByte(7)
		case 'e':
			b.WriteByte(27)
		case 'x':
			j := i + 1
			for j < len(s) && j < i+3 && strings.IndexByte("0123456789abcdefABCDEF", s[j]) >= 0 {
				j++
			}
			if j == i+1 {
				b.WriteString(`\x`)
				continue
			}
			n, _ := strconv.ParseUint(s[i+1:j], 16, 8)
			b.WriteByte(byte(n))
			i = j - 1
		case '0':
			j := i + 1
			for j < len(s) && j < i+4 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint("0"+s[i+1:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func cmdExport(_ context.Context, s *Shell, in *invocation) int {
	args := in.args[1:]
	if len(args) == 0 || args[0] == "-p" {
		for _, k := range s.sortedVars() {
			in.out("declare -x %s=%q\n", k, s.vars[k])
		}
		return 0
	}
	status := 0
	for _, a := range args {
		name, value, hasValue := strings.Cut(a, "=")
		if !validName(name) {
			in.err("-bash: export: `%s': not a valid identifier\n", a)
			status = 1
			continue
		}
		if hasValue {
			s.vars[name] = value
		} else if _, ok := s.vars[name]; !ok {
			s.vars[name] = ""
		}
	}
	return status
}

func (s *Shell) sortedVars() []string {
	keys := make([]string, 0, len(s.vars))
	for k := range s.vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cmdUnset(_ context.Context, s *Shell, in *invocation) int {
	for _, a := range in.args[1:] {
		delete(s.vars, a)
	}
	return 0
}

func cmdEnv(_ context.Context, s *Shell, in *invocation) int {
	if len(in.args) > 1 && in.args[0] == "printenv" {
		status := 1
		for _, a := range in.args[1:] {
			if v, ok := s.vars[a]; ok {
				in.out("%s\n", v)
				status = 0
			}
		}
		return status
	}
	for _, k := range s.sortedVars() {
		in.out("%s=%s\n", k, s.vars[k])
	}
	in.out("PWD=%s\n", s.cwd)
	return 0
}

func cmdHistory(_ context.Context, s *Shell, in *invocation) int {
	if len(in.args) > 1 && in.args[1] == "-c" {
		s.history = nil
		return 0
	}
	for i, line := range s.history {
		in.out("%5d  %s\n", i+1, line)
	}
	return 0
}

func cmdExit(_ context.Context, s *Shell, in *invocation) int {
	status := s.status
	if len(in.args) > 1 {
		n, err := strconv.Atoi(in.args[1])
		if err != nil {
			in.err("-bash: exit: %s: numeric argument required\n", in.args[1])
			n = 2
		}
		status = n & 0xff
	}
	s.exited = true
	return status
}

func cmdClear(_ context.Context, _ *Shell, in *invocation) int {
	in.out("\x1b[H\x1b[2J\x1b[3J")
	return 0
}

// lines splits input into lines without their newlines.
func lines(data []byte) []string {
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// textInput returns the named files' contents, or stdin when none is named.
func (s *Shell) textInput(in *invocation, files []string) ([]byte, int) {
	if len(files) == 0 {
		return in.io.stdin, 0
	}
	var buf bytes.Buffer
	status := 0
	for _, f := range files {
		data, err := s.readPath(f)
		if err != nil {
			in.err("%s: %s: %s\n", in.args[0], f, errText(err))
			status = 1
			continue
		}
		buf.Write(data)
	}
	return buf.Bytes(), status
}

func cmdGrep(_ context.Context, s *Shell, in *invocation) int {
	flags, _, operands := splitFlags(in.args[1:])
	if len(operands) == 0 {
		in.err("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
		return 2
	}
	pattern := operands[0]
	data, status := s.textInput(in, operands[1:])
	if flags['i'] {
		pattern = strings.ToLower(pattern)
	}

	count := 0
	for _, line := range lines(data) {
		subject := line
		if flags['i'] {
			subject = strings.ToLower(subject)
		}
		if strings.Contains(subject, pattern) == flags['v'] {
			continue
		}
		count++
		if !flags['c'] && !flags['q'] {
			in.out("%s\n", line)
		}
	}
	if flags['c'] {
		in.out("%d\n", count)
	}
	if status != 0 {
		return 2
	}
	if count == 0 {
		return 1
	}
	return 0
}

func cmdWc(_ context.Context, s *Shell, in *invocation) int {
	flags, _, files := splitFlags(in.args[1:])
	data, status := s.textInput(in, files)
	nl := bytes.Count(data, []byte("\n"))
	words := len(strings.Fields(string(data)))
	name := ""
	if len(files) == 1 {
		name = " " + files[0]
	}
	switch {
	case flags['l']:
		in.out("%d%s\n", nl, name)
	case flags['w']:
		in.out("%d%s\n", words, name)
	case flags['c']:
		in.out("%d%s\n", len(data), name)
	default:
		in.out("%7d %7d %7d%s\n", nl, words, len(data), name)
	}
	return status
}

// countArg reads the -n N (or -N) option of head and tail.
func countArg(args []string) (n int, files []string) {
	n = 10
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-n" && i+1 < len(args):
			n, _ = strconv.Atoi(strings.TrimPrefix(args[i+1], "+"))
			i++
		case strings.HasPrefix(a, "-n"):
			n, _ = strconv.Atoi(a[2:])
		case len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9':
			n, _ = strconv.Atoi(a[1:])
		case strings.HasPrefix(a, "-"):
		default:
			files = append(files, a)
		}
	}
	if n < 0 {
		n = 0
	}
	return n, files
}

func cmdHead(_ context.Context, s *Shell, in *invocation) int {
	n, files := countArg(in.args[1:])
	data, status := s.textInput(in, files)
	ls := lines(data)
	if len(ls) > n {
		ls = ls[:n]
	}
	for _, l := range ls {
		in.out("%s\n", l)
	}
	return status
}

func cmdTail(_ context.Context, s *Shell, in *invocation) int {
	n, files := countArg(in.args[1:])
	data, status := s.textInput(in, files)
	ls := lines(data)
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	for _, l := range ls {
		in.out("%s\n", l)
	}
	return status
}

func cmdWhich(_ context.Context, _ *Shell, in *invocation) int {
	status := 0
	for _, a := range in.args[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if _, ok := builtins[a]; !ok || a == "cd" || a == "export" || a == "history" {
			status = 1
			continue
		}
		dir := "/usr/bin/"
		switch a {
		case "ifconfig":
			dir = "/usr/sbin/"
		case "ip":
			dir = "/usr/sbin/"
		}
		in.out("%s%s\n", dir, a)
	}
	return status
}

func cmdSudo(ctx context.Context, s *Shell, in *invocation) int {
	args := in.args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		args = args[1:]
	}
	if len(args) == 0 {
		in.err("usage: sudo -h | -K | -k | -V\n")
		return 1
	}
	return s.exec(ctx, args, in.io, in.rec)
}

// cmdSh runs "sh -c", a script file or its standard input inside the
// emulation, depth-limited like command substitution.
func cmdSh(ctx context.Context, s *Shell, in *invocation) int {
	args := in.args[1:]
	var source string
	switch {
	case len(args) >= 2 && args[0] == "-c":
		source = args[1]
	case len(args) >= 1 && !strings.HasPrefix(args[0], "-"):
		data, err := s.readPath(args[0])
		if err != nil {
			in.err("%s: %s: %s\n", in.args[0], args[0], errText(err))
			return 127
		}
		source = string(data)
	default:
		source = string(in.io.stdin)
	}

	if s.depth >= maxSubstDepth {
		return 1
	}
	script, err := Parse(source)
	if err != nil {
		in.err("%s: line 1: %s\n", in.args[0], syntaxMessage(err))
		return 2
	}
	s.depth++
	defer func() { s.depth-- }()
	return s.runScript(ctx, script, nil, in.io.stdout, in.io.stderr)
}
