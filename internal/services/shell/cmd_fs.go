package shell

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

var fsCommands = map[string]builtin{
	"ls":    cmdLs,
	"cd":    cmdCd,
	"pwd":   cmdPwd,
	"cat":   cmdCat,
	"mkdir": cmdMkdir,
	"rm":    cmdRm,
	"chmod": cmdChmod,
	"touch": cmdTouch,
}

// splitFlags separates single-dash flag letters from operands. "--" ends
// the flags; long options are returned in long.
func splitFlags(args []string) (flags map[byte]bool, long []string, operands []string) {
	flags = map[byte]bool{}
	done := false
	for _, a := range args {
		switch {
		case done || a == "-" || !strings.HasPrefix(a, "-"):
			operands = append(operands, a)
		case a == "--":
			done = true
		case strings.HasPrefix(a, "--"):
			long = append(long, a)
		default:
			for i := 1; i < len(a); i++ {
				flags[a[i]] = true
			}
		}
	}
	return flags, long, operands
}

func cmdPwd(_ context.Context, s *Shell, in *invocation) int {
	in.out("%s\n", s.cwd)
	return 0
}

func cmdCd(_ context.Context, s *Shell, in *invocation) int {
	target := s.env.Home
	if len(in.args) > 2 {
		in.err("-bash: cd: too many arguments\n")
		return 1
	}
	if len(in.args) == 2 {
		target = in.args[1]
	}
	if target == "-" {
		target = s.oldpwd
		in.out("%s\n", target)
	}
	if strings.HasPrefix(target, "~") && (len(target) == 1 || target[1] == '/') {
		target = s.env.Home + target[1:]
	}

	p := Clean(s.cwd, target)
	fi, err := s.fs.Stat(p)
	if err != nil {
		in.err("-bash: cd: %s: No such file or directory\n", target)
		return 1
	}
	if !fi.IsDir() {
		in.err("-bash: cd: %s: Not a directory\n", target)
		return 1
	}
	s.oldpwd, s.cwd = s.cwd, p
	return 0
}

func cmdCat(_ context.Context, s *Shell, in *invocation) int {
	_, _, files := splitFlags(in.args[1:])
	if len(files) == 0 {
		in.io.stdout.Write(in.io.stdin)
		return 0
	}
	status := 0
	for _, f := range files {
		if f == "-" {
			in.io.stdout.Write(in.io.stdin)
			continue
		}
		data, err := s.readPath(f)
		if err != nil {
			in.err("cat: %s: %s\n", f, errText(err))
			status = 1
			continue
		}
		in.io.stdout.Write(data)
	}
	return status
}

func cmdMkdir(_ context.Context, s *Shell, in *invocation) int {
	flags, _, dirs := splitFlags(in.args[1:])
	if len(dirs) == 0 {
		in.err("mkdir: missing operand\nTry 'mkdir --help' for more information.\n")
		return 1
	}
	status := 0
	for _, d := range dirs {
		if err := s.fs.Mkdir(Clean(s.cwd, d), flags['p']); err != nil {
			in.err("mkdir: cannot create directory '%s': %s\n", d, errText(err))
			status = 1
		}
	}
	return status
}

func cmdRm(_ context.Context, s *Shell, in *invocation) int {
	flags, _, files := splitFlags(in.args[1:])
	recursive := flags['r'] || flags['R']
	if len(files) == 0 {
		if flags['f'] {
			return 0
		}
		in.err("rm: missing operand\nTry 'rm --help' for more information.\n")
		return 1
	}
	status := 0
	for _, f := range files {
		p := Clean(s.cwd, f)
		fi, err := s.fs.Stat(p)
		if err != nil {
			if !flags['f'] {
				in.err("rm: cannot remove '%s': No such file or directory\n", f)
				status = 1
			}
			continue
		}
		if fi.IsDir() && !recursive {
			in.err("rm: cannot remove '%s': Is a directory\n", f)
			status = 1
			continue
		}
		if p == "/" {
			in.err("rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n")
			status = 1
			continue
		}
		if err := s.fs.Remove(p, recursive); err != nil {
			in.err("rm: cannot remove '%s': %s\n", f, errText(err))
			status = 1
		}
	}
	return status
}

func cmdChmod(_ context.Context, s *Shell, in *invocation) int {
	var ops []string
	for _, a := range in.args[1:] {
		if !strings.HasPrefix(a, "-") || isModeArg(a) {
			ops = append(ops, a)
		}
	}
	if len(ops) < 2 {
		if len(ops) == 0 {
			in.err("chmod: missing operand\n")
		} else {
			in.err("chmod: missing operand after '%s'\n", ops[0])
		}
		in.err("Try 'chmod --help' for more information.\n")
		return 1
	}
	mode := ops[0]
	status := 0
	for _, f := range ops[1:] {
		p := Clean(s.cwd, f)
		fi, err := s.fs.Stat(p)
		if err != nil {
			in.err("chmod: cannot access '%s': No such file or directory\n", f)
			status = 1
			continue
		}
		perm, ok := applyMode(fi.Mode.Perm(), mode)
		if !ok {
			in.err("chmod: invalid mode: '%s'\nTry 'chmod --help' for more information.\n", mode)
			return 1
		}
		if err := s.fs.Chmod(p, perm); err != nil {
			in.err("chmod: changing permissions of '%s': %s\n", f, errText(err))
			status = 1
		}
	}
	return status
}

