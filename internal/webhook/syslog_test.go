package webhook

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/testenv"
)

// rfc5424Line matches the RSYSLOG_SyslogProtocol23Format output:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
var rfc5424Line = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[[^\]]*\])+) (.*)$`)

type syslogRecord struct {
	pri                                     int
	timestamp, host, app, procID, msgID, sd string
	msg                                     string
}

func parseRFC5424(t *testing.T, line string) syslogRecord {
	t.Helper()
	m := rfc5424Line.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line is not RFC 5424: %q", line)
	}
	pri, _ := strconv.Atoi(m[1])
	if _, err := time.Parse(time.RFC3339Nano, m[2]); err != nil {
		t.Errorf("timestamp %q: %v", m[2], err)
	}
	return syslogRecord{pri: pri, timestamp: m[2], host: m[3], app: m[4], procID: m[5], msgID: m[6], sd: m[7], msg: m[8]}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRsyslog runs Debian's rsyslogd in the foreground with a config of
// its own: UDP and TCP inputs on loopback, and every message written to a
// file in RFC 5424 form.
func startRsyslog(t *testing.T) (udpAddr, tcpAddr, outFile string) {
	t.Helper()
	bin := testenv.RequireTool(t, "rsyslogd", "rsyslog")
	dir := t.TempDir()
	udpPort, tcpPort := freePort(t, "udp"), freePort(t, "tcp")
	outFile = filepath.Join(dir, "out.log")

	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="%d")
input(type="imtcp" address="127.0.0.1" port="%d")
*.* action(type="omfile" file=%q template="RSYSLOG_SyslogProtocol23Format")
`, dir, udpPort, tcpPort, outFile)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("write rsyslog.conf: %v", err)
	}

	cmd := exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	tcpAddr = fmt.Sprintf("127.0.0.1:%d", tcpPort)
	waitFor(t, "rsyslogd TCP input ("+stderr.String()+")", func() bool {
		c, err := net.DialTimeout("tcp", tcpAddr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return fmt.Sprintf("127.0.0.1:%d", udpPort), tcpAddr, outFile
}

// readRecords returns the lines rsyslogd wrote whose APP-NAME is decnet.
func readRecords(t *testing.T, path string) []syslogRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []syslogRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rec := parseRFC5424(t, sc.Text())
		if rec.app == "decnet" {
			out = append(out, rec)
		}
	}
	return out
}

func TestSyslogToRsyslog(t *testing.T) {
	udpAddr, tcpAddr, out := startRsyslog(t)
	e := newEnv(t)
	e.runWorker(t,
		Target{Name: "udp", Kind: KindSyslog, Transport: TransportUDP, Address: udpAddr, Subjects: []string{"canary.>"}},
		Target{Name: "tcp", Kind: KindSyslog, Transport: TransportTCP, Address: tcpAddr, Subjects: []string{"credential.>"}},
	)

	e.publish(t, "canary.tok-7.triggered", map[string]string{"token_id": "tok-7", "src_ip": "203.0.113.4"})
	e.publish(t, "credential.captured", map[string]string{"principal": "root", "note": "spaces and \"quotes\" ünïcode"})

	var recs []syslogRecord
	waitFor(t, "two records in the rsyslog output", func() bool {
		recs = readRecords(t, out)
		return len(recs) == 2
	})

	bySubject := map[string]syslogRecord{}
	for _, r := range recs {
		bySubject[r.msgID] = r
	}
	for _, subject := range []string{"canary.tok-7.triggered", "credential.captured"} {
		r, ok := bySubject[subject]
		if !ok {
			t.Errorf("no record with MSGID %s in %+v", subject, recs)
			continue
		}
		if want := DefaultFacility*8 + severityWarning; r.pri != want {
			t.Errorf("%s: PRI %d, want %d (local0.warning)", subject, r.pri, want)
		}
		if !strings.HasPrefix(r.sd, `[meta sequenceId="`) {
			t.Errorf("%s: structured data %q, want meta sequenceId", subject, r.sd)
		}
		if r.procID != strconv.Itoa(os.Getpid()) {
			t.Errorf("%s: PROCID %s, want %d", subject, r.procID, os.Getpid())
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(r.msg, "\ufeff")), &body); err != nil {
			t.Errorf("%s: message %q is not JSON: %v", subject, r.msg, err)
			continue
		}
		if body["subject"] != subject {
			t.Errorf("%s: message subject %v", subject, body["subject"])
		}
	}
	if r := bySubject["credential.captured"]; !strings.Contains(r.msg, "ünïcode") {
		t.Errorf("credential message lost UTF-8 text: %q", r.msg)
	}
}

// selfSignedTLS returns a server config and the PEM of its certificate for
// 127.0.0.1.
func selfSignedTLS(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestSyslogOverTLS(t *testing.T) {
	serverConf, certPEM := selfSignedTLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverConf)
	if err != nil {
		t.Fatalf("tls.Listen: %v", err)
	}
	defer ln.Close()

	frames := make(chan string, 4)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			// Octet counting: "LEN SP MSG".
			lenText, err := r.ReadString(' ')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(lenText))
			if err != nil {
				return
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			frames <- string(buf)
		}
	}()

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, certPEM, 0o600)
	e := newEnv(t)
	e.runWorker(t, Target{Name: "tls", Kind: KindSyslog, Transport: TransportTLS, Address: ln.Addr().String(), CAFile: caFile, Subjects: []string{"attacker.>"}})
	e.publish(t, "attacker.observed", map[string]string{"ip": "203.0.113.8"})

	select {
	case f := <-frames:
		r := parseRFC5424(t, f)
		if r.app != "decnet" || r.msgID != "attacker.observed" || r.pri != DefaultFacility*8+severityNotice {
			t.Errorf("record = %+v, want decnet attacker.observed at local0.notice", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no syslog frame over TLS within 10s")
	}
}

func TestFormatRFC5424Fields(t *testing.T) {
	msg, err := FormatRFC5424(16, "host with space", 42, testMsg(t, "log.decky-01.ssh", 7))
	if err != nil {
		t.Fatalf("FormatRFC5424: %v", err)
	}
	r := parseRFC5424(t, string(msg))
	if r.host != "hostwithspace" || r.procID != "42" || r.msgID != "log.decky-01.ssh" || r.sd != `[meta sequenceId="7"]` {
		t.Errorf("record = %+v", r)
	}
}

func testMsg(t *testing.T, subject string, seq uint64) bus.Msg {
	t.Helper()
	env := bus.Envelope{SchemaVersion: bus.SchemaVersion, ID: "id-1", Subject: subject, Type: "t", TS: time.Now(), Source: "test", Payload: json.RawMessage(`{"a":1}`)}
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return bus.Msg{Subject: subject, Seq: seq, Data: data}
}
