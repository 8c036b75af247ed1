package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeBody feeds unauthenticated login bodies to the decoder: it
// must return a body or an *Error with a 4xx status, never panic.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"admin","password":"x"}`, `{"username":`, `[]`, `null`, `{"a":1}`,
		`{"username":"a","password":"b"} {}`, `{"username":1e999}`, "\xff\xfe",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		v, err := decodeBody(httptest.NewRecorder(), req, LoginRequest{}, 4096)
		if err == nil {
			if _, ok := v.(*LoginRequest); !ok {
				t.Fatalf("decodeBody(%q) = %T, want *LoginRequest", body, v)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Status == http.StatusUnauthorized {
			t.Fatalf("decodeBody(%q) error = %v, want a 4xx *Error", body, err)
		}
	})
}

// FuzzStreamPosition checks Last-Event-ID parsing round-trips.
func FuzzStreamPosition(f *testing.F) {
	for _, seed := range []string{"0-0", "12-345", "-", "1-2-3", "18446744073709551615-1", "a-b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := parseStreamPosition(id, 2)
		if err != nil {
			return
		}
		again, err := parseStreamPosition(p.String(), 2)
		if err != nil || again.String() != p.String() {
			t.Fatalf("position %q -> %q does not round-trip: %v", id, p.String(), err)
		}
	})
}
