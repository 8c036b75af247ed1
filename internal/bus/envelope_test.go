package bus

import (
	"encoding/json"
	"testing"
	"time"
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
