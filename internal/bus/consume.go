package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one received message.
type Msg struct {
	Subject string

	// Seq is the stream sequence for messages read from JetStream, usable
	// as an SSE event id; 0 for core NATS messages.
	Seq uint64

	// NumDelivered counts deliveries of a JetStream message, so 2 or more
	// means a redelivery; 0 for core NATS messages.
	NumDelivered uint64

	// Data is the raw envelope JSON.
	Data []byte

	jsMsg jetstream.Msg
}

// Envelope decodes Data.
func (m Msg) Envelope() (Envelope, error) {
	return DecodeEnvelope(m.Data)
}

func fromJetStream(jm jetstream.Msg) Msg {
	m := Msg{Subject: jm.Subject(), Data: jm.Data(), jsMsg: jm}
	if md, err := jm.Metadata(); err == nil {
		m.Seq = md.Sequence.Stream
		m.NumDelivered = md.NumDelivered
	}
	return m
}

// Subscription is a core NATS subscription; Unsubscribe ends it.
type Subscription struct {
	sub *nats.Subscription
}

// Unsubscribe stops delivery. Messages already handed to the handler finish.
func (s *Subscription) Unsubscribe() error {
	if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("bus: unsubscribe %s: %w", s.sub.Subject, err)
	}
	return nil
}

// Subscribe delivers live core NATS messages matching subject (wildcards
// allowed) to handler, one at a time on a goroutine owned by the
// subscription. Nothing is replayed: use Replay for stream history.
func (b *Bus) Subscribe(subject string, handler func(Msg)) (*Subscription, error) {
	sub, err := b.nc.Subscribe(subject, func(nm *nats.Msg) {
		handler(Msg{Subject: nm.Subject, Data: nm.Data})
	})
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", subject, err)
	}
	return &Subscription{sub: sub}, nil
}

// BatchHandler processes a batch of stream messages. Returning nil
// acknowledges the whole batch; returning an error makes every message of
// the batch come back later.
type BatchHandler func(ctx context.Context, msgs []Msg) error

// PreparedHandler is a BatchHandler that also receives what the prepare
// function of ConsumePrepared returned for the batch.
type PreparedHandler func(ctx context.Context, msgs []Msg, prepared any) error

// ConsumeConfig configures a durable pull consumer.
type ConsumeConfig struct {
	Stream  string   // required
	Durable string   // consumer name, kept by the server across restarts; required
	Filter  []string // subjects to read; empty reads the whole stream

	Batch   int           // max messages per handler call (default 500)
	Linger  time.Duration // how long to wait to fill a batch after its first message (default 20ms)
	AckWait time.Duration // redelivery delay for unacknowledged messages (default 30s)
	Retry   time.Duration // delay before a failed batch is redelivered (default 1s)
}

// ConsumeEvents runs a durable consumer on EVENTS (service events, log.>)
// for the ingester. See ConsumePrepared for delivery guarantees and for
// what prepare does.
func (b *Bus) ConsumeEvents(ctx context.Context, durable string, batch int, prepare func([]Msg) any, handler PreparedHandler) error {
	return b.ConsumePrepared(ctx, ConsumeConfig{
		Stream:  EventsStream,
		Durable: durable,
		Filter:  []string{FilterAllLogs},
		Batch:   batch,
	}, prepare, handler)
}

// Consume reads a stream through a durable pull consumer and hands batches
// to handler until ctx ends, then returns nil. See ConsumePrepared.
func (b *Bus) Consume(ctx context.Context, cfg ConsumeConfig, handler BatchHandler) error {
	return b.ConsumePrepared(ctx, cfg, nil, func(ctx context.Context, msgs []Msg, _ any) error {
		return handler(ctx, msgs)
	})
}

