package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/decnet/decnet/internal/decky/driver"
)

// RetryPolicy governs how engine calls that fail with a transient error are
// retried. Permanent errors (bad arguments, missing objects, refused
// permissions, name conflicts) are never retried.
type RetryPolicy struct {
	// Attempts is the total number of tries. Default 3.
	Attempts int
	// Delay is the wait before the second try; it doubles after each try.
	// Default 500ms.
	Delay time.Duration
	// MaxDelay caps the wait between tries. Default 5s.
	MaxDelay time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 3
	}
	if p.Delay <= 0 {
		p.Delay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Second
	}
	return p
}

// permanent reports whether err will fail again however often it is
// retried.
func permanent(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	case cerrdefs.IsInvalidArgument(err), cerrdefs.IsNotFound(err), cerrdefs.IsPermissionDenied(err),
		cerrdefs.IsUnauthorized(err), cerrdefs.IsNotImplemented(err), cerrdefs.IsAlreadyExists(err):
		return true
	case cerrdefs.IsConflict(err):
		// A removal still in progress clears by itself; a name taken by
		// another container does not.
		return !strings.Contains(err.Error(), "in progress")
	}
	return false
}

// retry runs fn until it succeeds, fails permanently, runs out of attempts
// or ctx ends. what names the call in the returned error.
func (d *Driver) retry(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	p := d.opts.Retry
	delay := p.Delay

	var err error
	for attempt := 1; ; attempt++ {
		err = fn(ctx)
		if err == nil {
			return nil
		}
		if permanent(err) || attempt >= p.Attempts {
			break
		}
		d.log.Warn("docker call failed, retrying", "call", what, "attempt", attempt, "err", err)

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, engineErr(err))
		case <-t.C:
		}
		delay = min(delay*2, p.MaxDelay)
	}
	return fmt.Errorf("%s: %w", what, engineErr(err))
}

// engineErr marks errors that mean the engine could not be reached at all,
// so callers can tell "no deckies" from "cannot know".
func engineErr(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: %w", driver.ErrUnreachable, err)
	}
	return err
}
