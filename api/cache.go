package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
)

// cacheKeys scope a request's cache entries: the policy scope (which
// experts and data may contribute), the experts the router chose and the
// passages retrieved, the model asked for, every sampling parameter and the
// conversation. So an answer is never served to a request that excludes
// what produced it, nor to one the router now sends elsewhere.
func cacheKeys(call *chatCall, p *plan) (scopeKey, exactKey string) {
	var routed, passages []string
	for _, c := range p.candidates {
		routed = append(routed, c.Name)
	}
	for _, ps := range p.info.Retrieval.Passages {
		passages = append(passages, ps.Chunk)
	}
	r := policies.CacheRequest{Model: call.model, MaxTokens: call.req.MaxTokens, Stop: call.req.Stop, Seed: call.req.Seed,
		Extra: fmt.Sprintf("aggregate=%s routed=%q passages=%q format=%s", p.strategy, routed, passages, call.req.ResponseFormat)}
	if t := call.req.Temperature; t != nil {
		r.Temperature = new(float64(*t))
	}
	if tp := call.req.TopP; tp != nil {
		r.TopP = new(float64(*tp))
	}
	for _, m := range call.req.Messages {
		r.Messages = append(r.Messages, policies.CacheMessage{Role: m.Role, Content: m.Content})
	}
	return policies.CacheKeys(p.scope, r)
}

// serveFromCache answers from the cache when it can. Cache failures are
// logged and treated as misses.
func (s *Server) serveFromCache(ctx context.Context, c *gin.Context, call *chatCall, p *plan, scopeKey, exactKey string) (bool, error) {
	entry, hit, ok, err := s.deps.Cache.Get(ctx, scopeKey, exactKey, p.vec)
	switch {
	case err != nil:
		s.metrics.cache.WithLabelValues("error").Inc()
		s.log.WarnContext(ctx, "cache lookup failed", "request_id", p.info.RequestID, "err", err)
		return false, nil
	case !ok:
		s.metrics.cache.WithLabelValues("miss").Inc()
		return false, nil
	}
	s.metrics.cache.WithLabelValues(hit.Kind).Inc()
	p.info.Cache = cacheInfo{Hit: true, Kind: hit.Kind, Similarity: hit.Similarity}
	p.info.Experts = []expertCall{}
	for _, name := range entry.Experts {
		p.info.Experts = append(p.info.Experts, expertCall{Name: name, Status: "cached"})
	}
	out := aggregate.Outcome{Answered: entry.Model, Response: &experts.Response{
		Content: entry.Content, FinishReason: entry.FinishReason,
		Usage: experts.Usage{PromptTokens: entry.Usage.PromptTokens, CompletionTokens: entry.Usage.CompletionTokens},
	}}
	c.Header("X-Moegate-Route", p.info.header())
	if call.stream {
		sw := newStreamWriter(c, p.info, call.includeUsage, entry.Model)
		if err := sw.delta(experts.Delta{Content: entry.Content}); err != nil {
			return true, nil
		}
		sw.finish(out)
	} else {
		c.JSON(http.StatusOK, completion(p.info, out))
	}
	return true, nil
}

func (s *Server) storeInCache(ctx context.Context, p *plan, scopeKey, exactKey string, out aggregate.Outcome) {
	if out.Response == nil || out.Response.Content == "" || len(out.Response.ToolCalls) > 0 {
		return
	}
	var names []string
	for _, call := range out.Calls {
		if call.Status == "ok" {
			names = append(names, call.Name)
		}
	}
	e := policies.Entry{Content: out.Response.Content, FinishReason: out.Response.FinishReason, Experts: names, Model: out.Answered,
		Usage:     policies.CacheUsage{PromptTokens: out.Response.Usage.PromptTokens, CompletionTokens: out.Response.Usage.CompletionTokens},
		CreatedAt: time.Now()}
	if err := s.deps.Cache.Put(context.WithoutCancel(ctx), scopeKey, exactKey, p.vec, e); err != nil {
		s.log.WarnContext(ctx, "cache store failed", "request_id", p.info.RequestID, "err", err)
	}
}
