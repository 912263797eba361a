package api

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the HTTP layer's Prometheus series; the pipeline's are
// package gateway's, on the same registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // HTTP requests by route and status
	duration *prometheus.HistogramVec // HTTP latency by route
	refused  *prometheus.CounterVec   // 503s for load, by cap
	// served holds each route and status's series once looked up,
	// copied on write (a handful of pairs, added once each): finding
	// them by label values hashed the labels on every request.
	served   atomic.Pointer[map[routeStatus]servedSeries]
	servedMu sync.Mutex // serialises additions to served
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
	k := routeStatus{route, status}
	ss, ok := servedSeries{}, false
	if p := m.served.Load(); p != nil {
		ss, ok = (*p)[k]
	}
	if !ok {
		ss = m.add(k)
	}
	ss.requests.Inc()
	ss.duration.Observe(seconds)
}

func (m *metrics) add(k routeStatus) servedSeries {
	m.servedMu.Lock()
	defer m.servedMu.Unlock()
	old := map[routeStatus]servedSeries{}
	if p := m.served.Load(); p != nil {
		old = *p
	}
	if ss, ok := old[k]; ok {
		return ss
	}
	next := maps.Clone(old)
	ss := servedSeries{requests: m.requests.WithLabelValues(k.route, strconv.Itoa(k.status)), duration: m.duration.WithLabelValues(k.route)}
	next[k] = ss
	m.served.Store(&next)
	return ss
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
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
