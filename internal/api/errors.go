package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/store"
)

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Detail string `json:"detail"`
	// ErrorID names the log line of an internal error (status 500 only).
	ErrorID string `json:"error_id,omitempty"`
}

// Error is an error with the HTTP status and the client-facing detail it
// maps to. Cause, when set, is logged but never sent.
type Error struct {
	Status     int
	Detail     string
	Cause      error
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Detail, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Detail)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with the given status and formatted detail.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// InvalidRequest marks err as a problem with the request content, so the
// API responds 422 with err's text as the detail. Dependencies such as the fleet
// deployer use it for input they reject.
func InvalidRequest(err error) error {
	return &Error{Status: http.StatusUnprocessableEntity, Detail: err.Error(), Cause: err}
}

// fieldError reports an invalid request field; the detail names it.
func fieldError(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Detail: field + ": " + fmt.Sprintf(format, args...)}
}

// errUnauthorized is the one detail every authentication failure shows.
const detailUnauthorized = "not authenticated"

// classify maps any error a handler returns to an *Error. This switch is the
// only place where error kinds become statuses.
func classify(err error) *Error {
	var apiErr *Error
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &rl):
		return &Error{Status: http.StatusTooManyRequests, Detail: "too many failed logins, try again later", RetryAfter: rl.RetryAfter, Cause: err}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Detail: detailUnauthorized, Cause: err}
	case errors.Is(err, auth.ErrSamePassword):
		return &Error{Status: http.StatusUnprocessableEntity, Detail: "new_password: must differ from the current password", Cause: err}
	case errors.Is(err, auth.ErrWeakPassword):
		return &Error{Status: http.StatusUnprocessableEntity, Detail: "password: must be 12 to 72 bytes long", Cause: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Detail: "not found", Cause: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Detail: conflictDetail(err), Cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Detail: "timed out, try again", Cause: err}
	default:
		return &Error{Status: http.StatusInternalServerError, Detail: "internal server error", Cause: err}
	}
}

// conflictDetail keeps the store's explanation of a conflict ("user "x"
// already exists: store: conflict") without the package prefix.
func conflictDetail(err error) string {
	msg := err.Error()
	suffix := ": " + store.ErrConflict.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)]
	}
	return "conflict"
}

// writeError sends err as {"detail": ...}. A 500 gets an error id that is
// also logged with the cause; other statuses log the cause at debug level.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := classify(err)
	body := ErrorBody{Detail: e.Detail}

	switch {
	case e.Status >= 500:
		body.ErrorID = uuid.NewString()
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "error_id", body.ErrorID, "err", err)
	case e.Cause != nil:
		log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", e.Cause)
	}

	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="decnet"`)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)+1))
	}
	writeJSON(w, e.Status, body)
}

// writeJSON sends v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
