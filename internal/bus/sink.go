package bus

import "github.com/decnet/decnet/internal/services"

// EventSink publishes service events on log.<decky>.<service> without
// waiting for the JetStream acknowledgement. Emit returns no error. When
// DefaultAsyncMaxPending acknowledgements are outstanding it waits up to the
// nats.go stall wait (200 ms in v1.56.0) and then drops the event, which is
// logged (rate-limited) and counted in PublishFailures.
type EventSink struct {
	b *Bus
}

// EventSink returns a services.Sink that publishes on this Bus.
func (b *Bus) EventSink() *EventSink { return &EventSink{b: b} }

// Emit implements services.Sink.
func (s *EventSink) Emit(e services.Event) {
	subject, err := Log(e.Decky, e.Service)
	if err != nil {
		s.b.recordFailure("log.?", err)
		return
	}
	if err := s.b.PublishAsync(subject, TypeServiceEvent, e); err != nil {
		s.b.recordFailure(subject, err)
	}
}

var _ services.Sink = (*EventSink)(nil)
