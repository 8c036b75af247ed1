// Package shell emulates the bash session of a decoy host: a POSIX-like
// command parser and the commands attackers run first (ls, cat, uname, ps,
// wget...). It never executes anything on the host and never opens a
// network connection: every command is a Go function that reads the
// decky's root directory through a read-only view and writes into a
// per-session in-memory overlay (see FS).
package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"time"
)

// Limits on one session.
const (
	// DefaultMaxOutputBytes caps what one Run writes; the rest is dropped.
	DefaultMaxOutputBytes = 1 << 20
	// MaxHistory is how many lines history keeps.
	MaxHistory = 1000
	// maxCommandsPerRun caps the simple commands one Run executes,
	// substitutions included.
	maxCommandsPerRun = 256
	// maxSubstDepth caps nested $(...).
	maxSubstDepth = 3
	// maxPipeBytes caps the output one pipeline stage hands to the next.
	maxPipeBytes = 1 << 20
)

// Env is the persona the shell reports: who the user is and what the host
// looks like. Zero fields get Debian-like defaults in New.
type Env struct {
	Hostname      string
	User          string
	UID           int
	Home          string
	OSName        string // PRETTY_NAME, e.g. "Debian GNU/Linux 12 (bookworm)"
	Kernel        string // uname -r
	KernelVersion string // uname -v
	Arch          string // uname -m
	IP            string
	PrefixLen     int
	MAC           string
	RemoteIP      string // the client, shown by w
	TTY           string // e.g. pts/0
	Boot          time.Time
	MemTotalKiB   int64
	DiskTotalKiB  int64
	CPUs          int
	Vars          map[string]string // extra exported variables
	Interactive   bool              // a PTY session: ls prints in a row
	Now           func() time.Time

	MaxOutputBytes int
}

func (e *Env) fill() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&e.Hostname, "localhost")
	def(&e.User, "root")
	if e.Home == "" {
		e.Home = "/root"
		if e.User != "root" {
			e.Home = "/home/" + e.User
		}
	}
	if e.User != "root" && e.UID == 0 {
		e.UID = 1000
	}
	def(&e.OSName, "Debian GNU/Linux 12 (bookworm)")
	def(&e.Kernel, "6.1.0-18-amd64")
	def(&e.KernelVersion, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)")
	def(&e.Arch, "x86_64")
	def(&e.IP, "10.0.0.5")
	if e.PrefixLen == 0 {
		e.PrefixLen = 24
	}
	def(&e.MAC, "52:54:00:12:34:56")
	def(&e.RemoteIP, "0.0.0.0")
	def(&e.TTY, "pts/0")
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Boot.IsZero() {
		e.Boot = e.Now().Add(-17*24*time.Hour - 3*time.Hour - 12*time.Minute)
	}
	if e.MemTotalKiB == 0 {
		e.MemTotalKiB = 4028520
	}
	if e.DiskTotalKiB == 0 {
		e.DiskTotalKiB = 30786644
	}
	if e.CPUs == 0 {
		e.CPUs = 2
	}
	if e.MaxOutputBytes <= 0 {
		e.MaxOutputBytes = DefaultMaxOutputBytes
	}
}

// Command is one simple command the shell ran, for the event log.
type Command struct {
	Text string   // the command's source text as typed, raw bytes
	Args []string // argv after expansion; empty for a syntax error
	Cwd  string   // working directory the command started in
	URLs []string // URLs wget or curl would have fetched
	Exit int
}

// Shell is one emulated login session. It is not safe for concurrent use.
type Shell struct {
	env     Env
	fs      *FS
	cwd     string
	oldpwd  string
	vars    map[string]string
	history []string
	exited  bool
	status  int
	pid     int

	// per Run
	cmds  []Command
	ran   int
	depth int
}

