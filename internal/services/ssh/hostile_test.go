package ssh

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"

	"github.com/decnet/decnet/internal/services"
)

// checkEventsEscaped fails the test when an event field is not valid UTF-8,
// holds a raw control byte, or exceeds the field cap.
func checkEventsEscaped(t *testing.T, evs []services.Event) {
	t.Helper()
	for _, e := range evs {
		for k, v := range e.Fields {
			if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n\x1b") || len(v) > services.MaxFieldBytes {
				t.Errorf("%s event field %s = %q (%d bytes) is not escaped and capped", e.Kind, k, v, len(v))
			}
		}
	}
}

func TestHostileRawBytes(t *testing.T) {
	hello := []byte("SSH-2.0-evil\r\n")
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}

	tests := []struct {
		name string
		data []byte
	}{
		{"oversized version line", append([]byte("SSH-2.0-"), bytes.Repeat([]byte("A"), 10000)...)},
		{"many lines before version", bytes.Repeat([]byte("not ssh\r\n"), 3000)},
		{"version with NUL and invalid UTF-8", []byte("SSH-2.0-\x00\xff\xfe\x1b[31m\r\n")},
		{"truncated packet", append(append([]byte{}, hello...), 0, 0, 3, 232, 4, 20, 1, 2, 3)},
		{"huge packet length", append(append([]byte{}, hello...), 0xff, 0xff, 0xff, 0xff, 4, 20)},
		{"garbage after version", append(append([]byte{}, hello...), random[:4096]...)},
		{"random bytes", random},
		{"NUL bytes", make([]byte, 8192)},
	}
	ts := startServer(t, Config{HandshakeTimeout: 5 * time.Second})
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go func() {
				c.Write(tc.data)
				c.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(io.Discard, c)

			ts.rec.waitFor(t, "disconnect", countKind(services.KindDisconnect, i+1))
		})
	}
	checkEventsEscaped(t, ts.rec.snapshot())

	// The server still serves a well-behaved client afterwards.
	cfg := &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.Password("x")}, HostKeyCallback: gossh.InsecureIgnoreHostKey()}
	if _, err := gossh.Dial("tcp", ts.addr, cfg); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("login after hostile input: err = %v, want an authentication failure", err)
	}
}

func TestHostileUsernameAndPassword(t *testing.T) {
	ts := startServer(t, Config{})
	user := strings.Repeat("\xff\xfe\x00é\x1b", 800) // 4.8 KB, invalid UTF-8
	password := "p\x00\xffw\n"

	cfg := &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.Password(password)}, HostKeyCallback: gossh.InsecureIgnoreHostKey()}
	if _, err := gossh.Dial("tcp", ts.addr, cfg); err == nil {
		t.Fatal("login succeeded under RejectAll")
	}

	evs := ts.rec.waitFor(t, "auth_attempt", countKind(services.KindAuthAttempt, 1))
	checkEventsEscaped(t, evs)
	auth := ts.rec.ofKind(services.KindAuthAttempt)[0]

	gotUser := auth.Fields[services.FieldUsername]
	if !strings.HasPrefix(gotUser, `\xff\xfe\x00é\x1b\xff`) {
		t.Errorf("username field starts %q, want the escaped bytes", gotUser[:min(40, len(gotUser))])
	}
	secret, err := base64.StdEncoding.DecodeString(auth.Fields[services.FieldSecretB64])
	if err != nil || string(secret) != password {
		t.Errorf("secret_b64 decodes to %q (err %v), want %q", secret, err, password)
	}
	if got := auth.Fields[services.FieldSecretPrintable]; got != "p??w?" {
		t.Errorf("secret_printable = %q, want %q", got, "p??w?")
	}
}

