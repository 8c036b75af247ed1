package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// deliverer sends the batches of one target.
type deliverer struct {
	w      *Worker
	target Target
	http   *httpSender
	syslog *syslogSender

	// lastSlack is when the last Slack message went out (throttle).
	lastSlack time.Time
}

func (w *Worker) newDeliverer(t Target) (*deliverer, error) {
	d := &deliverer{w: w, target: t}
	switch t.Kind {
	case KindHTTP:
		d.http = newHTTPSender(t, w.cfg.AllowUnsafe, w.cfg.Timeout)
	case KindSyslog:
		s, err := newSyslogSender(t, w.cfg.AllowUnsafe, w.cfg.Timeout)
		if err != nil {
			return nil, err
		}
		d.syslog = s
	default:
		return nil, fmt.Errorf("webhook: target %s: unknown kind %q", t.Name, t.Kind)
	}
	return d, nil
}

func (d *deliverer) close() {
	if d.syslog != nil {
		d.syslog.close()
	}
}

// handle delivers a batch in order. It returns an error only when the
// batch must be redelivered: the worker is stopping, or a dead letter could
// not be stored.
func (d *deliverer) handle(ctx context.Context, msgs []bus.Msg) error {
	if d.target.Kind == KindHTTP && d.target.Style == StyleSlack {
		return d.handleSlack(ctx, msgs)
	}
	for _, m := range msgs {
		attempts, err := d.w.attempt(ctx, d.target, func(ctx context.Context) error { return d.sendOne(ctx, m) })
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := d.w.deadLetter(ctx, d.target, m, attempts, err); err != nil {
			return err
		}
	}
	return nil
}

// sendOne delivers one raw event.
func (d *deliverer) sendOne(ctx context.Context, m bus.Msg) error {
	if d.syslog != nil {
		return d.syslog.send(ctx, m)
	}
	env, err := m.Envelope()
	if err != nil {
		return &deliveryError{err: fmt.Errorf("decode envelope: %w", err)}
	}
	body, err := json.Marshal(GenericEvent{Envelope: env, StreamSeq: m.Seq})
	if err != nil {
		return &deliveryError{err: fmt.Errorf("encode body: %w", err)}
	}
	return d.http.post(ctx, body, env.ID, m.Subject)
}

// handleSlack coalesces the whole batch into one human-facing message,
// sent at most once per ThrottleSeconds. Waiting leaves new events in the
// stream, so the next batch coalesces them: nothing is dropped.
func (d *deliverer) handleSlack(ctx context.Context, msgs []bus.Msg) error {
	if wait := time.Until(d.lastSlack.Add(time.Duration(d.target.ThrottleSeconds) * time.Second)); wait > 0 {
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}

	body, err := json.Marshal(slackMessage{Text: slackText(msgs)})
	if err != nil {
		return fmt.Errorf("webhook: encode slack message: %w", err)
	}
	attempts, err := d.w.attempt(ctx, d.target, func(ctx context.Context) error {
		return d.http.post(ctx, body, "", "")
	})
	d.lastSlack = time.Now()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, m := range msgs {
		if err := d.w.deadLetter(ctx, d.target, m, attempts, err); err != nil {
			return err
		}
	}
	return nil
}

// TestResult is the outcome of a test delivery.
type TestResult struct {
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// SendTest delivers one synthetic "webhook.test" event to t, once and
// without retries, and reports the outcome.
func SendTest(ctx context.Context, t Target, allowUnsafe bool, timeout time.Duration) TestResult {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	t = t.withDefaults()
	w := &Worker{cfg: Config{AllowUnsafe: allowUnsafe, Timeout: timeout}}
	d, err := w.newDeliverer(t)
	if err != nil {
		return TestResult{Error: err.Error()}
	}
	defer d.close()

	payload, _ := json.Marshal(map[string]string{"message": "decnet webhook test", "target": t.Name})
	env := bus.Envelope{SchemaVersion: bus.SchemaVersion, ID: "test-" + t.Name, Subject: "webhook.test", Type: "webhook.test", TS: time.Now().UTC(), Source: "webhook/test", Payload: payload}
	data, _ := env.MarshalJSON()
	m := bus.Msg{Subject: "webhook.test", Data: data}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if t.Kind == KindHTTP && t.Style == StyleSlack {
		body, _ := json.Marshal(slackMessage{Text: slackText([]bus.Msg{m})})
		err = d.http.post(ctx, body, "", "")
	} else {
		err = d.sendOne(ctx, m)
	}
	if err != nil {
		return TestResult{Error: err.Error()}
	}
	return TestResult{Delivered: true}
}
