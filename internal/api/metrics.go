package api

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the API's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
}

// countCacheTTL bounds how often a scrape counts table rows.
const countCacheTTL = 10 * time.Second

func newMetrics(reg *prometheus.Registry, deps Deps) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "decnet_api_http_requests_total",
			Help: "HTTP requests served by the API, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "decnet_api_http_request_duration_seconds",
			Help:    "Time to serve an API request, by route pattern. Event streams count once they end.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "decnet_api_handler_panics_total",
			Help: "API handler panics recovered and returned as status 500.",
		}),
	}

	attackers := cachedCount(deps.Store.CountAttackers)
	events := cachedCount(deps.Store.CountLogs)
	cs := []prometheus.Collector{
		m.requests, m.duration, m.panics,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "decnet_attackers",
			Help: "Attacker rows in the database (refreshed at most every 10 s).",
		}, attackers),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "decnet_events_ingested",
			Help: "Service events stored in the logs table (refreshed at most every 10 s).",
		}, events),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if mc, ok := deps.Bus.(interface{ MetricsCollector() prometheus.Collector }); ok {
		cs = append(cs, mc.MetricsCollector())
	}

	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// The process already exports it (another worker in the
				// same process registered the Go or bus collector).
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(r *Route, status int, d time.Duration) {
	m.requests.WithLabelValues(r.Path, r.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(r.Path).Observe(d.Seconds())
}

// cachedCount wraps a row count for a GaugeFunc: at most one query per
// countCacheTTL, two seconds at most each, and -1 when the query fails.
func cachedCount(count func(context.Context) (int, error)) func() float64 {
	var (
		mu   sync.Mutex
		last time.Time
		val  float64
	)
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < countCacheTTL {
			return val
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		val, last = float64(n), time.Now()
		return val
	}
}