func isModeArg(a string) bool {
	_, ok := applyMode(0, a)
	return ok
}

// applyMode applies an octal or symbolic (u+x, a-w, +x, go=r) mode.
func applyMode(cur fs.FileMode, mode string) (fs.FileMode, bool) {
	if n, err := strconv.ParseUint(mode, 8, 32); err == nil {
		return fs.FileMode(n) & fs.ModePerm, true
	}
	for _, clause := range strings.Split(mode, ",") {
		i := strings.IndexAny(clause, "+-=")
		if i < 0 || i+1 > len(clause) {
			return cur, false
		}
		var who fs.FileMode
		for _, c := range clause[:i] {
			switch c {
			case 'u':
				who |= 0o700
			case 'g':
				who |= 0o070
			case 'o':
				who |= 0o007
			case 'a':
				who |= 0o777
			default:
				return cur, false
			}
		}
		if who == 0 {
			who = 0o777
		}
		var bits fs.FileMode
		for _, c := range clause[i+1:] {
			switch c {
			case 'r':
				bits |= 0o444
			case 'w':
				bits |= 0o222
			case 'x', 'X':
				bits |= 0o111
			case 's', 't':
			default:
				return cur, false
			}
		}
		switch clause[i] {
		case '+':
			cur |= bits & who
		case '-':
			cur &^= bits & who
		case '=':
			cur = cur&^who | bits&who
		}
	}
	return cur, true
}

func cmdTouch(_ context.Context, s *Shell, in *invocation) int {
	_, _, files := splitFlags(in.args[1:])
	if len(files) == 0 {
		in.err("touch: missing file operand\nTry 'touch --help' for more information.\n")
		return 1
	}
	status := 0
	for _, f := range files {
		if err := s.fs.Touch(Clean(s.cwd, f)); err != nil {
			in.err("touch: cannot touch '%s': %s\n", f, errText(err))
			status = 1
		}
	}
	return status
}

func cmdLs(_ context.Context, s *Shell, in *invocation) int {
	flags, _, targets := splitFlags(in.args[1:])
	long := flags['l']
	all := flags['a']
	almost := flags['A']
	dirOnly := flags['d']
	human := flags['h']
	if len(targets) == 0 {
		targets = []string{"."}
	}

	var files []FileInfo
	type dirList struct {
		name    string
		entries []FileInfo
	}
	var dirs []dirList
	status := 0
	for _, t := range targets {
		p := Clean(s.cwd, t)
		fi, err := s.fs.Stat(p)
		if err != nil {
			in.err("ls: cannot access '%s': No such file or directory\n", t)
			status = 2
			continue
		}
		if !fi.IsDir() || dirOnly {
			fi.Name = t
			files = append(files, fi)
			continue
		}
		entries, err := s.fs.ReadDir(p)
		if err != nil {
			in.err("ls: cannot open directory '%s': %s\n", t, errText(err))
			status = 2
			continue
		}
		var shown []FileInfo
		if all {
			self, _ := s.fs.Stat(p)
			parent, _ := s.fs.Stat(path.Dir(p))
			self.Name, parent.Name = ".", ".."
			shown = append(shown, self, parent)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name, ".") && !all && !almost {
				continue
			}
			shown = append(shown, e)
		}
		dirs = append(dirs, dirList{name: t, entries: shown})
	}

	print := func(list []FileInfo, total bool) {
		if long {
			if total {
				var blocks int64
				for _, e := range list {
					blocks += (e.Size + 4095) / 4096 * 4
				}
				in.out("total %d\n", blocks)
			}
			for _, e := range list {
				in.out("%s\n", s.longLine(e, human))
			}
			return
		}
		names := make([]string, len(list))
		for i, e := range list {
			names[i] = e.Name
		}
		if len(names) == 0 {
			return
		}
		if s.env.Interactive {
			in.out("%s\n", strings.Join(names, "  "))
		} else {
			in.out("%s\n", strings.Join(names, "\n"))
		}
	}

	print(files, false)
	for i, d := range dirs {
		if len(targets) > 1 {
			if i > 0 || len(files) > 0 {
				in.out("\n")
			}
			in.out("%s:\n", d.name)
		}
		print(d.entries, true)
	}
	return status
}

// longLine formats one ls -l line.
func (s *Shell) longLine(e FileInfo, human bool) string {
	links := 1
	size := e.Size
	if e.IsDir() {
		links = 2
		size = 4096
	}
	sizeText := strconv.FormatInt(size, 10)
	if human {
		sizeText = humanSize(size)
	}
	when := e.ModTime
	if when.IsZero() {
		when = s.env.Boot
	}
	stamp := when.Format("Jan _2 15:04")
	if s.env.Now().Sub(when) > 180*24*time.Hour || when.After(s.env.Now().Add(time.Hour)) {
		stamp = when.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s %d %s %s %5s %s %s", modeString(e.Mode), links, "root", "root", sizeText, stamp, e.Name)
}

func modeString(m fs.FileMode) string {
	var b [10]byte
	b[0] = '-'
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	return string(b[:])
}

func humanSize(n int64) string {
	units := []string{"", "K", "M", "G", "T"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10)
	}
	if f < 10 {
		return fmt.Sprintf("%.1f%s", f, units[i])
	}
	return fmt.Sprintf("%.0f%s", f, units[i])
}
