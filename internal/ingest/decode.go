// Package ingest turns service events from the bus into stored rows: log
// entries, attacker observations and credentials.
package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/services"
)

// Limits on one decoded event. Emitters already cap their fields; the decoder
// enforces the caps again because anything on the bus may be forged.
const (
	MaxEventBytes = 256 << 10
	maxFields     = 64
	maxKeyBytes   = 64
	maxNameBytes  = 128
	maxFutureSkew = 24 * time.Hour
)

// ErrInvalidEvent wraps every reason DecodeEvent rejects a message.
var ErrInvalidEvent = errors.New("invalid event")

// DecodeEvent parses one JSON-encoded services.Event and makes it safe to
// store: text is valid UTF-8 (invalid bytes become \xNN escapes, NUL becomes
// \x00), every value is capped, and an event without an id gets one derived
// from fallbackID (the bus envelope id) or else from its bytes, so a
// redelivered copy still dedupes. now fills a missing time and replaces one
// more than a day in the future.
func DecodeEvent(data []byte, fallbackID string, now time.Time) (services.Event, error) {
	var e services.Event
	if len(data) > MaxEventBytes {
		return e, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidEvent, len(data), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return sanitize(e, fallbackID, data, now)
}

// DecodeEnvelopeEvent parses a bus envelope that carries a service event in
// one pass, instead of decoding the envelope and then its payload, and
// makes the event safe to store as DecodeEvent does. The envelope id is the
// fallback id.
func DecodeEnvelopeEvent(data []byte, now time.Time) (services.Event, error) {
	var env struct {
		SchemaVersion int            `json:"schema_version"`
		ID            string         `json:"id"`
		Payload       services.Event `json:"payload"`
	}
	if len(data) > MaxEventBytes {
		return env.Payload, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidEvent, len(data), MaxEventBytes)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return env.Payload, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if env.SchemaVersion != bus.SchemaVersion {
		return env.Payload, fmt.Errorf("%w: envelope schema_version %d, this build reads %d", ErrInvalidEvent, env.SchemaVersion, bus.SchemaVersion)
	}
	return sanitize(env.Payload, env.ID, data, now)
}

// sanitize applies the caps and escapes of DecodeEvent to a decoded event.
// raw is the message the event came from, hashed for an id when neither the
// event nor fallbackID has one.
func sanitize(e services.Event, fallbackID string, raw []byte, now time.Time) (services.Event, error) {
	if e.Decky == "" || e.Service == "" || e.Kind == "" {
		return e, fmt.Errorf("%w: decky, service and kind are required", ErrInvalidEvent)
	}
	e.Decky = clean(e.Decky, maxNameBytes)
	e.Service = clean(e.Service, maxNameBytes)
	e.Kind = clean(e.Kind, maxNameBytes)
	e.Session = clean(e.Session, maxNameBytes)

	if e.SrcIP != "" {
		addr, err := netip.ParseAddr(e.SrcIP)
		if err != nil {
			return e, fmt.Errorf("%w: src_ip %q is not an IP address", ErrInvalidEvent, clean(e.SrcIP, 64))
		}
		e.SrcIP = addr.Unmap().String()
	}
	if e.SrcPort < 0 || e.SrcPort > 65535 {
		e.SrcPort = 0
	}
	if e.DstPort < 0 || e.DstPort > 65535 {
		e.DstPort = 0
	}

	if e.Time.IsZero() || e.Time.After(now.Add(maxFutureSkew)) {
		e.Time = now
	}
	e.Time = e.Time.UTC()

	if len(e.Fields) > maxFields {
		return e, fmt.Errorf("%w: %d fields, the limit is %d", ErrInvalidEvent, len(e.Fields), maxFields)
	}
	if len(e.Fields) > 0 {
		fields := make(map[string]string, len(e.Fields))
		for k, v := range e.Fields {
			fields[clean(k, maxKeyBytes)] = clean(v, services.MaxFieldBytes)
		}
		e.Fields = fields
	}

	if e.ID == "" {
		e.ID = fallbackID
	}
	if e.ID == "" {
		sum := sha256.Sum256(raw)
		e.ID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	e.ID = clean(e.ID, maxNameBytes)
	return e, nil
}

// clean returns s as valid UTF-8 of at most limit bytes. Invalid bytes and
// NUL become the text \xNN, so the stored value shows what was sent without
// breaking JSON, terminals or SQL text columns.
func clean(s string, limit int) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && len(s) <= limit {
		return s
	}

	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < limit; {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == 0:
			b.WriteString(`\x00`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	out := b.String()
	for len(out) > limit {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	return out
}
