package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	// EventsStream keeps service events (log.>) until the ingester has
	// stored them, so an ingester that is down loses nothing.
	EventsStream = "EVENTS"

	// BusStream keeps the domain events that SSE clients resume from with
	// Last-Event-ID and that durable workers consume.
	BusStream = "BUS"
)

// eventsSubjects and busSubjects are the subjects each stream captures.
// system.> is in neither: heartbeats and control requests are ephemeral
// core NATS messages.
var (
	eventsSubjects = []string{FilterAllLogs}
	busSubjects    = []string{
		FilterAllAttacker, FilterAllCredential, FilterAllIdentity,
		FilterAllCampaign, FilterAllCanary, FilterAllDecky,
		RootOrchestrator + ".>",
	}
)

// StreamLimits sets the retention of the two streams. When a limit is hit
// the oldest messages are dropped.
type StreamLimits struct {
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	BusMaxAge      time.Duration
	BusMaxBytes    int64

	// DuplicateWindow is how long the server remembers message ids to drop
	// a retried publish; both streams use it.
	DuplicateWindow time.Duration
}

// DefaultStreamLimits are the limits used for zero fields of StreamLimits.
var DefaultStreamLimits = StreamLimits{
	EventsMaxAge:    7 * 24 * time.Hour,
	EventsMaxBytes:  4 << 30,
	BusMaxAge:       24 * time.Hour,
	BusMaxBytes:     1 << 30,
	DuplicateWindow: 2 * time.Minute,
}

func (l StreamLimits) withDefaults() StreamLimits {
	d := DefaultStreamLimits
	if l.EventsMaxAge == 0 {
		l.EventsMaxAge = d.EventsMaxAge
	}
	if l.EventsMaxBytes == 0 {
		l.EventsMaxBytes = d.EventsMaxBytes
	}
	if l.BusMaxAge == 0 {
		l.BusMaxAge = d.BusMaxAge
	}
	if l.BusMaxBytes == 0 {
		l.BusMaxBytes = d.BusMaxBytes
	}
	if l.DuplicateWindow == 0 {
		l.DuplicateWindow = d.DuplicateWindow
	}
	return l
}

// StreamConfigs returns the stream configurations decnet creates.
func StreamConfigs(limits StreamLimits) []jetstream.StreamConfig {
	l := limits.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        EventsStream,
			Description: "decnet service events (log.<decky>.<service>) awaiting ingestion",
			Subjects:    eventsSubjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardOld,
			MaxAge:      l.EventsMaxAge,
			MaxBytes:    l.EventsMaxBytes,
			MaxMsgSize:  1 << 20,
			Duplicates:  l.DuplicateWindow,
			Replicas:    1,
		},
		{
			Name:        BusStream,
			Description: "decnet domain events for live streams and durable workers",
			Subjects:    busSubjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardOld,
			MaxAge:      l.BusMaxAge,
			MaxBytes:    l.BusMaxBytes,
			MaxMsgSize:  1 << 20,
			Duplicates:  l.DuplicateWindow,
			Replicas:    1,
		},
	}
}

// EnsureStreams creates the EVENTS and BUS streams, or updates them when
// their configuration changed. StartServer calls it; a deployment on an
// external NATS server calls it once at setup.
func EnsureStreams(ctx context.Context, nc *nats.Conn, limits StreamLimits) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("bus: jetstream context: %w", err)
	}
	for _, cfg := range StreamConfigs(limits) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: create or update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// StreamFor returns the stream that stores subject, or "" for subjects that
// only travel over core NATS (system.>).
func StreamFor(subject string) string {
	root, _, _ := strings.Cut(subject, ".")
	switch root {
	case RootLog:
		return EventsStream
	case RootAttacker, RootCredential, RootIdentity, RootCampaign, RootCanary, RootDecky, RootOrchestrator:
		return BusStream
	}
	return ""
}
