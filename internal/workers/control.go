package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/decnet/decnet/internal/bus"
)

// Control actions.
const (
	ActionStop    = "stop"
	ActionRestart = "restart"
)

// TypeControl is the envelope type of a control request.
const TypeControl = "control"

// maxControlBytes caps a control message; anything on the bus can publish
// one, so it is read as untrusted input.
const maxControlBytes = 4096

// ControlRequest is the payload published on system.<worker>.control.
type ControlRequest struct {
	Action      string    `json:"action"`
	RequestedBy string    `json:"requested_by,omitempty"`
	TS          time.Time `json:"ts,omitempty"`
}

// ParseControl reads a control request either wrapped in a bus envelope or
// as a bare JSON object such as {"action":"stop"}.
func ParseControl(data []byte) (ControlRequest, error) {
	if len(data) > maxControlBytes {
		return ControlRequest{}, fmt.Errorf("control request of %d bytes exceeds %d", len(data), maxControlBytes)
	}

	var probe struct {
		Payload json.RawMessage `json:"payload"`
		ControlRequest
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return ControlRequest{}, fmt.Errorf("decode control request: %w", err)
	}
	req := probe.ControlRequest
	if len(probe.Payload) > 0 {
		req = ControlRequest{}
		if err := json.Unmarshal(probe.Payload, &req); err != nil {
			return ControlRequest{}, fmt.Errorf("decode control request payload: %w", err)
		}
	}
	if req.Action == "" {
		return ControlRequest{}, errors.New("control request has no action")
	}
	return req, nil
}

// SendControl publishes a control request for worker (the API's stop
// route). Unlike heartbeats the error is returned, so the caller can report
// that the bus is unavailable.
func SendControl(ctx context.Context, b Bus, worker, action, requestedBy string) error {
	subject, err := bus.SystemControl(worker)
	if err != nil {
		return err
	}
	req := ControlRequest{Action: action, RequestedBy: requestedBy, TS: time.Now().UTC()}
	if err := b.Publish(ctx, subject, TypeControl, req); err != nil {
		return fmt.Errorf("send %s to worker %s: %w", action, worker, err)
	}
	return nil
}

// ListenControl subscribes to system.<worker>.control and calls handle for
// every well-formed request. Malformed requests are logged at debug level
// and dropped. handle runs on the subscription's goroutine and must not
// block.
func ListenControl(b Bus, worker string, logger *slog.Logger, handle func(ControlRequest)) (*bus.Subscription, error) {
	subject, err := bus.SystemControl(worker)
	if err != nil {
		return nil, err
	}
	return b.Subscribe(subject, func(m bus.Msg) {
		req, err := ParseControl(m.Data)
		if err != nil {
			logger.Debug("control request dropped", "worker", worker, "err", err)
			return
		}
		handle(req)
	})
}
