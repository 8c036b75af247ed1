package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" keyed with
// the target secret.
const SignatureHeader = "X-Decnet-Signature"

// Sign returns the SignatureHeader value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is the signature of body, in
// constant time. Receivers in Go can use it as it is.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// GenericEvent is the JSON body of a generic HTTP delivery: the bus
// envelope plus the stream sequence, which is unique per stream and lets a
// receiver drop duplicates.
type GenericEvent struct {
	bus.Envelope
	StreamSeq uint64 `json:"stream_seq"`
}

// MarshalJSON keeps the envelope's time format and adds stream_seq.
func (g GenericEvent) MarshalJSON() ([]byte, error) {
	env, err := g.Envelope.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(env, &m); err != nil {
		return nil, err
	}
	m["stream_seq"], _ = json.Marshal(g.StreamSeq)
	return json.Marshal(m)
}

// deliveryError is a failed attempt; retryable ones are tried again.
type deliveryError struct {
	err       error
	retryable bool
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// maxResponseBytes is how much of a receiver's error response is kept for
// the log and the dead letter.
const maxResponseBytes = 512

// httpSender posts events to one HTTP target.
type httpSender struct {
	target Target
	client *http.Client
}

func newHTTPSender(t Target, allowUnsafe bool, timeout time.Duration) *httpSender {
	transport := &http.Transport{
		DialContext:         newDialer(allowUnsafe, timeout).DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &httpSender{
		target: t,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect could point anywhere, past the address checks
			// of Validate, so the receiver must respond at its own URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// post sends body and classifies the outcome: 2xx succeeds; 408, 429, 5xx
// and network errors may be retried; other statuses are final.
func (h *httpSender) post(ctx context.Context, body []byte, eventID, subject string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.target.URL, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "decnet-webhook")
	if eventID != "" {
		req.Header.Set("X-Decnet-Event-Id", eventID)
	}
	if subject != "" {
		req.Header.Set("X-Decnet-Subject", subject)
	}
	for k, v := range h.target.Headers {
		req.Header.Set(k, v)
	}
	if h.target.Secret != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(h.target.Secret), body))
	}

	resp, err := h.client.Do(req)
	if err != nil {
		return &deliveryError{err: fmt.Errorf("post: %w", err), retryable: true}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	retry := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return &deliveryError{
		err:       fmt.Errorf("receiver responded %s: %s", resp.Status, strings.TrimSpace(string(snippet))),
		retryable: retry,
	}
}

// slackMessage is the Slack incoming-webhook body.
type slackMessage struct {
	Text string `json:"text"`
}

// maxSlackLines caps the event lines of one coalesced Slack message; the
// rest are counted in a final line.
const maxSlackLines = 20

// slackText summarises events for humans, one line per event.
func slackText(msgs []bus.Msg) string {
	var b strings.Builder
	if len(msgs) == 1 {
		b.WriteString("decnet event\n")
	} else {
		fmt.Fprintf(&b, "decnet: %d events\n", len(msgs))
	}
	for i, m := range msgs {
		if i == maxSlackLines {
			fmt.Fprintf(&b, "… and %d more\n", len(msgs)-maxSlackLines)
			break
		}
		b.WriteString("• " + summarize(m) + "\n")
	}
	return b.String()
}

// summarize renders one event as "subject: key fields".
func summarize(m bus.Msg) string {
	env, err := m.Envelope()
	if err != nil {
		return m.Subject + " (undecodable envelope)"
	}
	var p map[string]any
	_ = json.Unmarshal(env.Payload, &p)

	parts := []string{slackEscape(m.Subject)}
	for _, k := range []string{"decky", "service", "kind", "src_ip", "ip", "token_id"} {
		if v, ok := p[k]; ok {
			s := fmt.Sprint(v)
			if len(s) > 80 {
				s = s[:80] + "…"
			}
			parts = append(parts, k+"="+slackEscape(s))
		}
	}
	return strings.Join(parts, " ")
}

// slackEscape escapes the three characters Slack's message formatting gives
// a meaning to, so event text cannot form links or @-mentions.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