// ConsumePrepared reads a stream through a durable pull consumer and hands
// batches to handler until ctx ends, then returns nil.
//
// While handler works on one batch, a second goroutine fetches the next
// batch and runs prepare on it, so decoding overlaps the handler's writes.
// prepare may be nil. Handlers run one at a time, in fetch order.
//
// Delivery is at least once. A message is acknowledged only after handler
// returned nil for its batch. After a handler error, a crash or a restart it
// is delivered again, so handlers must be idempotent (the ingester dedupes
// on the envelope id). A message that can never be processed must be
// logged and skipped by the handler, not failed, or it comes back forever.
// Messages that were fetched but not handed over when the process stops
// are returned to the server at once.
func (b *Bus) ConsumePrepared(ctx context.Context, cfg ConsumeConfig, prepare func([]Msg) any, handler PreparedHandler) error {
	if cfg.Stream == "" || cfg.Durable == "" {
		return errors.New("bus: consume: stream and durable name are required")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 20 * time.Millisecond
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}

	cons, err := b.durableConsumer(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Batch * 2))
	if err != nil {
		return fmt.Errorf("bus: consumer %s: start pulling: %w", cfg.Durable, err)
	}
	logger := b.logger.With("stream", cfg.Stream, "consumer", cfg.Durable)

	fetchCtx, stopFetch := context.WithCancel(ctx)
	batches := make(chan fetchedBatch)
	fetchDone := make(chan struct{})
	go fetchBatches(fetchCtx, it, cfg, prepare, batches, fetchDone)
	// Messages the client pulled but never handed to the handler would wait
	// out AckWait before another reader gets them. Returning them at once
	// lets a restarted consumer read them immediately.
	defer func() {
		stopFetch()
		<-fetchDone
		returnBuffered(it)
	}()

	for {
		var f fetchedBatch
		select {
		case f = <-batches:
		case <-ctx.Done():
			return nil
		}
		if f.err != nil {
			nakAll(f.msgs, 0)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bus: consumer %s: %w", cfg.Durable, f.err)
		}
		if ctx.Err() != nil {
			// The select may pick a ready batch after ctx ended: give it
			// back at once instead of handling it with a dead context.
			nakAll(f.msgs, 0)
			return nil
		}

		if err := handler(ctx, f.msgs, f.prepared); err != nil {
			logger.Warn("batch handler failed, messages will be redelivered", "err", err, "messages", len(f.msgs))
			nakAll(f.msgs, cfg.Retry)
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		for _, m := range f.msgs {
			if err := m.jsMsg.Ack(); err != nil {
				logger.Warn("ack failed, message will be redelivered", "err", err, "seq", m.Seq)
			}
		}
	}
}

// fetchedBatch is one batch on its way from fetchBatches to the handler.
type fetchedBatch struct {
	msgs     []Msg
	prepared any
	err      error
}

// fetchBatches fetches and prepares batches until ctx ends or fetching
// fails. The channel is unbuffered, so at most one prepared batch waits
// while the handler works. A batch that cannot be handed over is returned
// to the server.
func fetchBatches(ctx context.Context, it jetstream.MessagesContext, cfg ConsumeConfig, prepare func([]Msg) any, out chan<- fetchedBatch, done chan<- struct{}) {
	defer close(done)

	for {
		msgs, err := nextBatch(ctx, it, cfg.Batch, cfg.Linger)
		f := fetchedBatch{msgs: msgs, err: err}
		if err == nil && prepare != nil {
			f.prepared, f.err = runPrepare(prepare, msgs)
		}

		select {
		case out <- f:
			if f.err != nil {
				return
			}
		case <-ctx.Done():
			nakAll(msgs, 0)
			return
		}
	}
}

// runPrepare calls prepare and returns a panic as an error. A panic on the
// fetch goroutine would end the process, while an error reaches the caller
// of ConsumePrepared like any other consumer failure.
func runPrepare(prepare func([]Msg) any, msgs []Msg) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("prepare panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return prepare(msgs), nil
}

// nakAll negatively acknowledges msgs, so the server delivers them again
// after delay (at once when delay is 0).
func nakAll(msgs []Msg, delay time.Duration) {
	for _, m := range msgs {
		if delay > 0 {
			_ = m.jsMsg.NakWithDelay(delay)
		} else {
			_ = m.jsMsg.Nak()
		}
	}
}