// New returns a shell for env over fsys, starting in the user's home
// directory (or "/" when it does not exist).
func New(env Env, fsys *FS) *Shell {
	env.fill()
	s := &Shell{env: env, fs: fsys, cwd: "/", vars: map[string]string{}}
	if fi, err := fsys.Stat(env.Home); err == nil && fi.IsDir() {
		s.cwd = env.Home
	}
	s.oldpwd = s.cwd
	s.pid = 1000 + int(env.Boot.Unix()%30000)
	if s.pid < 1000 {
		s.pid += 30000
	}

	s.vars["HOME"] = env.Home
	s.vars["USER"] = env.User
	s.vars["LOGNAME"] = env.User
	s.vars["SHELL"] = "/bin/bash"
	s.vars["HOSTNAME"] = env.Hostname
	s.vars["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	s.vars["TERM"] = "xterm-256color"
	s.vars["LANG"] = "C.UTF-8"
	for k, v := range env.Vars {
		s.vars[k] = v
	}
	return s
}

// Exited reports whether the session ran exit or logout.
func (s *Shell) Exited() bool { return s.exited }

// Status returns the exit status of the last command.
func (s *Shell) Status() int { return s.status }

// Cwd returns the working directory.
func (s *Shell) Cwd() string { return s.cwd }

// SetVar sets a shell variable, as an SSH "env" request does.
func (s *Shell) SetVar(name, value string) {
	if validName(name) {
		s.vars[name] = value
	}
}

// Prompt returns bash's default prompt for the user and directory.
func (s *Shell) Prompt() string {
	dir := s.cwd
	if dir == s.env.Home {
		dir = "~"
	} else if strings.HasPrefix(dir, s.env.Home+"/") {
		dir = "~" + dir[len(s.env.Home):]
	}
	sign := "$"
	if s.env.UID == 0 {
		sign = "#"
	}
	return fmt.Sprintf("%s@%s:%s%s ", s.env.User, s.env.Hostname, dir, sign)
}

// Run parses and runs one command line, writing the commands' output to
// stdout and stderr. It returns the last exit status and every simple
// command it ran. A line that does not parse comes back as one Command
// with no Args and status 2. Output past Env.MaxOutputBytes is dropped.
func (s *Shell) Run(ctx context.Context, line string, stdout, stderr io.Writer) (int, []Command) {
	s.cmds = nil
	s.ran = 0
	s.depth = 0

	trimmed := strings.TrimSpace(line)
	if trimmed != "" {
		s.addHistory(trimmed)
	}

	budget := &budget{left: s.env.MaxOutputBytes}
	out := &capWriter{w: stdout, b: budget}
	errw := &capWriter{w: stderr, b: budget}

	script, err := Parse(line)
	if err != nil {
		fmt.Fprintf(errw, "-bash: %s\n", syntaxMessage(err))
		s.status = 2
		return 2, []Command{{Text: trimmed, Cwd: s.cwd, Exit: 2}}
	}

	status := s.runScript(ctx, script, nil, out, errw)
	s.status = status
	return status, s.cmds
}

func syntaxMessage(err error) string {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	return "command line too long"
}

func (s *Shell) addHistory(line string) {
	if len(line) > 4096 {
		line = line[:4096]
	}
	s.history = append(s.history, line)
	if len(s.history) > MaxHistory {
		s.history = s.history[len(s.history)-MaxHistory:]
	}
}

func (s *Shell) runScript(ctx context.Context, script Script, stdin []byte, stdout, stderr io.Writer) int {
	status := s.status
	for _, ao := range script {
		if s.exited || ctx.Err() != nil {
			break
		}
		status = s.runAndOr(ctx, ao, stdin, stdout, stderr)
	}
	return status
}

func (s *Shell) runAndOr(ctx context.Context, ao AndOr, stdin []byte, stdout, stderr io.Writer) int {
	status := s.runPipeline(ctx, ao.Pipelines[0], stdin, stdout, stderr)
	for i, op := range ao.Ops {
		if s.exited || ctx.Err() != nil {
			break
		}
		if (op == "&&") != (status == 0) {
			continue
		}
		status = s.runPipeline(ctx, ao.Pipelines[i+1], stdin, stdout, stderr)
	}
	return status
}

// runPipeline runs each stage in turn, handing one stage's output to the
// next as its input.
func (s *Shell) runPipeline(ctx context.Context, pl Pipeline, stdin []byte, stdout, stderr io.Writer) int {
	input := stdin
	status := 0
	for i, cmd := range pl {
		if i == len(pl)-1 {
			status = s.runSimple(ctx, cmd, input, stdout, stderr)
			break
		}
		var buf bytes.Buffer
		s.runSimple(ctx, cmd, input, &capWriter{w: &buf, b: &budget{left: maxPipeBytes}}, stderr)
		input = buf.Bytes()
	}
	s.status = status
	return status
}

func (s *Shell) runSimple(ctx context.Context, cmd Simple, stdin []byte, stdout, stderr io.Writer) int {
	if ctx.Err() != nil || s.exited {
		return s.status
	}
	s.ran++
	if s.ran > maxCommandsPerRun {
		return 1
	}

	rec := Command{Text: cmd.Text, Cwd: s.cwd}
	idx := len(s.cmds)
	s.cmds = append(s.cmds, rec)

	var args []string
	for _, w := range cmd.Words {
		args = append(args, s.expand(ctx, w)...)
	}
	s.cmds[idx].Args = args

	if len(args) == 0 {
		for _, a := range cmd.Assigns {
			s.vars[a.Name] = strings.Join(s.expandNoSplit(ctx, a.Value), "")
		}
	}

	cio, finish, status, ok := s.redirect(ctx, cmd.Redirs, stdin, stdout, stderr)
	if !ok {
		s.cmds[idx].Exit = status
		return status
	}

	if len(args) > 0 {
		status = s.exec(ctx, args, cio, &s.cmds[idx])
	}
	if err := finish(); err != nil {
		fmt.Fprintf(stderr, "-bash: %v\n", err)
		status = 1
	}
	s.cmds[idx].Exit = status
	s.status = status
	return status
}

// cmdIO is the standard input and outputs of one command.
type cmdIO struct {
	stdin  []byte
	stdout io.Writer
	stderr io.Writer
}

// redirect applies the redirections. finish writes redirected output into
// the filesystem once the command is done.
func (s *Shell) redirect(ctx context.Context, redirs []Redirect, stdin []byte, stdout, stderr io.Writer) (cmdIO, func() error, int, bool) {
	cio := cmdIO{stdin: stdin, stdout: stdout, stderr: stderr}
	var files []func() error
	finish := func() error {
		for _, f := range files {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}

	for _, r := range redirs {
		target := strings.Join(s.expandNoSplit(ctx, r.Target), "")
		if r.Op == ">&" {
			switch target {
			case "1":
				if r.Fd == 2 {
					cio.stderr = cio.stdout
				}
			case "2":
				if r.Fd == 1 {
					cio.stdout = cio.stderr
				}
			}
			continue
		}
		if r.Op == "<" {
			data, err := s.readPath(target)
			if err != nil {
				fmt.Fprintf(stderr, "-bash: %s: %s\n", target, errText(err))
				return cio, finish, 1, false
			}
			cio.stdin = data
			continue
		}

		var w io.Writer
		switch target {
		case "/dev/null":
			w = io.Discard
		case "/dev/stdout":
			w = stdout
		case "/dev/stderr":
			w = stderr
		default:
			p := Clean(s.cwd, target)
			buf := &bytes.Buffer{}
			appendData := r.Op == ">>"
			// Create the file at once, as bash does, so errors show up first.
			if err := s.fs.WriteFile(p, nil, true); err != nil {
				fmt.Fprintf(stderr, "-bash: %s: %s\n", target, errText(err))
				return cio, finish, 1, false
			}
			if !appendData {
				if err := s.fs.WriteFile(p, nil, false); err != nil {
					fmt.Fprintf(stderr, "-bash: %s: %s\n", target, errText(err))
					return cio, finish, 1, false
				}
			}
			// One byte over the overlay cap makes the final write fail
			// with "No space left on device".
			w = &capWriter{w: buf, b: &budget{left: int(s.fs.maxBytes) + 1}}
			files = append(files, func() error {
				if err := s.fs.WriteFile(p, buf.Bytes(), true); err != nil {
					return fmt.Errorf("%s: %s", target, errText(err))
				}
				return nil
			})
		}
		switch r.Fd {
		case -1:
			cio.stdout, cio.stderr = w, w
		case 1:
			cio.stdout = w
		case 2:
			cio.stderr = w
		}
	}
	return cio, finish, 0, true
}

func (s *Shell) readPath(target string) ([]byte, error) {
	if target == "/dev/null" {
		return nil, nil
	}
	return s.fs.ReadFile(Clean(s.cwd, target), MaxReadBytes)
}

// exec runs one expanded command.
func (s *Shell) exec(ctx context.Context, args []string, cio cmdIO, rec *Command) int {
	name := args[0]
	if strings.Contains(name, "/") {
		dir, base := path.Split(Clean(s.cwd, name))
		if _, ok := builtins[base]; ok && binDirs[dir] {
			name = base
		} else {
			fi, err := s.fs.Stat(Clean(s.cwd, name))
			switch {
			case err != nil:
				fmt.Fprintf(cio.stderr, "-bash: %s: No such file or directory\n", name)
				return 127
			case fi.IsDir():
				fmt.Fprintf(cio.stderr, "-bash: %s: Is a directory\n", name)
				return 126
			}
			fmt.Fprintf(cio.stderr, "-bash: %s: Permission denied\n", name)
			return 126
		}
	}

	fn, ok := builtins[name]
	if !ok {
		fmt.Fprintf(cio.stderr, "-bash: %s: command not found\n", name)
		return 127
	}
	return fn(ctx, s, &invocation{args: args, io: cio, rec: rec})
}

// binDirs are the directories where the emulated commands "live", so
// "/bin/ls" runs ls even when the root directory has no such file.
var binDirs = map[string]bool{"/bin/": true, "/usr/bin/": true, "/sbin/": true, "/usr/sbin/": true, "/usr/local/bin/": true}

// invocation is one command call.
type invocation struct {
	args []string
	io   cmdIO
	rec  *Command
}

func (in *invocation) out(format string, a ...any) { fmt.Fprintf(in.io.stdout, format, a...) }
func (in *invocation) err(format string, a ...any) { fmt.Fprintf(in.io.stderr, format, a...) }

type builtin func(ctx context.Context, s *Shell, in *invocation) int

var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{}
	for name, fn := range fsCommands {
		builtins[name] = fn
	}
	for name, fn := range sysCommands {
		builtins[name] = fn
	}
	for name, fn := range netCommands {
		builtins[name] = fn
	}
	for name, fn := range shellCommands {
		builtins[name] = fn
	}
}

// expand expands a word into fields: variables, substitutions, field
// splitting of unquoted expansions and globbing of unquoted patterns.
func (s *Shell) expand(ctx context.Context, w Word) []string {
	var fields []string
	var cur strings.Builder
	have := false
	pattern := false
	var pat strings.Builder

	flush := func() {
		if have {
			if pattern {
				if m := s.glob(pat.String()); len(m) > 0 {
					fields = append(fields, m...)
				} else {
					fields = append(fields, cur.String())
				}
			} else {
				fields = append(fields, cur.String())
			}
		}
		cur.Reset()
		pat.Reset()
		have, pattern = false, false
	}

	for _, seg := range w {
		switch seg.Kind {
		case SegBare:
			cur.WriteString(seg.Text)
			pat.WriteString(seg.Text)
			if strings.ContainsAny(seg.Text, "*?[") {
				pattern = true
			}
			have = true
		case SegLiteral:
			cur.WriteString(seg.Text)
			pat.WriteString(escapeGlob(seg.Text))
			have = true
		case SegVar, SegSubst:
			val := s.value(ctx, seg)
			if seg.Quoted {
				cur.WriteString(val)
				pat.WriteString(escapeGlob(val))
				have = true
				continue
			}
			parts := strings.Fields(val)
			for i, part := range parts {
				if i > 0 {
					flush()
				}
				cur.WriteString(part)
				pat.WriteString(escapeGlob(part))
				have = true
			}
			if len(val) > 0 && strings.TrimRight(val, " \t\n") != val && len(parts) > 0 {
				flush()
			}
		}
	}
	flush()
	return fields
}

// expandNoSplit expands a word without field splitting or globbing, as for
// assignments and redirection targets.
func (s *Shell) expandNoSplit(ctx context.Context, w Word) []string {
	var parts []string
	for _, seg := range w {
		switch seg.Kind {
		case SegBare, SegLiteral:
			parts = append(parts, seg.Text)
		default:
			parts = append(parts, s.value(ctx, seg))
		}
	}
	return parts
}

func (s *Shell) value(ctx context.Context, seg Segment) string {
	if seg.Kind == SegSubst {
		return s.substitute(ctx, seg.Text)
	}
	switch seg.Text {
	case "?":
		return strconv.Itoa(s.status)
	case "$":
		return strconv.Itoa(s.pid)
	case "#":
		return "0"
	case "0":
		return "-bash"
	case "!", "@", "*":
		return ""
	case "PWD":
		return s.cwd
	case "OLDPWD":
		return s.oldpwd
	case "RANDOM":
		return strconv.Itoa(rand.IntN(32768))
	case "UID":
		return strconv.Itoa(s.env.UID)
	}
	return s.vars[seg.Text]
}

// substitute runs a $(...) body and returns its output without trailing
// newlines.
func (s *Shell) substitute(ctx context.Context, body string) string {
	if s.depth >= maxSubstDepth {
		return ""
	}
	script, err := Parse(body)
	if err != nil {
		return ""
	}
	s.depth++
	defer func() { s.depth-- }()

	var buf bytes.Buffer
	saved := s.status
	s.runScript(ctx, script, nil, &capWriter{w: &buf, b: &budget{left: maxPipeBytes}}, io.Discard)
	s.status = saved
	return strings.TrimRight(buf.String(), "\n")
}

func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// glob matches a pattern whose wildcards sit in the last path element.
func (s *Shell) glob(pattern string) []string {
	dir, file := path.Split(pattern)
	if strings.ContainsAny(dir, "*?[") {
		return nil
	}
	if _, err := path.Match(file, ""); err != nil {
		return nil
	}
	lookDir := dir
	if lookDir == "" {
		lookDir = "."
	}
	entries, err := s.fs.ReadDir(Clean(s.cwd, unescapeGlob(lookDir)))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(file, ".") {
			continue
		}
		if ok, _ := path.Match(file, e.Name); ok {
			out = append(out, unescapeGlob(dir)+e.Name)
		}
	}
	return out
}

func unescapeGlob(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// errText returns the strerror text bash prints for err.
func errText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, ErrNotDir):
		return "Not a directory"
	case errors.Is(err, ErrIsDir):
		return "Is a directory"
	case errors.Is(err, fs.ErrExist):
		return "File exists"
	case errors.Is(err, ErrNoSpace):
		return "No space left on device"
	case errors.Is(err, ErrNotEmpty):
		return "Directory not empty"
	}
	return "Permission denied"
}

// budget is the number of bytes a group of writers may still write.
type budget struct{ left int }

// capWriter drops what is written past its budget, reporting success so a
// command never fails half-way because of the cap.
type capWriter struct {
	w io.Writer
	b *budget
}

func (c *capWriter) Write(p []byte) (int, error) {
	n := len(p)
	if c.b.left <= 0 {
		return n, nil
	}
	if len(p) > c.b.left {
		p = p[:c.b.left]
	}
	c.b.left -= len(p)
	if _, err := c.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
