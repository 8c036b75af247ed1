package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// streamLimiter counts open streams per user.
type streamLimiter struct {
	max int

	mu   sync.Mutex // mu protects open
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes a stream slot for user; it returns false at the cap.
func (l *streamLimiter) acquire(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[user] >= l.max {
		return false
	}
	l.open[user]++
	return true
}

func (l *streamLimiter) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[user]--
	if l.open[user] <= 0 {
		delete(l.open, user)
	}
}

// sseWriter writes server-sent events and flushes after each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream headers and a first comment, so the client
// sees the stream open before the first event.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if err := s.comment("connected"); err != nil {
		return nil, err
	}
	return s, nil
}

// comment writes ": text" and flushes.
func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// event writes one event with an id (omitted when empty), a name and JSON
// data on a single line, and flushes.
func (s *sseWriter) event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("api: encode %s event: %w", name, err)
	}
	var sb strings.Builder
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("event: " + name + "\n")
	sb.WriteString("data: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	if _, err := s.w.Write([]byte(sb.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamPosition is the resume point of a stream that reads several
// JetStream streams: the last sequence delivered from each, in a fixed
// order. It travels as the SSE id, such as "120-45".
type streamPosition []uint64

func (p streamPosition) String() string {
	parts := make([]string, len(p))
	for i, v := range p {
		parts[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(parts, "-")
}

// parseStreamPosition reads a Last-Event-ID of n sequences.
func parseStreamPosition(s string, n int) (streamPosition, error) {
	parts := strings.Split(s, "-")
	if len(parts) != n {
		return nil, fmt.Errorf("must be %d sequence numbers joined by '-'", n)
	}
	p := make(streamPosition, n)
	for i, part := range parts {
		v, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be %d sequence numbers joined by '-'", n)
		}
		p[i] = v
	}
	return p, nil
}

// lastSeq returns the last sequence stored in a JetStream stream.
func lastSeq(ctx context.Context, b Bus, stream string) (uint64, error) {
	st, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("api: stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("api: stream %s info: %w", stream, err)
	}
	return info.State.LastSeq, nil
}

// replayAfter follows filter from just after seq. Replay cannot express
// "from sequence 1" with afterSeq, so an empty position requests the last
// MaxInt32 messages instead, which starts at the first one.
func replayAfter(ctx context.Context, b Bus, filter string, seq uint64) (<-chan bus.Msg, error) {
	if seq == 0 {
		return b.Replay(ctx, filter, 0, math.MaxInt32)
	}
	return b.Replay(ctx, filter, seq, 0)
}

// streamSource is one JetStream stream feeding an SSE stream.
type streamSource struct {
	stream string
	filter string
}

// liveStream is an SSE stream over several JetStream sources. It takes the
// stream slot and writes the headers only after every check passed, so a
// refused stream gets a plain JSON error before any byte of the stream.
type liveStream struct {
	sources []streamSource
	// snapshot returns the snapshot event data; nil sends none.
	snapshot func(ctx context.Context) (any, error)
	// convert turns a bus message into an event name and data; ok false
	// skips the message.
	convert func(m bus.Msg) (name string, data any, ok bool)
}

// streamRecheckInterval is how often an open stream checks that its
// session is still valid.
const streamRecheckInterval = 10 * time.Second

// serve runs the stream until the client leaves, the server stops or a
// source fails.
func (s *Server) serveStream(c *Call, ls liveStream) (any, error) {
	if s.deps.Bus == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "event bus not connected")
	}
	if _, ok := c.W.(http.Flusher); !ok {
		return nil, Errorf(http.StatusInternalServerError, "streaming not supported by this connection")
	}

	var resume streamPosition
	if id := c.R.Header.Get("Last-Event-ID"); id != "" {
		p, err := parseStreamPosition(id, len(ls.sources))
		if err != nil {
			return nil, fieldError(http.StatusBadRequest, "Last-Event-ID", "%v", err)
		}
		resume = p
	}

	if !s.streams.acquire(c.User.UUID) {
		return nil, Errorf(http.StatusTooManyRequests, "stream limit reached: at most %d open streams per user", s.cfg.SSEMaxPerUser)
	}
	defer s.streams.release(c.User.UUID)

	ctx, cancel := context.WithCancel(c.R.Context())
	defer cancel()

	// Read the positions before the snapshot: an event that lands in
	// between is sent twice rather than never.
	var snapshot any
	pos := resume
	if pos == nil {
		pos = make(streamPosition, len(ls.sources))
		for i, src := range ls.sources {
			seq, err := lastSeq(ctx, s.deps.Bus, src.stream)
			if err != nil {
				return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "event bus unavailable", Cause: err}
			}
			pos[i] = seq
		}
		if ls.snapshot != nil {
			snap, err := ls.snapshot(ctx)
			if err != nil {
				return nil, err
			}
			snapshot = snap
		}
	}

	type tagged struct {
		i int
		m bus.Msg
	}
	merged := make(chan tagged)
	var wg sync.WaitGroup
	for i, src := range ls.sources {
		ch, err := replayAfter(ctx, s.deps.Bus, src.filter, pos[i])
		if err != nil {
			cancel()
			wg.Wait()
			return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "event bus unavailable", Cause: err}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A closed channel means the consumer failed: end the stream
			// so that the client reconnects and resumes.
			defer cancel()
			for m := range ch {
				select {
				case merged <- tagged{i, m}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	sw, err := startSSE(c.W)
	if err != nil {
		return nil, nil
	}
	if snapshot != nil {
		if err := sw.event(pos.String(), "snapshot", snapshot); err != nil {
			return nil, nil
		}
	}

	// A stream outlives the request that opened it, so the session is
	// checked again on a timer: a logout, a disabled account or a password
	// or role change ends the stream.
	opened := time.Now()
	recheck := time.NewTicker(min(s.cfg.KeepaliveInterval, streamRecheckInterval))
	defer recheck.Stop()

	keepalive := time.NewTimer(s.cfg.KeepaliveInterval)
	defer keepalive.Stop()
	for {
		select {
		case <-recheck.C:
			if err := s.deps.Auth.StillValid(ctx, c.User, opened); err != nil {
				s.log.Info("event stream closed: session ended", "user", c.User.Username, "err", err)
				_ = sw.event("", "error", ErrorBody{Detail: "session ended, log in again"})
				return nil, nil
			}
		case <-ctx.Done():
			if c.R.Context().Err() == nil && s.deps.Bus != nil {
				_ = sw.event("", "error", ErrorBody{Detail: "event source ended, reconnect to resume"})
			}
			return nil, nil
		case <-keepalive.C:
			if err := sw.comment("keepalive"); err != nil {
				return nil, nil
			}
			keepalive.Reset(s.cfg.KeepaliveInterval)
		case t := <-merged:
			if t.m.Seq > pos[t.i] {
				pos[t.i] = t.m.Seq
			}
			name, data, ok := ls.convert(t.m)
			if !ok {
				continue
			}
			if err := sw.event(pos.String(), name, data); err != nil {
				return nil, nil
			}
			keepalive.Reset(s.cfg.KeepaliveInterval)
		}
	}
}
