package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// env is a real bus and database for worker tests.
type env struct {
	bus   *bus.Bus
	store *Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := bustest.Start(t)
	b := bustest.Connect(t, srv, "webhook-test")
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{bus: b, store: NewStore(st.DB(), nil)}
}

// runWorker starts a worker with fast retries and stops it at cleanup.
func (e *env) runWorker(t testing.TB, targets ...Target) *Worker {
	t.Helper()
	w, err := NewWorker(Config{FileTargets: targets, BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: 2 * time.Second}, e.bus, e.store)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

func (e *env) publish(t *testing.T, subject string, payload any) {
	t.Helper()
	if err := e.bus.Publish(context.Background(), subject, "test.event", payload); err != nil {
		t.Fatalf("Publish %s: %v", subject, err)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receiver is a local HTTP endpoint that fails the first failN requests.
type receiver struct {
	srv    *httptest.Server
	failN  int32
	calls  atomic.Int32
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
}

func newReceiver(t *testing.T, failN int32) *receiver {
	r := &receiver{failN: failN}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.calls.Add(1)
		body, _ := io.ReadAll(req.Body)
		if r.failN < 0 || n <= r.failN {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.sigs = append(r.sigs, req.Header.Get(SignatureHeader))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func TestHTTPDeliverySigned(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, 0)
	w := e.runWorker(t, Target{Name: "siem", Kind: KindHTTP, URL: rcv.srv.URL, Secret: "s3cret", Subjects: []string{"canary.>"}})

	e.publish(t, "canary.tok1.triggered", map[string]string{"token_id": "tok1"})
	e.publish(t, "attacker.observed", map[string]string{"ip": "203.0.113.1"}) // not subscribed
	e.publish(t, "canary.tok2.triggered", map[string]string{"token_id": "tok2"})
	waitFor(t, "two deliveries", func() bool { return rcv.received() == 2 })

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, body := range rcv.bodies {
		if !VerifySignature([]byte("s3cret"), body, rcv.sigs[i]) {
			t.Errorf("delivery %d: signature %q does not verify", i, rcv.sigs[i])
		}
		if VerifySignature([]byte("other"), body, rcv.sigs[i]) {
			t.Errorf("delivery %d: signature verifies with the wrong key", i)
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("delivery %d: body is not JSON: %v", i, err)
		}
		if !strings.HasPrefix(ev["subject"].(string), "canary.") || ev["stream_seq"] == nil || ev["payload"] == nil {
			t.Errorf("delivery %d: body %s lacks subject, stream_seq or payload", i, body)
		}
	}
	if got := w.Stats()["siem"].Delivered; got != 2 {
		t.Errorf("Stats delivered = %d, want 2", got)
	}
}

func TestHTTPDeliveryRetries(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, 2)
	w := e.runWorker(t, Target{Name: "flaky", Kind: KindHTTP, URL: rcv.srv.URL, Subjects: []string{"attacker.>"}, MaxAttempts: 5})

	e.publish(t, "attacker.observed", map[string]string{"ip": "203.0.113.2"})
	waitFor(t, "delivery after two failures", func() bool { return rcv.received() == 1 })

	st := w.Stats()["flaky"]
	if st.Delivered != 1 || st.Failed != 2 || st.Retried != 2 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want 1 delivered, 2 failed, 2 retried, 0 dead", st)
	}
	if got := rcv.calls.Load(); got != 3 {
		t.Errorf("receiver calls = %d, want 3", got)
	}
}

func TestHTTPDeliveryDeadLetter(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, -1)
	w := e.runWorker(t, Target{Name: "down", Kind: KindHTTP, URL: rcv.srv.URL, Subjects: []string{"credential.>"}, MaxAttempts: 3})

	e.publish(t, "credential.captured", map[string]string{"principal": "root"})
	var letters []DeadLetter
	waitFor(t, "a dead letter", func() bool {
		var err error
		letters, _, err = e.store.ListDeadLetters(context.Background(), "down", store.Page{})
		return err == nil && len(letters) == 1
	})

	d := letters[0]
	if d.Subject != "credential.captured" || d.Attempts != 3 || d.StreamSeq == 0 || !strings.Contains(d.LastError, "503") {
		t.Errorf("dead letter = %+v, want credential.captured after 3 attempts with a 503 error", d)
	}
	if !strings.Contains(string(d.Payload), "root") {
		t.Errorf("dead letter payload %s does not keep the event", d.Payload)
	}
	if got := rcv.calls.Load(); got != 3 {
		t.Errorf("receiver calls = %d, want 3", got)
	}
	if st := w.Stats()["down"]; st.DeadLettered != 1 || st.Delivered != 0 {
		t.Errorf("Stats = %+v, want 1 dead letter", st)
	}
}

func TestSlackCoalesces(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, 0)

	// Publish before the worker starts: the durable consumer reads the
	// backlog in one batch and posts one message for all of it.
	for i := 0; i < 5; i++ {
		e.publish(t, "canary.tok.triggered", map[string]string{"token_id": "tok"})
	}
	e.runWorker(t, Target{Name: "chat", Kind: KindHTTP, Style: StyleSlack, URL: rcv.srv.URL, Subjects: []string{"canary.>"}})
	waitFor(t, "a slack message", func() bool { return rcv.received() >= 1 })

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var msg slackMessage
	if err := json.Unmarshal(rcv.bodies[0], &msg); err != nil {
		t.Fatalf("slack body: %v", err)
	}
	if !strings.Contains(msg.Text, "5 events") || strings.Count(msg.Text, "canary.tok.triggered") != 5 {
		t.Errorf("slack text = %q, want 5 coalesced events", msg.Text)
	}
}

