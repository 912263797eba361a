package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the pipeline's Prometheus series.
type metrics struct {
	expertCalls *prometheus.CounterVec   // expert calls by expert and status
	expertLat   *prometheus.HistogramVec // expert latency by expert
	tokens      *prometheus.CounterVec   // tokens by expert and kind (prompt, completion)
	routes      *prometheus.CounterVec   // routing decisions by expert ("default" for the null option)
	retrievals  *prometheus.CounterVec   // retrieval path by outcome
	cache       *prometheus.CounterVec   // cache lookups by result
	limited     *prometheus.CounterVec   // requests refused by limits, by reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
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
			Name: "moegate_retrieval_total", Help: "Retrieval path decisions (used, skipped, empty).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_cache_lookups_total", Help: "Response cache lookups by result (exact, semantic, miss, error).",
		}, []string{"result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_rate_limited_total", Help: "Requests refused by rate limits and budgets, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.expertCalls, m.expertLat, m.tokens, m.routes, m.retrievals, m.cache, m.limited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