// durableConsumer creates cfg's consumer or updates it to cfg.
//
// Each message is acknowledged on its own (AckExplicit). Under AckAll, a
// later batch's acknowledgement would also cover a failed batch still
// waiting for redelivery, and that batch would be lost. NATS cannot change
// the ack policy of a consumer, so one created with AckAll is deleted and
// created again at its first unacknowledged message.
//
// Several processes may share a durable and start together, so every step
// that loses a race with another process (the consumer appeared, or it
// was already deleted) starts over from the lookup.
func (b *Bus) durableConsumer(ctx context.Context, cfg ConsumeConfig) (jetstream.Consumer, error) {
	want := jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		FilterSubjects: cfg.Filter,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxDeliver:     -1,
		MaxAckPending:  cfg.Batch * 4,
	}

	const attempts = 8
	var err error
	for attempt := range attempts {
		var cons jetstream.Consumer
		cons, err = b.ensureConsumer(ctx, cfg.Stream, want, attempt)
		if err == nil {
			return cons, nil
		}
		if !errors.Is(err, errConsumerRace) {
			break
		}
		if !sleepCtx(ctx, consumerRecheck) {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("bus: consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
}

// consumerRecheck is how long durableConsumer waits before it looks at a
// consumer again after losing a race or finding none.
const consumerRecheck = 100 * time.Millisecond

// sleepCtx waits d and reports false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errConsumerRace marks a step of ensureConsumer that another process got
// to first.
var errConsumerRace = errors.New("consumer changed by another process")

// ensureConsumer makes attempt number attempt of durableConsumer.
func (b *Bus) ensureConsumer(ctx context.Context, stream string, want jetstream.ConsumerConfig, attempt int) (jetstream.Consumer, error) {
	old, err := b.js.Consumer(ctx, stream, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if attempt == 0 {
			// Another process may be between deleting an AckAll consumer
			// and creating its replacement: look again before starting
			// from the first message.
			return nil, errConsumerRace
		}
		// NOTE: a process that stopped between that delete and create
		// leaves no consumer, and so may one whose create failed while
		// another process raced it (the server then fails creates of
		// that name for a while). The next start reads the stream from
		// its first message, which the ingester dedupes on event ids.
		return createConsumer(ctx, b.js, stream, want)
	}
	if err != nil {
		return nil, err
	}

	info := old.CachedInfo()
	if info.Config.AckPolicy == jetstream.AckExplicitPolicy {
		// The start of a consumer cannot change either, so an update
		// keeps it.
		want.DeliverPolicy = info.Config.DeliverPolicy
		want.OptStartSeq = info.Config.OptStartSeq
		cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, want)
		if isCreateRace(err) {
			return nil, fmt.Errorf("%w: %w", errConsumerRace, err)
		}
		return cons, err
	}

	if err := b.js.DeleteConsumer(ctx, stream, want.Durable); err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, errConsumerRace
		}
		return nil, fmt.Errorf("recreate with explicit acks: %w", err)
	}
	want.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
	want.OptStartSeq = info.AckFloor.Stream + 1
	cons, err := createConsumer(ctx, b.js, stream, want)
	if err == nil {
		b.logger.Warn("recreated consumer with explicit acknowledgements",
			"stream", stream, "consumer", want.Durable, "start_seq", want.OptStartSeq)
	}
	return cons, err
}

// createConsumer creates a consumer that must not exist yet and reports
// errConsumerRace when another process created it first.
func createConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	cons, err := js.CreateConsumer(ctx, stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) || isCreateRace(err) {
		return nil, fmt.Errorf("%w: %w", errConsumerRace, err)
	}
	return cons, err
}

// isCreateRace reports the generic create failure the server returns when
// another client changes the same consumer at the same moment.
func isCreateRace(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeConsumerCreate
}

// returnBuffered stops pulling and negatively acknowledges every message
// still in the client's buffer, so the server redelivers them without delay.
func returnBuffered(it jetstream.MessagesContext) {
	it.Drain()
	for {
		m, err := it.Next(jetstream.NextMaxWait(100 * time.Millisecond))
		if err != nil {
			break
		}
		_ = m.Nak()
	}
	it.Stop()
}

// nextBatch blocks for the first message, then collects more until the
// batch is full or linger has passed since the first message.
func nextBatch(ctx context.Context, it jetstream.MessagesContext, size int, linger time.Duration) ([]Msg, error) {
	first, err := it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, err
	}
	batch := make([]Msg, 0, size)
	batch = append(batch, fromJetStream(first))

	fill, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	for len(batch) < size {
		m, err := it.Next(jetstream.NextContext(fill))
		if err != nil {
			// A timeout ends the batch; any other error shows up again on
			// the next blocking Next.
			break
		}
		batch = append(batch, fromJetStream(m))
	}
	return batch, nil
}

// Replay streams messages matching filter from the stream that stores it,
// through an ordered (ephemeral, in-order, gap-free) consumer, and then
// follows new messages live. The channel closes when ctx ends or the
// consumer fails.
//
// afterSeq > 0 starts after that stream sequence, which is how an SSE
// client resumes with Last-Event-ID. Otherwise lastN > 0 starts at most
// lastN messages back, and both 0 deliver only new messages.
func (b *Bus) Replay(ctx context.Context, filter string, afterSeq uint64, lastN int) (<-chan Msg, error) {
	stream := StreamFor(filter)
	if stream == "" {
		return nil, fmt.Errorf("bus: replay %s: subject is not stored in a stream", filter)
	}

	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case afterSeq > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = afterSeq + 1
	case lastN > 0:
		st, err := b.js.Stream(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("bus: replay %s: stream %s: %w", filter, stream, err)
		}
		last := st.CachedInfo().State.LastSeq
		// NOTE: the start is counted over the whole stream, so a narrow
		// filter gets fewer than lastN messages back.
		start := uint64(1)
		if last >= uint64(lastN) {
			start = last - uint64(lastN) + 1
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}

	cons, err := b.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("bus: replay %s: %w", filter, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("bus: replay %s: %w", filter, err)
	}

	out := make(chan Msg, 64)
	go func() {
		defer close(out)
		defer it.Stop()
		for {
			jm, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() == nil {
					b.logger.Warn("replay consumer stopped", "filter", filter, "err", err)
				}
				return
			}
			select {
			case out <- fromJetStream(jm):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
