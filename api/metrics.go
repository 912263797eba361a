package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/moegate/moegate/internal/series"
)

// metrics are the HTTP layer's Prometheus series; the pipeline's are
// package gateway's, on the same registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // HTTP requests by route and status
	duration *prometheus.HistogramVec // HTTP latency by route
	refused  *prometheus.CounterVec   // 503s for load, by cap
	served   *series.Memo[routeStatus, servedSeries]
}

type routeStatus struct {
	route  string
	status int
}

type servedSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// count records a served request.
func (m *metrics) count(route string, status int, seconds float64) {
	ss := m.served.Get(routeStatus{route, status})
	ss.requests.Inc()
	ss.duration.Observe(seconds)
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moegate_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"route"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_http_refused_total", Help: "Requests and connections refused with 503 because a cap (connections, in_flight) was reached.",
		}, []string{"cap"}),
	}
	m.served = series.New(func(k routeStatus) servedSeries {
		return servedSeries{requests: m.requests.WithLabelValues(k.route, strconv.Itoa(k.status)), duration: m.duration.WithLabelValues(k.route)}
	})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
