package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// Syslog severities used by decnet (RFC 5424 section 6.2.1).
const (
	severityWarning = 4
	severityNotice  = 5
)

// maxUDPMessage keeps a UDP datagram under the common 8 KiB receive limit
// of syslog daemons (rsyslog's default maxMessageSize is 8k).
const maxUDPMessage = 8000

// FormatRFC5424 renders one event as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME decnet PROCID MSGID [meta sequenceId="N"] JSON
//
// MSGID is the subject (cut to the 32 characters RFC 5424 allows); the
// message is the envelope JSON plus stream_seq. Credential captures and
// canary triggers are sent at severity warning, the rest at notice.
func FormatRFC5424(facility int, hostname string, pid int, m bus.Msg) ([]byte, error) {
	env, err := m.Envelope()
	if err != nil {
		return nil, err
	}
	body, err := GenericEvent{Envelope: env, StreamSeq: m.Seq}.MarshalJSON()
	if err != nil {
		return nil, err
	}

	sev := severityNotice
	if strings.HasPrefix(m.Subject, "credential.") || (strings.HasPrefix(m.Subject, "canary.") && strings.HasSuffix(m.Subject, ".triggered")) {
		sev = severityWarning
	}

	ts := env.TS.UTC().Format("2006-01-02T15:04:05.000000Z")
	sd := "-"
	if m.Seq > 0 && m.Seq <= 2147483647 {
		// meta/sequenceId is registered with IANA (RFC 5424 section 7.3.1)
		// and must fit 1..2147483647.
		sd = `[meta sequenceId="` + strconv.FormatUint(m.Seq, 10) + `"]`
	}

	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s decnet %d %s %s ", facility*8+sev, ts, printusascii(hostname, 255), pid, printusascii(m.Subject, 32), sd)
	b.Write(body)
	return []byte(b.String()), nil
}

// printusascii keeps the RFC 5424 header fields in PRINTUSASCII (33-126)
// and within max characters; an empty result becomes the NILVALUE "-".
func printusascii(s string, max int) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// syslogSender writes to one syslog target, reconnecting after errors.
type syslogSender struct {
	target   Target
	dial     dialContext
	tlsConf  *tls.Config
	timeout  time.Duration
	hostname string

	mu   sync.Mutex // mu protects conn
	conn net.Conn
}

func newSyslogSender(t Target, allowUnsafe bool, timeout time.Duration) (*syslogSender, error) {
	s := &syslogSender{
		target:  t,
		dial:    newDialer(allowUnsafe, timeout).DialContext,
		timeout: timeout,
	}
	s.hostname, _ = os.Hostname()

	if t.Transport == TransportTLS {
		host, _, _ := net.SplitHostPort(t.Address)
		s.tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("webhook: target %s: read ca_file: %w", t.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("webhook: target %s: ca_file %s contains no PEM certificate", t.Name, t.CAFile)
			}
			s.tlsConf.RootCAs = pool
		}
	}
	return s, nil
}

// send writes one message. TCP and TLS use octet-counting framing
// (RFC 6587 section 3.4.1, required for TLS by RFC 5425); UDP sends one
// datagram per message, cut to maxUDPMessage bytes.
func (s *syslogSender) send(ctx context.Context, m bus.Msg) error {
	msg, err := FormatRFC5424(s.target.Facility, s.hostname, os.Getpid(), m)
	if err != nil {
		return &deliveryError{err: fmt.Errorf("format: %w", err)}
	}
	frame := msg
	if s.target.Transport == TransportUDP {
		if len(frame) > maxUDPMessage {
			frame = frame[:maxUDPMessage]
		}
	} else {
		frame = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if s.conn == nil {
		if err := s.connect(ctx); err != nil {
			return &deliveryError{err: err, retryable: true}
		}
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.conn.Write(frame); err != nil {
		s.conn.Close()
		s.conn = nil
		return &deliveryError{err: fmt.Errorf("write: %w", err), retryable: true}
	}
	return nil
}

func (s *syslogSender) connect(ctx context.Context) error {
	network := "tcp"
	if s.target.Transport == TransportUDP {
		network = "udp"
	}
	conn, err := s.dial(ctx, network, s.target.Address)
	if err != nil {
		return fmt.Errorf("connect %s %s: %w", network, s.target.Address, err)
	}
	if s.tlsConf != nil {
		tc := tls.Client(conn, s.tlsConf)
		hctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return fmt.Errorf("tls handshake with %s: %w", s.target.Address, err)
		}
		conn = tc
	}
	s.conn = conn
	return nil
}

func (s *syslogSender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