// goClient logs in with x/crypto/ssh as root with password pw.
func goClient(t testing.TB, addr string) *gossh.Client {
	t.Helper()
	cfg := &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.Password("pw")}, HostKeyCallback: gossh.InsecureIgnoreHostKey()}
	c, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func TestHostileShellInput(t *testing.T) {
	tests := []struct {
		name        string
		pty         bool
		input       string
		wantCommand string
	}{
		{"pty NUL and invalid UTF-8", true, "echo \x00\xff\xfe ok\rexit\r", `echo \x00\xff\xfe ok`},
		{"pty escape sequences dropped", true, "ls\x1b[A\x1b[D /\rexit\r", `ls /`},
		{"pty backspace and ctrl-u", true, "rm -rf\x15echo bx\x7fye\rexit\r", `echo bye`},
		{"no pty raw bytes", false, "cat /\x80\x00\nexit\n", `cat /\x80\x00`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{Policy: WeakPasswords{"*": {"pw"}}})
			client := goClient(t, ts.addr)
			defer client.Close()
			sess, err := client.NewSession()
			if err != nil {
				t.Fatalf("new session: %v", err)
			}
			defer sess.Close()
			if tc.pty {
				if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
					t.Fatalf("pty: %v", err)
				}
			}
			sess.Stdin = strings.NewReader(tc.input)
			var out bytes.Buffer
			sess.Stdout = &out
			if err := sess.Shell(); err != nil {
				t.Fatalf("shell: %v", err)
			}
			// exit passes on the last command's status, so an ExitError is fine.
			if err := sess.Wait(); err != nil {
				var exit *gossh.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("wait: %v (output %q)", err, out.String())
				}
			}

			evs := ts.rec.waitFor(t, "two commands", countKind(services.KindCommand, 2))
			checkEventsEscaped(t, evs)
			if got := ts.rec.ofKind(services.KindCommand)[0].Fields[services.FieldCommand]; got != tc.wantCommand {
				t.Errorf("first command = %q, want %q", got, tc.wantCommand)
			}
		})
	}
}

func TestHostileExecInput(t *testing.T) {
	ts := startServer(t, Config{Policy: WeakPasswords{"*": {"pw"}}})
	client := goClient(t, ts.addr)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer sess.Close()
	long := strings.Repeat("\xc3", 20000)
	out, err := sess.CombinedOutput("echo '" + long + "'\x00 ; x\xff")
	var exitErr *gossh.ExitError
	if err == nil || !asExit(err, &exitErr) || exitErr.ExitStatus() != 127 {
		t.Errorf("exec status: err = %v, want exit status 127 (output %d bytes)", err, len(out))
	}
	evs := ts.rec.waitFor(t, "two commands", countKind(services.KindCommand, 2))
	checkEventsEscaped(t, evs)
}

func asExit(err error, target **gossh.ExitError) bool {
	var e *gossh.ExitError
	ok := errors.As(err, &e)
	if ok {
		*target = e
	}
	return ok
}

func TestSessionLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		feed bool
	}{
		{"byte cap", Config{MaxSessionBytes: 32 << 10}, true},
		{"time cap", Config{MaxSessionDuration: 300 * time.Millisecond}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Policy = WeakPasswords{"*": {"pw"}}
			ts := startServer(t, tc.cfg)
			client := goClient(t, ts.addr)
			defer client.Close()
			sess, err := client.NewSession()
			if err != nil {
				t.Fatalf("new session: %v", err)
			}
			stdin, err := sess.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.Shell(); err != nil {
				t.Fatalf("shell: %v", err)
			}
			if tc.feed {
				chunk := bytes.Repeat([]byte("A"), 4096)
				for i := 0; i < 1024; i++ {
					if _, err := stdin.Write(chunk); err != nil {
						break
					}
				}
			}
			// The server ends the connection; Wait returns once it has.
			sess.Wait()
			client.Wait()
			ts.rec.waitFor(t, "disconnect", countKind(services.KindDisconnect, 1))
		})
	}
}

func TestForwardingRefused(t *testing.T) {
	ts := startServer(t, Config{Policy: WeakPasswords{"*": {"pw"}}})
	probe := newNoDialProbe(t)
	client := goClient(t, ts.addr)
	defer client.Close()

	if c, err := client.Dial("tcp", probe.l.Addr().String()); err == nil {
		c.Close()
		t.Error("direct-tcpip channel accepted, want it refused")
	}
	if l, err := client.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
		t.Error("tcpip-forward accepted, want it refused")
	}
	if n := probe.accepted.Load(); n != 0 {
		t.Errorf("server opened %d connections for the client, want 0", n)
	}
}
