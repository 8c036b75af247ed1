package bus

import "github.com/prometheus/client_golang/prometheus"

// MetricsCollector returns a collector exporting PublishFailures as
// decnet_bus_publish_failures_total, labelled with the connection name.
// The caller registers it; the bus never touches a global registry.
func (b *Bus) MetricsCollector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "decnet_bus_publish_failures_total",
		Help:        "Bus publishes that failed (not stored or not acknowledged) since the process started.",
		ConstLabels: prometheus.Labels{"conn": b.name},
	}, func() float64 { return float64(b.PublishFailures()) })
}
