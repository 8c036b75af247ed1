package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// sseFrame is one parsed server-sent event or comment.
type sseFrame struct {
	id, event, data, comment string
}

type sseClient struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
	frames chan sseFrame
}

// openStream connects to path with an optional bearer token and
// Last-Event-ID, and returns the response (body unread) for non-200.
func (h *harness) openStream(path, token, lastID string) (*sseClient, *http.Response) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.http.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Cleanup(cancel)
		return nil, resp
	}

	c := &sseClient{t: h.t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel, frames: make(chan sseFrame, 64)}
	go c.readLoop()
	h.t.Cleanup(c.close)
	return c, resp
}

func (c *sseClient) readLoop() {
	defer close(c.frames)
	var f sseFrame
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			c.frames <- f
			f = sseFrame{}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			f.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			f.data = line[6:]
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
	for range c.frames {
	}
}

// next returns the next frame that satisfies match, failing after 10 s.
func (c *sseClient) next(what string, match func(sseFrame) bool) sseFrame {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("stream ended while waiting for %s", what)
			}
			if match(f) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %s within 10s", what)
		}
	}
}

func isEvent(name string) func(sseFrame) bool {
	return func(f sseFrame) bool { return f.event == name }
}

func publishServiceEvent(t *testing.T, b *bus.Bus, id, decky string) {
	t.Helper()
	subject, err := bus.Log(decky, "ssh")
	if err != nil {
		t.Fatalf("bus.Log: %v", err)
	}
	ev := services.Event{ID: id, Time: time.Now().UTC(), Decky: decky, Service: "ssh", Kind: services.KindAuthAttempt, SrcIP: "203.0.113.9"}
	if err := b.Publish(context.Background(), subject, bus.TypeServiceEvent, ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func TestEventStream(t *testing.T) {
	h := newHarness(t, harnessOptions{withBus: true, keepalive: 300 * time.Millisecond})
	ctx := context.Background()

	_, err := h.store.IngestBatch(ctx, []sqlstore.Observation{{Event: services.Event{
		ID: "stored-1", Time: time.Now().UTC(), Decky: "decky-01", Service: "ssh", Kind: services.KindConnect, SrcIP: "198.51.100.7",
	}}})
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}

	// A ticket opens the stream without a header, once.
	resp, body := h.do("POST", "/api/v1/auth/stream-ticket", h.viewerToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("stream-ticket: %d %s", resp.StatusCode, body)
	}
	var tr TicketResponse
	decodeJSON(t, body, &tr)
	if tr.ExpiresIn != 60 {
		t.Errorf("ticket expires_in = %d, want 60", tr.ExpiresIn)
	}

	stream, _ := h.openStream("/api/v1/events/stream?ticket="+tr.Ticket, "", "")
	if stream == nil {
		t.Fatalf("stream with ticket refused")
	}
	if got := stream.resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", got)
	}
	if _, resp := h.openStream("/api/v1/events/stream?ticket="+tr.Ticket, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reused ticket: status %d, want 401", resp.StatusCode)
	}

	t.Run("snapshot", func(t *testing.T) {
		f := stream.next("snapshot", isEvent("snapshot"))
		var snap EventsSnapshot
		decodeJSON(t, []byte(f.data), &snap)
		if len(snap.Logs) != 1 || snap.Logs[0].EventID != "stored-1" {
			t.Errorf("snapshot logs = %+v, want the stored event", snap.Logs)
		}
		if len(snap.Attackers) != 1 || snap.Attackers[0].IP != "198.51.100.7" {
			t.Errorf("snapshot attackers = %+v, want 198.51.100.7", snap.Attackers)
		}
		if f.id != "0-0" {
			t.Errorf("snapshot id = %q, want 0-0 (empty streams)", f.id)
		}
	})

	var lastID string
	t.Run("live service event", func(t *testing.T) {
		publishServiceEvent(t, h.bus, "live-1", "decky-01")
		f := stream.next("service event", isEvent("service"))
		var ev StreamEvent
		decodeJSON(t, []byte(f.data), &ev)
		if ev.Kind != services.KindAuthAttempt || ev.Subject != "log.decky-01.ssh" || ev.Seq != 1 {
			t.Errorf("event = %+v, want auth_attempt on log.decky-01.ssh seq 1", ev)
		}
		if f.id != "1-0" {
			t.Errorf("event id = %q, want 1-0", f.id)
		}
		lastID = f.id
	})

	t.Run("own publish", func(t *testing.T) {
		// The API's own bus connection publishes, and the stream still delivers it.
		h.server.deps.Bus.PublishSafely(ctx, bus.AttackerObserved, "attacker.observed", map[string]any{"ip": "198.51.100.7", "deckies": []string{"decky-01"}})
		f := stream.next("attacker event", isEvent("attacker"))
		var ev StreamEvent
		decodeJSON(t, []byte(f.data), &ev)
		if ev.Kind != bus.AttackerObserved {
			t.Errorf("attacker event kind = %q, want %q", ev.Kind, bus.AttackerObserved)
		}
		if f.id != "1-1" {
			t.Errorf("event id = %q, want 1-1", f.id)
		}
		lastID = f.id
	})

	t.Run("keepalive", func(t *testing.T) {
		stream.next("keepalive comment", func(f sseFrame) bool { return f.comment == "keepalive" })
	})

	t.Run("per-user cap", func(t *testing.T) {
		for i := 0; i < DefaultSSEMaxPerUser-1; i++ {
			if c, resp := h.openStream("/api/v1/events/stream", h.viewerToken, ""); c == nil {
				t.Fatalf("stream %d refused with %d", i+2, resp.StatusCode)
			}
		}
		c, resp := h.openStream("/api/v1/events/stream", h.viewerToken, "")
		if c != nil {
			t.Fatalf("sixth stream accepted, want 429")
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sixth stream: status %d, want 429", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("429 Content-Type = %q, want application/json", ct)
		}
		var e ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || !strings.Contains(e.Detail, "at most 5") {
			t.Errorf("429 body = %+v, %v, want a detail naming the cap", e, err)
		}
		// Another user is not affected.
		if c, resp := h.openStream("/api/v1/events/stream", h.adminToken, ""); c == nil {
			t.Errorf("admin stream refused with %d", resp.StatusCode)
		}
	})

	t.Run("resume with Last-Event-ID", func(t *testing.T) {
		stream.close()
		publishServiceEvent(t, h.bus, "missed-1", "decky-02")

		resumed, resp := h.openStream("/api/v1/events/stream", h.adminToken, lastID)
		if resumed == nil {
			t.Fatalf("resume refused with %d", resp.StatusCode)
		}
		f := resumed.next("missed event", func(f sseFrame) bool { return f.event != "" })
		if f.event != "service" {
			t.Fatalf("first event after resume = %q, want service (no snapshot)", f.event)
		}
		var ev StreamEvent
		decodeJSON(t, []byte(f.data), &ev)
		if ev.Seq != 2 || !strings.Contains(string(ev.Payload), "missed-1") {
			t.Errorf("resumed event = seq %d payload %s, want seq 2 missed-1", ev.Seq, ev.Payload)
		}
	})

	t.Run("decky filter", func(t *testing.T) {
		filtered, resp := h.openStream("/api/v1/events/stream?decky=decky-03", h.adminToken, "2-1")
		if filtered == nil {
			t.Fatalf("filtered stream refused with %d", resp.StatusCode)
		}
		publishServiceEvent(t, h.bus, "other-1", "decky-02")
		publishServiceEvent(t, h.bus, "mine-1", "decky-03")
		f := filtered.next("filtered event", isEvent("service"))
		if !strings.Contains(f.data, "mine-1") {
			t.Errorf("filtered stream sent %s, want only decky-03 events", f.data)
		}
	})

	t.Run("bad Last-Event-ID", func(t *testing.T) {
		_, resp := h.openStream("/api/v1/events/stream", h.adminToken, "garbage")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
}

func TestEventStreamEndsWithSession(t *testing.T) {
	tests := []struct {
		name string
		end  func(h *harness, token string)
	}{
		{"logout", func(h *harness, token string) {
			if resp, body := h.do("POST", "/api/v1/auth/logout", token, nil); resp.StatusCode >= 300 {
				t.Fatalf("logout: %d %s", resp.StatusCode, body)
			}
		}},
		{"disabled", func(h *harness, _ string) {
			admin := h.login("admin", adminPassword)
			if resp, body := h.do("PATCH", "/api/v1/users/"+h.viewerUUID, admin, map[string]any{"disabled": true}); resp.StatusCode >= 300 {
				t.Fatalf("disable: %d %s", resp.StatusCode, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{withBus: true, keepalive: 200 * time.Millisecond})
			token := h.login("viewer", viewerPassword)
			stream, resp := h.openStream("/api/v1/events/stream", token, "")
			if stream == nil {
				t.Fatalf("stream refused: %d", resp.StatusCode)
			}
			defer stream.close()
			stream.next("snapshot", isEvent("snapshot"))

			tt.end(h, token)
			f := stream.next("session end", isEvent("error"))
			if !strings.Contains(f.data, "session ended") {
				t.Errorf("error event = %q, want the session-ended detail", f.data)
			}
		})
	}
}

func TestPasswordChangeRejectsSamePassword(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	token := h.login("viewer", viewerPassword)
	resp, body := h.do("POST", "/api/v1/auth/password", token, map[string]string{"current_password": viewerPassword, "new_password": viewerPassword})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "new_password") {
		t.Errorf("same password change = %d %s, want 422 naming new_password", resp.StatusCode, body)
	}
}
