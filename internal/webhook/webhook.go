// Package webhook sends bus events to SIEMs and chat tools: HTTP webhooks
// (generic JSON signed with HMAC-SHA256, or Slack-compatible text) and
// syslog (RFC 5424 over UDP, TCP or TLS). Each target reads its subjects
// through a durable JetStream consumer, so events published while the
// worker is down are delivered when it comes back. Failed deliveries are
// retried with exponential backoff and end in a dead-letter row, never in
// silence.
package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/decnet/decnet/internal/bus"
)

// Target kinds.
const (
	KindHTTP   = "http"
	KindSyslog = "syslog"
)

// HTTP payload styles.
const (
	StyleGeneric = "generic"
	StyleSlack   = "slack"
)

// Syslog transports.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// Defaults applied by Target.withDefaults.
const (
	DefaultMaxAttempts         = 5
	DefaultSlackThrottleSecond = 10
	DefaultFacility            = 16 // local0
)

// ErrInvalidTarget wraps every validation failure of a Target.
var ErrInvalidTarget = errors.New("invalid webhook target")

// Target is one egress destination. The same shape is read from the YAML
// file (DECNET_WEBHOOK_CONFIG) and from POST /api/v1/webhooks.
type Target struct {
	Name string `json:"name" yaml:"name" validate:"required,max=64,pattern=^[A-Za-z0-9_-]+$"`
	// Subjects are NATS subject filters such as "canary.>" or
	// "attacker.observed". Each must start with a stored subject root (log,
	// attacker, credential, identity, campaign, canary, decky, orchestrator).
	Subjects []string `json:"subjects" yaml:"subjects" validate:"required,max=32"`
	Kind     string   `json:"kind" yaml:"kind" validate:"required,enum=http|syslog"`

	// URL, Secret, Style and Headers configure HTTP targets. Secret keys
	// the X-Decnet-Signature HMAC; without it no signature is sent.
	URL     string            `json:"url,omitempty" yaml:"url" validate:"max=2048"`
	Secret  string            `json:"secret,omitempty" yaml:"secret" validate:"max=256"`
	Style   string            `json:"style,omitempty" yaml:"style" validate:"enum=generic|slack"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers"`

	// Address (host:port), Transport, Facility and CAFile configure syslog
	// targets. CAFile is a PEM bundle for TLS; empty uses the system roots.
	Address   string `json:"address,omitempty" yaml:"address" validate:"max=512"`
	Transport string `json:"transport,omitempty" yaml:"transport" validate:"enum=udp|tcp|tls"`
	Facility  int    `json:"facility,omitempty" yaml:"facility" validate:"min=0,max=23"`
	CAFile    string `json:"ca_file,omitempty" yaml:"ca_file" validate:"max=1024"`

	// MaxAttempts is the number of tries before an event goes to the dead
	// letters (DefaultMaxAttempts when 0).
	MaxAttempts int `json:"max_attempts,omitempty" yaml:"max_attempts" validate:"min=0,max=20"`
	// ThrottleSeconds is the minimum time between two Slack messages;
	// events arriving in between are coalesced into the next message, never
	// dropped. Generic and syslog targets are never throttled.
	ThrottleSeconds int `json:"throttle_seconds,omitempty" yaml:"throttle_seconds" validate:"min=0,max=3600"`
}

// withDefaults fills unset optional fields.
func (t Target) withDefaults() Target {
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	if t.Kind == KindHTTP && t.Style == "" {
		t.Style = StyleGeneric
	}
	if t.Kind == KindHTTP && t.Style == StyleSlack && t.ThrottleSeconds == 0 {
		t.ThrottleSeconds = DefaultSlackThrottleSecond
	}
	if t.Kind == KindSyslog && t.Facility == 0 {
		t.Facility = DefaultFacility
	}
	return t
}

// Redacted returns t with the secret and header values hidden, for listing.
func (t Target) Redacted() Target {
	if t.Secret != "" {
		t.Secret = "***"
	}
	if len(t.Headers) > 0 {
		h := make(map[string]string, len(t.Headers))
		for k := range t.Headers {
			h[k] = "***"
		}
		t.Headers = h
	}
	return t
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// forbiddenHeaders may not be set through Target.Headers.
var forbiddenHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "x-decnet-signature": true,
}

// Validate checks a target. Addresses that are link-local, unspecified,
// multicast or a known cloud metadata endpoint are rejected unless
// allowUnsafe is set (DECNET_WEBHOOK_ALLOW_PRIVATE). Host names are checked
// again at every connection, after resolution.
func Validate(t Target, allowUnsafe bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidTarget, t.Name, fmt.Sprintf(format, args...))
	}
	if !namePattern.MatchString(t.Name) {
		return bad("name must be 1 to 64 letters, digits, '_' or '-'")
	}
	if len(t.Subjects) == 0 {
		return bad("subjects: at least one subject filter is required")
	}
	for _, s := range t.Subjects {
		if err := ValidateFilter(s); err != nil {
			return bad("subjects: %v", err)
		}
	}

	switch t.Kind {
	case KindHTTP:
		return validateHTTP(t, allowUnsafe, bad)
	case KindSyslog:
		return validateSyslog(t, allowUnsafe, bad)
	default:
		return bad("kind must be http or syslog, got %q", t.Kind)
	}
}

func validateHTTP(t Target, allowUnsafe bool, bad func(string, ...any) error) error {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url must be an http:// or https:// URL, got %q", t.URL)
	}
	if u.User != nil {
		return bad("url must not carry credentials; use headers instead")
	}
	if err := checkHost(u.Hostname(), allowUnsafe); err != nil {
		return bad("url: %v", err)
	}
	if t.Style != "" && t.Style != StyleGeneric && t.Style != StyleSlack {
		return bad("style must be generic or slack, got %q", t.Style)
	}
	for k := range t.Headers {
		if forbiddenHeaders[strings.ToLower(k)] {
			return bad("headers: %s is set by decnet", k)
		}
	}
	if t.Address != "" || t.Transport != "" {
		return bad("address and transport apply to syslog targets only")
	}
	return nil
}

func validateSyslog(t Target, allowUnsafe bool, bad func(string, ...any) error) error {
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil || host == "" || port == "" {
		return bad("address must be host:port, got %q", t.Address)
	}
	if err := checkHost(host, allowUnsafe); err != nil {
		return bad("address: %v", err)
	}
	switch t.Transport {
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		return bad("transport must be udp, tcp or tls, got %q", t.Transport)
	}
	if t.Facility < 0 || t.Facility > 23 {
		return bad("facility must be 0 to 23, got %d", t.Facility)
	}
	if t.URL != "" || t.Style != "" {
		return bad("url and style apply to http targets only")
	}
	return nil
}

// ValidateFilter checks a subscription filter: dot-separated tokens where
// '*' is a whole token and '>' only the last one, whose first token is a
// subject root stored in a JetStream stream.
func ValidateFilter(f string) error {
	tokens := strings.Split(f, ".")
	for i, tok := range tokens {
		switch {
		case tok == "*":
		case tok == ">":
			if i != len(tokens)-1 {
				return fmt.Errorf("filter %q: '>' must be the last token", f)
			}
		default:
			if err := bus.ValidateToken(tok); err != nil {
				return fmt.Errorf("filter %q: %w", f, err)
			}
		}
	}
	if bus.StreamFor(tokens[0]+".x") == "" || tokens[0] == "*" || tokens[0] == ">" {
		return fmt.Errorf("filter %q: must start with log, attacker, credential, identity, campaign, canary, decky or orchestrator", f)
	}
	return nil
}
