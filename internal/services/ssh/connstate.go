package ssh

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/decnet/decnet/internal/services"
)

// connState is one client connection from accept to close.
type connState struct {
	s        *Server
	raw      net.Conn
	conn     *meteredConn
	id       string
	base     services.Event
	log      *slog.Logger
	remoteIP string
	started  time.Time

	connectOnce sync.Once

	// mu protects the following.
	mu       sync.Mutex
	attempts int
}

func (s *Server) newConnState(c net.Conn) *connState {
	cs := &connState{s: s, raw: c, id: newSessionID(), started: s.cfg.Now()}
	cs.base = newEventBase(s, cs.id, c.RemoteAddr(), c.LocalAddr())
	cs.remoteIP = cs.base.SrcIP
	cs.log = s.log.With("session_id", cs.id, "remote_addr", c.RemoteAddr().String())
	cs.conn = newMeteredConn(c, s.cfg.MaxSessionBytes, func(r *kexReader) { cs.emitConnect() })
	return cs
}

// emit sends one event with the connection's fields filled in.
func (cs *connState) emit(kind string, fields map[string]string) {
	e := cs.base
	e.Time = cs.s.cfg.Now().UTC()
	e.Kind = kind
	e.Fields = fields
	cs.s.cfg.Sink.Emit(e)
}

// emitConnect sends the connect event once, with the client's version and
// HASSH when the client got that far.
func (cs *connState) emitConnect() {
	cs.connectOnce.Do(func() {
		version, k, err := cs.conn.kexState()
		fields := map[string]string{}
		if version != "" {
			fields[services.FieldSSHClientVersion] = escape(version)
		}
		if k != nil {
			hash, algos := HASSH(*k)
			fields[services.FieldHASSH] = hash
			fields[services.FieldHASSHAlgorithms] = escape(algos)
		}
		if err != nil {
			fields[services.FieldError] = err.Error()
		}
		cs.emit(services.KindConnect, fields)
	})
}

func (cs *connState) run() {
	cfg := cs.s.cfg
	limit := time.AfterFunc(cfg.MaxSessionDuration, func() { cs.raw.Close() })
	defer limit.Stop()

	defer func() {
		cs.emitConnect()
		cs.emit(services.KindDisconnect, nil)
	}()

	cs.raw.SetDeadline(cfg.Now().Add(cfg.HandshakeTimeout))
	sconn, chans, reqs, err := gossh.NewServerConn(cs.conn, cs.serverConfig())
	if err != nil {
		cs.log.Debug("handshake ended", "err", err)
		return
	}
	defer sconn.Close()
	cs.raw.SetDeadline(time.Time{})
	cs.emitConnect()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Global requests (tcpip-forward and the like) are all refused.
		gossh.DiscardRequests(reqs)
	}()

	for nc := range chans {
		if nc.ChannelType() != "session" {
			// direct-tcpip and friends: a honeypot never relays traffic.
			nc.Reject(gossh.Prohibited, "administratively prohibited: open failed")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					cs.log.Error("session panicked", "panic", r)
					sconn.Close()
				}
			}()
			cs.newSession(sconn, ch).serve(chReqs)
		}()
	}
	sconn.Close()
	wg.Wait()
}

func (cs *connState) serverConfig() *gossh.ServerConfig {
	p := cs.s.profile
	conf := &gossh.ServerConfig{
		Config: gossh.Config{
			KeyExchanges: p.KeyExchanges,
			Ciphers:      p.Ciphers,
			MACs:         p.MACs,
		},
		MaxAuthTries:      cs.s.cfg.MaxAuthTries,
		ServerVersion:     cs.s.version,
		PasswordCallback:  cs.passwordCallback,
		PublicKeyCallback: cs.publicKeyCallback,
		KeyboardInteractiveCallback: func(meta gossh.ConnMetadata, challenge gossh.KeyboardInteractiveChallenge) (*gossh.Permissions, error) {
			answers, err := challenge("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errDenied
			}
			return cs.checkPassword(meta, MethodKeyboardInteractive, []byte(answers[0]))
		},
	}
	conf.AddHostKey(cs.s.hostKey)
	return conf
}

var errDenied = errors.New("ssh: permission denied")

func (cs *connState) nextAttempt() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.attempts++
	return cs.attempts
}

func (cs *connState) passwordCallback(meta gossh.ConnMetadata, password []byte) (*gossh.Permissions, error) {
	return cs.checkPassword(meta, MethodPassword, password)
}

func (cs *connState) checkPassword(meta gossh.ConnMetadata, method string, password []byte) (*gossh.Permissions, error) {
	a := Attempt{
		User:     meta.User(),
		Method:   method,
		Password: password,
		N:        cs.nextAttempt(),
		SourceN:  cs.s.counter.next(cs.remoteIP),
		RemoteIP: cs.remoteIP,
	}
	ok := cs.s.cfg.Policy.Allow(a)

	pr, b64 := secretFields(password)
	cs.emit(services.KindAuthAttempt, map[string]string{
		services.FieldUsername:        escape(a.User),
		services.FieldSecretKind:      "plaintext",
		services.FieldSecretPrintable: pr,
		services.FieldSecretB64:       b64,
		services.FieldOutcome:         outcome(ok),
	})
	if !ok {
		return nil, errDenied
	}
	return &gossh.Permissions{}, nil
}

func (cs *connState) publicKeyCallback(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
	a := Attempt{
		User:     meta.User(),
		Method:   MethodPublicKey,
		Key:      key,
		N:        cs.nextAttempt(),
		RemoteIP: cs.remoteIP,
	}
	ok := cs.s.cfg.Policy.Allow(a)

	blob := key.Marshal()
	b64 := ""
	if len(blob) <= maxSecretBytes {
		_, b64 = secretFields(blob)
	}
	cs.emit(services.KindAuthAttempt, map[string]string{
		services.FieldUsername:        escape(a.User),
		services.FieldSecretKind:      "publickey",
		services.FieldSecretPrintable: escape(strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))),
		services.FieldSecretB64:       b64,
		services.FieldKeyType:         escape(key.Type()),
		services.FieldKeyFingerprint:  gossh.FingerprintSHA256(key),
		services.FieldOutcome:         outcome(ok),
	})
	if !ok {
		return nil, errDenied
	}
	return &gossh.Permissions{}, nil
}

func outcome(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}
