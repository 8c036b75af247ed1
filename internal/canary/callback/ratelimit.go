package callback

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter is a per-source token bucket with bounded memory. Each source
// address may record Burst hits at once and RatePerSecond on average. At
// most MaxSources buckets are kept; when the table is full a bucket that
// has refilled completely is dropped, or failing that an arbitrary one, so
// a flood of spoofed sources cannot grow memory.
type Limiter struct {
	rate       float64
	burst      float64
	maxSources int
	now        func() time.Time

	mu      sync.Mutex // protects buckets
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter. A rate of zero or less disables limiting.
func NewLimiter(ratePerSecond float64, burst, maxSources int, now func() time.Time) *Limiter {
	if burst < 1 {
		burst = 1
	}
	if maxSources < 1 {
		maxSources = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: ratePerSecond, burst: float64(burst), maxSources: maxSources, now: now,
		buckets: make(map[netip.Addr]*bucket)}
}

// Allow takes one token from src's bucket and reports whether it had one.
func (l *Limiter) Allow(src netip.Addr) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	now := l.now()

	l.mu.Lock()
	defer l.mu.Unlock()

	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= l.maxSources {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[src] = b
	}

	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict removes one bucket, preferring one that is full again. Map
// iteration order is random, so the scan is bounded and fair.
func (l *Limiter) evict(now time.Time) {
	const scan = 64
	var victim netip.Addr
	i := 0
	for addr, b := range l.buckets {
		victim = addr
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			break
		}
		i++
		if i >= scan {
			break
		}
	}
	delete(l.buckets, victim)
}

// Len returns the number of sources tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
