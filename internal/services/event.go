// Package services defines the event every honeypot protocol emulator emits.
// The emulators themselves live in one subpackage per protocol.
package services

import "time"

// Event is one thing a remote peer did against an emulated service: a
// connection, a login attempt, a shell command, an HTTP request.
//
// Events carry attacker-controlled text in Fields. Emitters cap every value
// (see MaxFieldBytes) and consumers must treat the values as hostile.
type Event struct {
	// ID is unique per event. Consumers use it to drop redelivered copies;
	// the publisher fills it in when the emulator left it empty.
	ID      string            `json:"id"`
	Time    time.Time         `json:"time"`
	Decky   string            `json:"decky"`
	Service string            `json:"service"`
	Kind    string            `json:"kind"`
	SrcIP   string            `json:"src_ip"`
	SrcPort int               `json:"src_port"`
	DstPort int               `json:"dst_port,omitempty"`
	Session string            `json:"session,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// MaxFieldBytes caps one field value as emitted; longer values are cut.
const MaxFieldBytes = 8192

// Event kinds shared by the emulators.
const (
	KindConnect     = "connect"
	KindDisconnect  = "disconnect"
	KindAuthAttempt = "auth_attempt"
	KindCommand     = "command"
	KindRequest     = "request"
	KindFingerprint = "fingerprint"
	KindError       = "error"
)

// Field keys shared by the emulators and read by the ingester.
const (
	// Credentials (KindAuthAttempt).
	FieldUsername        = "username"
	FieldSecretPrintable = "secret_printable" // bytes outside 0x20-0x7E replaced by '?'
	FieldSecretB64       = "secret_b64"       // standard base64 of the exact secret bytes
	FieldSecretKind      = "secret_kind"      // plaintext, publickey, http_bearer, ...
	FieldKeyType         = "key_type"
	FieldKeyFingerprint  = "key_fingerprint" // SHA256:... as printed by ssh-keygen -l
	FieldOutcome         = "outcome"         // success or failure

	// Shell (KindCommand).
	FieldCommand = "command"
	FieldCwd     = "cwd"
	FieldURL     = "url" // a URL the command would have fetched

	// SSH fingerprints (KindFingerprint or KindConnect).
	FieldHASSH            = "hassh"
	FieldHASSHAlgorithms  = "hassh_algorithms"
	FieldSSHClientVersion = "ssh_client_version"

	// HTTP (KindRequest).
	FieldMethod        = "method"
	FieldPath          = "path"
	FieldQuery         = "query"
	FieldHeaders       = "headers" // JSON object of header name to list of values
	FieldUserAgent     = "user_agent"
	FieldBodySize      = "body_size"
	FieldBodySHA256    = "body_sha256"
	FieldBody          = "body" // first bytes of the body, escaped
	FieldForwardedFor  = "x_forwarded_for"
	FieldStatus        = "status"
	FieldPayloadSHA256 = "payload_sha256"

	// Errors and diagnostics.
	FieldError = "error"
)

// Sink receives events from an emulator. Emit must not block for long: the
// emulator calls it on the connection's goroutine.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }
