package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series, on a registry of their own so
// that several servers in one process (tests) do not collide.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec   // HTTP requests by route and status
	duration    *prometheus.HistogramVec // HTTP latency by route
	expertCalls *prometheus.CounterVec   // expert calls by expert and status
	expertLat   *prometheus.HistogramVec // expert latency by expert
	tokens      *prometheus.CounterVec   // tokens by expert and kind (prompt, completion)
	routes      *prometheus.CounterVec   // routing decisions by expert ("default" for the null option)
	retrievals  *prometheus.CounterVec   // retrieval path by outcome
	cache       *prometheus.CounterVec   // cache lookups by result
	limited     *prometheus.CounterVec   // requests refused by limits, by reason
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moegate_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"route"}),
		expertCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_expert_requests_total", Help: "Calls to experts by expert and status.",
		}, []string{"expert", "status"}),
		expertLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moegate_expert_latency_seconds", Help: "Expert call latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"expert"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_tokens_total", Help: "Tokens by expert and kind (prompt, completion).",
		}, []string{"expert", "kind"}),
		routes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_routing_decisions_total", Help: "Experts chosen by routing; 'default' when no expert fit.",
		}, []string{"expert"}),
		retrievals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_retrieval_total", Help: "Retrieval path decisions (used, skipped).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_cache_lookups_total", Help: "Response cache lookups by result (exact, semantic, miss, error).",
		}, []string{"result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_rate_limited_total", Help: "Requests refused by rate limits and budgets, by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.expertCalls, m.expertLat, m.tokens, m.routes,
		m.retrievals, m.cache, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
