package auth

import (
	"sync"
	"time"
)

// Login limits: at most MaxFailures failed logins per username and per
// source address within FailureWindow.
const (
	MaxFailures   = 10
	FailureWindow = 5 * time.Minute
)

// maxLimiterKeys bounds the memory of one FailureLimiter. When it is
// reached, keys whose failures are all outside the window are dropped
// first, then arbitrary keys.
const maxLimiterKeys = 100_000

// FailureLimiter counts failures per key in a sliding window. It is safe for
// concurrent use. The counts live in process memory, so each API process
// limits on its own.
type FailureLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex // mu protects failures
	failures map[string][]time.Time
}

// NewFailureLimiter returns a limiter that allows max failures per key
// within window. now is the clock; nil means time.Now.
func NewFailureLimiter(max int, window time.Duration, now func() time.Time) *FailureLimiter {
	if now == nil {
		now = time.Now
	}
	return &FailureLimiter{max: max, window: window, now: now, failures: map[string][]time.Time{}}
}

// Blocked reports whether key has used up its failures and, if so, how long
// until the oldest one leaves the window.
func (l *FailureLimiter) Blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()

	now := l.now()
	times := l.prune(key, now)
	if len(times) < l.max {
		return false, 0
	}
	return true, times[0].Add(l.window).Sub(now)
}

// Fail records one failure for key.
func (l *FailureLimiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()

	now := l.now()
	times := l.prune(key, now)
	if len(times) == 0 && len(l.failures) >= maxLimiterKeys {
		l.evict(now)
	}
	times = append(times, now)
	if len(times) > l.max {
		times = times[len(times)-l.max:]
	}
	l.failures[key] = times
}

// Reset forgets the failures of key.
func (l *FailureLimiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// prune drops failures of key older than the window. Callers hold mu.
func (l *FailureLimiter) prune(key string, now time.Time) []time.Time {
	times := l.failures[key]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= l.window {
		i++
	}
	if i == len(times) {
		delete(l.failures, key)
		return nil
	}
	times = times[i:]
	l.failures[key] = times
	return times
}

// evict makes room for one key. Callers hold mu.
func (l *FailureLimiter) evict(now time.Time) {
	for k, times := range l.failures {
		if now.Sub(times[len(times)-1]) >= l.window {
			delete(l.failures, k)
		}
	}
	for k := range l.failures {
		if len(l.failures) < maxLimiterKeys {
			break
		}
		delete(l.failures, k)
	}
}
