package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store"
)

// StreamEvent is the data of one live event on /api/v1/events/stream.
type StreamEvent struct {
	Subject string          `json:"subject"`
	Kind    string          `json:"kind"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	TS      time.Time       `json:"ts"`
	Seq     uint64          `json:"seq"`
	Payload json.RawMessage `json:"payload"`
}

// EventsSnapshot is the first event of /api/v1/events/stream: the newest
// stored service events and attackers that match the filters.
type EventsSnapshot struct {
	Logs      []store.LogEntry `json:"logs"`
	Attackers []store.Attacker `json:"attackers"`
}

func (s *Server) eventsGroup() RouteGroup {
	return RouteGroup{Name: "events", Routes: []Route{{
		Method: "GET", Path: "/api/v1/events/stream", Role: Viewer, Stream: true,
		Summary: "Live service events and attacker updates (server-sent events). " +
			"Authenticate with a bearer header or ?ticket= from POST /api/v1/auth/stream-ticket. " +
			"The first event is a snapshot of the newest 50 items; then `service` and `attacker` events follow, " +
			"each with an id to resume from through Last-Event-ID.",
		Query: []Param{
			{Name: "decky", Type: ParamString, Max: 256, Description: "Only events of this decky."},
			{Name: "kind", Type: ParamString, Max: 1024, Description: "Comma list of kinds: service event kinds such as auth_attempt, or attacker subjects such as attacker.observed."},
			{Name: "ticket", Type: ParamString, Max: 128, Description: "Single-use stream ticket, for clients that cannot send headers."},
		},
		Response: StreamEvent{},
		Handle:   s.handleEventStream,
	}}}
}

func (s *Server) handleEventStream(c *Call) (any, error) {
	decky := c.QueryString("decky")
	var kinds []string
	for _, k := range strings.Split(c.QueryString("kind"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, k)
		}
	}

	logFilter := bus.FilterAllLogs
	if decky != "" {
		f, err := bus.LogFilter(decky)
		if err != nil {
			return nil, fieldError(400, "decky", "invalid decky name")
		}
		logFilter = f
	}

	return s.serveStream(c, liveStream{
		sources: []streamSource{
			{stream: bus.EventsStream, filter: logFilter},
			{stream: bus.BusStream, filter: bus.FilterAllAttacker},
		},
		snapshot: func(ctx context.Context) (any, error) {
			return s.eventsSnapshot(ctx, decky, kinds)
		},
		convert: func(m bus.Msg) (string, any, bool) {
			return convertEvent(m, decky, kinds)
		},
	})
}

func (s *Server) eventsSnapshot(ctx context.Context, decky string, kinds []string) (EventsSnapshot, error) {
	snap := EventsSnapshot{Logs: []store.LogEntry{}, Attackers: []store.Attacker{}}
	page := store.Page{Limit: DefaultSnapshotSize}

	wantLogs := len(kinds) == 0 || slices.ContainsFunc(kinds, func(k string) bool { return !strings.HasPrefix(k, bus.RootAttacker+".") })
	if wantLogs {
		f := store.LogFilter{Decky: decky}
		if len(kinds) == 1 {
			f.Kind = kinds[0]
		}
		logs, _, err := s.deps.Store.ListLogs(ctx, f, page)
		if err != nil {
			return snap, err
		}
		for _, l := range logs {
			if len(kinds) == 0 || slices.Contains(kinds, l.Kind) {
				snap.Logs = append(snap.Logs, l)
			}
		}
	}

	wantAttackers := len(kinds) == 0 || slices.ContainsFunc(kinds, func(k string) bool { return strings.HasPrefix(k, bus.RootAttacker+".") })
	if wantAttackers {
		attackers, _, err := s.deps.Store.ListAttackers(ctx, store.AttackerFilter{Decky: decky}, page)
		if err != nil {
			return snap, err
		}
		snap.Attackers = append(snap.Attackers, attackers...)
	}
	return snap, nil
}

// convertEvent turns a bus message into a `service` or `attacker` event,
// applying the decky and kind filters. Undecodable messages are skipped.
func convertEvent(m bus.Msg, decky string, kinds []string) (string, any, bool) {
	env, err := m.Envelope()
	if err != nil {
		return "", nil, false
	}
	ev := StreamEvent{Subject: m.Subject, Type: env.Type, ID: env.ID, TS: env.TS, Seq: m.Seq, Payload: env.Payload}

	name := "service"
	if strings.HasPrefix(m.Subject, bus.RootAttacker+".") {
		name = "attacker"
		ev.Kind = m.Subject
		if decky != "" && !payloadMentionsDecky(env.Payload, decky) {
			return "", nil, false
		}
	} else {
		var p struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(env.Payload, &p)
		ev.Kind = p.Kind
	}

	if len(kinds) > 0 && !slices.Contains(kinds, ev.Kind) {
		return "", nil, false
	}
	return name, ev, true
}

// payloadMentionsDecky reports whether an attacker payload names decky in
// a "decky" field or a "deckies" list.
func payloadMentionsDecky(raw json.RawMessage, decky string) bool {
	var p struct {
		Decky   string   `json:"decky"`
		Deckies []string `json:"deckies"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return false
	}
	return p.Decky == decky || slices.Contains(p.Deckies, decky)
}
