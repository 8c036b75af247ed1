package ssh

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/services/shell"
)

// session is one "session" channel: at most one shell or exec request,
// with an optional PTY.
type session struct {
	cs    *connState
	sconn *gossh.ServerConn
	ch    gossh.Channel
	pty   bool
	vars  map[string]string

	started bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func (cs *connState) newSession(sconn *gossh.ServerConn, ch gossh.Channel) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{cs: cs, sconn: sconn, ch: ch, vars: map[string]string{}, ctx: ctx, cancel: cancel}
}

// serve replies to the channel's requests until the channel closes, then
// waits for the shell goroutine.
func (se *session) serve(reqs <-chan *gossh.Request) {
	defer se.wg.Wait()
	defer se.cancel()

	for req := range reqs {
		ok := false
		var run func()
		switch req.Type {
		case "pty-req":
			ok = !se.started
			se.pty = se.pty || ok
		case "env":
			var kv struct{ Name, Value string }
			if gossh.Unmarshal(req.Payload, &kv) == nil && len(se.vars) < 64 {
				se.vars[kv.Name] = kv.Value
				ok = true
			}
		case "window-change", "signal", "keepalive@openssh.com":
			ok = true
		case "shell":
			if !se.started {
				se.started, ok = true, true
				run = se.interactive
			}
		case "exec":
			var cmd struct{ Command string }
			if !se.started && gossh.Unmarshal(req.Payload, &cmd) == nil {
				se.started, ok = true, true
				run = func() { se.exec(cmd.Command) }
			}
		}
		// Reply before the shell starts: a fast command would otherwise
		// close the channel before the client hears its request succeed.
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if run != nil {
			se.start(run)
		}
	}
}

func (se *session) start(run func()) {
	se.wg.Add(1)
	go func() {
		defer se.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				se.cs.log.Error("shell panicked", "panic", r)
				se.ch.Close()
			}
		}()
		run()
	}()
}

// newShell builds the emulated shell for this session.
func (se *session) newShell() *shell.Shell {
	s := se.cs.s
	env := s.cfg.Shell
	env.User = se.sconn.User()
	if env.User == "" || !utf8.ValidString(env.User) || strings.ContainsAny(env.User, "/\x00 \t\n:") || len(env.User) > 32 {
		env.User = "root"
	}
	if env.User != "root" {
		env.Home = ""
		env.UID = 0
	}
	env.RemoteIP = se.cs.remoteIP
	env.Interactive = se.pty
	env.TTY = "pts/0"
	fsys := shell.NewFS(s.base, 0, 0, s.cfg.Now)
	sh := shell.New(env, fsys)
	for k, v := range se.vars {
		sh.SetVar(k, v)
	}
	return sh
}

func (se *session) sendExit(status int) {
	se.ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(status)}))
	se.ch.Close()
}

// runLine runs one command line and emits an event per command.
func (se *session) runLine(sh *shell.Shell, line string, stdout, stderr io.Writer) int {
	status, cmds := sh.Run(se.ctx, line, stdout, stderr)
	for _, c := range cmds {
		fields := map[string]string{
			services.FieldCommand: escape(c.Text),
			services.FieldCwd:     escape(c.Cwd),
		}
		if len(c.URLs) > 0 {
			fields[services.FieldURL] = escape(strings.Join(c.URLs, " "))
		}
		se.cs.emit(services.KindCommand, fields)
	}
	return status
}

func (se *session) exec(command string) {
	sh := se.newShell()
	var out io.Writer = se.ch
	var errw io.Writer = se.ch.Stderr()
	if se.pty {
		out = &crlfWriter{w: se.ch}
		errw = out
	}
	status := se.runLine(sh, command, out, errw)
	se.sendExit(status)
}

