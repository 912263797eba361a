package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moegate/moegate/internal/series"
)

// metrics are the pipeline's Prometheus series, each vector's children
// kept once looked up (series.Memo): a routed request is counted in six
// of them.
type metrics struct {
	expertCalls   *series.Memo[[2]string, prometheus.Counter] // expert calls by expert and status
	expertLat     *series.Memo[string, prometheus.Observer]   // expert latency by expert
	tokens        *series.Memo[string, tokenSeries]           // tokens by expert and kind (prompt, completion)
	routes        *series.Memo[string, prometheus.Counter]    // routing decisions by expert ("default" for the null option)
	retrievals    *series.Memo[string, prometheus.Counter]    // retrieval path by outcome
	cache         *series.Memo[string, prometheus.Counter]    // cache lookups by result
	embedFailures *series.Memo[string, prometheus.Counter]    // queries not embedded, by reason
	limited       *prometheus.CounterVec                      // requests refused by limits, by reason
}

// tokenSeries are an expert's token counters.
type tokenSeries struct{ prompt, completion prometheus.Counter }

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	expertCalls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_expert_requests_total", Help: "Calls to experts by expert and status.",
	}, []string{"expert", "status"})
	expertLat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "moegate_expert_latency_seconds", Help: "Expert call latency.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
	}, []string{"expert"})
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_tokens_total", Help: "Tokens by expert and kind (prompt, completion).",
	}, []string{"expert", "kind"})
	routes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_routing_decisions_total", Help: "Experts chosen by routing; 'default' when no expert fit.",
	}, []string{"expert"})
	retrievals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_retrieval_total", Help: "Retrieval path decisions (used, skipped, empty, failed).",
	}, []string{"result"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_cache_lookups_total", Help: "Response cache lookups by result (exact, semantic, miss, error).",
	}, []string{"result"})
	embedFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moegate_query_embedding_failures_total", Help: "Queries the embedder did not embed (failed, timeout, skipped while it cools down); they go on without the vector.",
	}, []string{"reason"})
	m := &metrics{
		expertCalls: series.New(func(k [2]string) prometheus.Counter { return expertCalls.WithLabelValues(k[0], k[1]) }),
		expertLat:   series.New(func(name string) prometheus.Observer { return expertLat.WithLabelValues(name) }),
		tokens: series.New(func(name string) tokenSeries {
			return tokenSeries{tokens.WithLabelValues(name, "prompt"), tokens.WithLabelValues(name, "completion")}
		}),
		routes:        series.New(func(name string) prometheus.Counter { return routes.WithLabelValues(name) }),
		retrievals:    series.New(func(result string) prometheus.Counter { return retrievals.WithLabelValues(result) }),
		cache:         series.New(func(result string) prometheus.Counter { return cache.WithLabelValues(result) }),
		embedFailures: series.New(func(reason string) prometheus.Counter { return embedFailures.WithLabelValues(reason) }),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moegate_rate_limited_total", Help: "Requests refused by rate limits and budgets, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{expertCalls, expertLat, tokens, routes, retrievals, cache, embedFailures, m.limited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
