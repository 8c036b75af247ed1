package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// SchemaVersion is the envelope version decnet writes.
const SchemaVersion = 1

// Envelope wraps every message decnet publishes. On the wire it is JSON:
//
//	{"schema_version":1,"id":"…","subject":"log.web1.ssh","type":"service.event",
//	 "ts":"2025-01-02T03:04:05.123456789Z","source":"ingester/1f0c…","payload":{…}}
//
// ID is unique per published message and doubles as the JetStream message
// id, so a retried publish within the duplicate window is stored once.
// Receivers trust the NATS subject over the Subject field.
type Envelope struct {
	SchemaVersion int             `json:"schema_version"`
	ID            string          `json:"id"`
	Subject       string          `json:"subject"`
	Type          string          `json:"type"`
	TS            time.Time       `json:"ts"`
	Source        string          `json:"source"`
	Payload       json.RawMessage `json:"payload"`
}

// TypeServiceEvent is the envelope type of a services.Event on log.>.
const TypeServiceEvent = "service.event"

// MarshalJSON writes TS in UTC with RFC 3339 nanosecond precision. It
// writes the fields by hand and copies Payload unchanged, so Payload must
// be valid JSON, which NewEnvelope checks. encoding/json would reflect
// over the struct and then validate and compact the payload again.
func (e Envelope) MarshalJSON() ([]byte, error) {
	payload := e.Payload
	if payload == nil {
		payload = json.RawMessage("null")
	}
	ts := e.TS.UTC()
	if y := ts.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("bus: envelope %s: ts year %d is outside [0,9999]", e.ID, y)
	}

	b := make([]byte, 0, 192+len(payload))
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"ts":"`...)
	b = ts.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	return append(b, '}'), nil
}

// appendString appends s as a JSON string, as json.Marshal writes it.
// Printable ASCII without quotes, backslashes or HTML characters (ids,
// subjects, types) is copied as it is. Anything else goes through
// encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s)
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ErrSchemaVersion is returned by DecodeEnvelope for an envelope whose
// schema_version this build does not read.
var ErrSchemaVersion = errors.New("unsupported envelope schema version")

// DecodeEnvelope parses an envelope and checks its schema version.
func DecodeEnvelope(data []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Envelope{}, fmt.Errorf("bus: decode envelope: %w", err)
	}
	if e.SchemaVersion != SchemaVersion {
		return Envelope{}, fmt.Errorf("bus: envelope schema_version %d: %w", e.SchemaVersion, ErrSchemaVersion)
	}
	return e, nil
}

// UnmarshalPayload decodes the payload into v.
func (e Envelope) UnmarshalPayload(v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("bus: decode %s payload of envelope %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// encodePayload turns a payload into raw JSON. json.RawMessage and []byte
// holding JSON pass through untouched.
func encodePayload(payload any) (json.RawMessage, error) {
	switch p := payload.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if !json.Valid(p) {
			return nil, errors.New("bus: payload is not valid JSON")
		}
		return p, nil
	default:
		raw, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("bus: encode payload: %w", err)
		}
		return raw, nil
	}
}