// interactive runs a login shell: prompt, line editing and echo on a PTY,
// plain line reading otherwise.
func (se *session) interactive() {
	sh := se.newShell()
	var out io.Writer = se.ch
	if se.pty {
		out = &crlfWriter{w: se.ch}
	}
	if se.cs.s.cfg.Motd != "" {
		io.WriteString(out, se.cs.s.cfg.Motd)
	}

	ed := &lineEditor{echo: se.pty}
	prompt := func() {
		if se.pty {
			io.WriteString(out, sh.Prompt())
		}
	}
	prompt()

	buf := make([]byte, 4096)
	for {
		n, err := se.ch.Read(buf)
		for _, ev := range ed.feed(buf[:n]) {
			if ev.echo != "" {
				io.WriteString(se.ch, ev.echo)
			}
			switch ev.kind {
			case evLine:
				se.runLine(sh, ev.line, out, out)
				if sh.Exited() {
					se.logout(out, sh)
					return
				}
				prompt()
			case evInterrupt:
				prompt()
			case evEOF:
				se.logout(out, sh)
				return
			}
		}
		if err != nil {
			if ed.pending() != "" {
				se.runLine(sh, ed.pending(), out, out)
			}
			se.sendExit(sh.Status())
			return
		}
	}
}

// logout ends an interactive session as a login shell does.
func (se *session) logout(out io.Writer, sh *shell.Shell) {
	if se.pty {
		io.WriteString(out, "logout\n")
	}
	se.sendExit(sh.Status())
}

// crlfWriter turns "\n" into "\r\n", as a terminal with ONLCR does.
type crlfWriter struct{ w io.Writer }

func (c *crlfWriter) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') < 0 {
		return c.w.Write(p)
	}
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Line editor events.
const (
	evLine = iota
	evInterrupt
	evEOF
	evNone
)

type editorEvent struct {
	kind int
	line string
	echo string
}

// lineEditor turns the raw bytes of a terminal into lines: it handles
// Enter, Backspace, Ctrl-C, Ctrl-D and Ctrl-U, drops escape sequences
// (arrow keys), and keeps every other byte, NUL and invalid UTF-8 included.
type lineEditor struct {
	echo    bool
	line    []byte
	esc     int // 0 none, 1 after ESC, 2 inside CSI
	afterCR bool
}

func (ed *lineEditor) pending() string { return string(ed.line) }

func (ed *lineEditor) feed(p []byte) []editorEvent {
	var evs []editorEvent
	var echo []byte
	flush := func(kind int, line string, extra string) {
		e := editorEvent{kind: kind, line: line}
		if ed.echo {
			e.echo = string(echo) + extra
		}
		echo = echo[:0]
		evs = append(evs, e)
	}

	for _, c := range p {
		if ed.esc == 1 {
			ed.esc = 0
			if c == '[' || c == 'O' {
				ed.esc = 2
			}
			continue
		}
		if ed.esc == 2 {
			if c >= 0x40 && c <= 0x7e {
				ed.esc = 0
			}
			continue
		}
		if ed.afterCR && c == '\n' {
			ed.afterCR = false
			continue
		}
		ed.afterCR = false

		switch c {
		case '\r', '\n':
			ed.afterCR = c == '\r'
			line := string(ed.line)
			ed.line = ed.line[:0]
			flush(evLine, line, "\r\n")
		case 0x7f, 0x08:
			if len(ed.line) > 0 {
				cut := len(ed.line) - 1
				for cut > 0 && ed.line[cut]&0xc0 == 0x80 {
					cut--
				}
				ed.line = ed.line[:cut]
				echo = append(echo, "\b \b"...)
			}
		case 0x03:
			ed.line = ed.line[:0]
			flush(evInterrupt, "", "^C\r\n")
		case 0x04:
			if len(ed.line) == 0 {
				flush(evEOF, "", "")
			}
		case 0x15:
			for range utf8.RuneCount(ed.line) {
				echo = append(echo, "\b \b"...)
			}
			ed.line = ed.line[:0]
		case 0x1b:
			ed.esc = 1
		case '\t':
		default:
			if len(ed.line) >= shell.MaxLineBytes {
				continue
			}
			ed.line = append(ed.line, c)
			if c >= 0x20 || c == 0 {
				if c != 0 {
					echo = append(echo, c)
				}
			}
		}
	}
	if len(echo) > 0 {
		flush(evNone, "", "")
	}
	return evs
}