func TestValidateTargets(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		unsafe bool
		ok     bool
	}{
		{"http loopback", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1:8080/x", Subjects: []string{"canary.>"}}, false, true},
		{"http private lan", Target{Name: "a", Kind: KindHTTP, URL: "https://10.1.2.3/x", Subjects: []string{"log.*.ssh"}}, false, true},
		{"metadata ipv4", Target{Name: "a", Kind: KindHTTP, URL: "http://169.254.169.254/latest", Subjects: []string{"canary.>"}}, false, false},
		{"metadata ipv4 allowed", Target{Name: "a", Kind: KindHTTP, URL: "http://169.254.169.254/latest", Subjects: []string{"canary.>"}}, true, true},
		{"metadata ipv6", Target{Name: "a", Kind: KindHTTP, URL: "http://[fd00:ec2::254]/", Subjects: []string{"canary.>"}}, false, false},
		{"metadata alibaba", Target{Name: "a", Kind: KindHTTP, URL: "http://100.100.100.200/", Subjects: []string{"canary.>"}}, false, false},
		{"metadata name", Target{Name: "a", Kind: KindHTTP, URL: "http://metadata.google.internal/", Subjects: []string{"canary.>"}}, false, false},
		{"link-local ipv6", Target{Name: "a", Kind: KindSyslog, Address: "[fe80::1]:514", Transport: TransportUDP, Subjects: []string{"canary.>"}}, false, false},
		{"unspecified", Target{Name: "a", Kind: KindSyslog, Address: "0.0.0.0:514", Transport: TransportTCP, Subjects: []string{"canary.>"}}, false, false},
		{"ftp scheme", Target{Name: "a", Kind: KindHTTP, URL: "ftp://127.0.0.1/", Subjects: []string{"canary.>"}}, false, false},
		{"credentials in url", Target{Name: "a", Kind: KindHTTP, URL: "http://u:p@127.0.0.1/", Subjects: []string{"canary.>"}}, false, false},
		{"system filter", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1/", Subjects: []string{"system.>"}}, false, false},
		{"wildcard root", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1/", Subjects: []string{">"}}, false, false},
		{"gt not last", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1/", Subjects: []string{"canary.>.x"}}, false, false},
		{"no subjects", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1/"}, false, false},
		{"bad name", Target{Name: "a b", Kind: KindHTTP, URL: "http://127.0.0.1/", Subjects: []string{"canary.>"}}, false, false},
		{"forbidden header", Target{Name: "a", Kind: KindHTTP, URL: "http://127.0.0.1/", Subjects: []string{"canary.>"}, Headers: map[string]string{"Host": "x"}}, false, false},
		{"syslog tls", Target{Name: "a", Kind: KindSyslog, Address: "siem.example:6514", Transport: TransportTLS, Subjects: []string{"attacker.>"}}, false, true},
		{"syslog bad transport", Target{Name: "a", Kind: KindSyslog, Address: "127.0.0.1:514", Transport: "sctp", Subjects: []string{"attacker.>"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.target, tt.unsafe)
			if (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestDialerRefusesUnsafeResolvedAddress(t *testing.T) {
	d := newDialer(false, time.Second)
	_, err := d.DialContext(context.Background(), "tcp", "169.254.169.254:80")
	if err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("dial 169.254.169.254 = %v, want a refusal before connecting", err)
	}
}

func TestParseConfigFile(t *testing.T) {
	good := []byte(`
targets:
  - name: siem
    kind: syslog
    address: 127.0.0.1:5514
    transport: tcp
    subjects: ["attacker.>", "canary.>"]
  - name: chat
    kind: http
    style: slack
    url: http://127.0.0.1:9000/hook
    subjects: ["canary.*.triggered"]
`)
	targets, err := ParseConfig(good, false)
	if err != nil || len(targets) != 2 {
		t.Fatalf("ParseConfig = %d targets, %v", len(targets), err)
	}
	if targets[0].withDefaults().Facility != DefaultFacility || targets[1].withDefaults().ThrottleSeconds != DefaultSlackThrottleSecond {
		t.Errorf("defaults not applied: %+v", targets)
	}

	for name, bad := range map[string]string{
		"unknown key": "targets:\n  - name: x\n    kind: http\n    urll: http://127.0.0.1/\n",
		"duplicate":   "targets:\n  - {name: x, kind: http, url: 'http://127.0.0.1/', subjects: [canary.>]}\n  - {name: x, kind: http, url: 'http://127.0.0.1/', subjects: [canary.>]}\n",
		"metadata":    "targets:\n  - {name: x, kind: http, url: 'http://169.254.169.254/', subjects: [canary.>]}\n",
	} {
		if _, err := ParseConfig([]byte(bad), false); err == nil {
			t.Errorf("ParseConfig(%s) succeeded, want an error", name)
		}
	}
	if targets, err := ParseConfig(nil, false); err != nil || len(targets) != 0 {
		t.Errorf("ParseConfig(empty) = %v, %v, want no targets", targets, err)
	}
}
