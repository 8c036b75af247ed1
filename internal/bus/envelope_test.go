package bus

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEnvelopeMarshalMatchesEncodingJSON checks the hand-written encoder
// against encoding/json on the same fields, including strings that need
// escapes.
func TestEnvelopeMarshalMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 120000000, time.FixedZone("X", -7200))
	tests := []struct {
		name string
		env  Envelope
	}{
		{"plain", Envelope{SchemaVersion: 1, ID: "0193a8f2-7c1e-7b3a-9d2e-4f5a6b7c8d9e", Subject: "log.web1.ssh",
			Type: TypeServiceEvent, TS: ts, Source: "ingester/1f0c", Payload: json.RawMessage(`{"a":[1,2]}`)}},
		{"nil payload", Envelope{SchemaVersion: 1, ID: "x", Subject: "s", Type: "t", TS: ts, Source: "src"}},
		{"escapes", Envelope{SchemaVersion: 2, ID: "q\"uote\\", Subject: "tab\there", Type: "<b>&",
			TS: time.Unix(0, 0), Source: "caf\u00e9 \x01 \xff", Payload: json.RawMessage(`"s"`)}},
		{"empty strings", Envelope{Payload: json.RawMessage(`null`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.env.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}

			type plain Envelope
			p := plain(tt.env)
			p.TS = p.TS.UTC()
			if p.Payload == nil {
				p.Payload = json.RawMessage("null")
			}
			want, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("MarshalJSON =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// FuzzEnvelopeMarshal compares MarshalJSON with encoding/json on the same
// fields. The string fields and the timestamp must match byte for byte.
// encoding/json also compacts the payload and escapes <, >, &, U+2028 and
// U+2029 in it, which MarshalJSON leaves as they are, so the payload is
// compared after json.Compact and json.HTMLEscape. Both outputs must decode
// to the same envelope.
func FuzzEnvelopeMarshal(f *testing.F) {
	f.Add(1, "0193a8f2-7c1e-7b3a-9d2e-4f5a6b7c8d9e", "log.web1.ssh", TypeServiceEvent, "ingester/1f0c",
		int64(1735787045), int64(123456789), []byte(`{"a":[1,2]}`))
	f.Add(2, "q\"uote\\", "tab\there", "<b>&", "caf\u00e9 \x01 \xff", int64(0), int64(0), []byte(`"s"`))
	f.Add(-7, "\u2028\u2029", "\x7f\xc3", "", "\xed\xa0\x80", int64(-62135596800), int64(1), []byte(" { \"k\" : \"<\u2028>&\" } "))
	f.Add(0, "", "", "", "", int64(253402300799), int64(999999999), []byte(`null`))

	f.Fuzz(func(t *testing.T, version int, id, subject, typ, source string, sec, nsec int64, payload []byte) {
		if !json.Valid(payload) {
			t.Skip("NewEnvelope rejects a payload that is not valid JSON")
		}
		ts := time.Unix(sec, nsec)
		if y := ts.UTC().Year(); y < 0 || y > 9999 {
			t.Skip("encoding/json rejects a year outside [0,9999]")
		}
		env := Envelope{SchemaVersion: version, ID: id, Subject: subject, Type: typ, TS: ts, Source: source,
			Payload: json.RawMessage(payload)}

		got, err := env.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(got) {
			t.Fatalf("MarshalJSON wrote invalid JSON: %q", got)
		}

		type plain Envelope
		p := plain(env)
		p.TS = p.TS.UTC()
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("encoding/json: %v", err)
		}

		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("compact MarshalJSON output: %v", err)
		}
		var normalized bytes.Buffer
		json.HTMLEscape(&normalized, compact.Bytes())
		if !bytes.Equal(normalized.Bytes(), want) {
			t.Errorf("MarshalJSON after compact and HTML escape =\n%q\nencoding/json =\n%q", normalized.Bytes(), want)
		}

		var fromGot, fromWant plain
		if err := json.Unmarshal(got, &fromGot); err != nil {
			t.Fatalf("decode MarshalJSON output: %v", err)
		}
		if err := json.Unmarshal(want, &fromWant); err != nil {
			t.Fatalf("decode encoding/json output: %v", err)
		}
		if !fromGot.TS.Equal(fromWant.TS) {
			t.Errorf("decoded ts = %v, want %v", fromGot.TS, fromWant.TS)
		}
		fromGot.TS, fromWant.TS = time.Time{}, time.Time{}
		fromGot.Payload, fromWant.Payload = nil, nil
		if diff := cmp.Diff(fromWant, fromGot); diff != "" {
			t.Errorf("decoded fields (-encoding/json +MarshalJSON):\n%s", diff)
		}
	})
}
