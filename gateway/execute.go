package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/jsonobj"
	"github.com/moegate/moegate/policies"
)

// Result is a finished request: the answer, who gave it and the moegate
// object, complete with every expert's call.
type Result struct {
	Info     *Info
	Response *experts.Response
	// Answered names the expert whose answer Response is.
	Answered string
}

// Execute asks the planned experts, or the cache, for the answer. When
// onDelta is not nil the answer is streamed to it as it arrives; nothing
// is sent before the first piece, so a failure before it can still be
// reported as an error status. A plan is executed once: the result is
// stored in it.
func (g *Gateway) Execute(ctx context.Context, p *Plan, onDelta func(experts.Delta) error) (*Result, error) {
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > g.opts.RequestTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.opts.RequestTimeout)
		defer cancel()
	}
	g.remember(ctx, p)
	g.offer(p)

	use := g.cacheDecision(p)
	var scopeKey, exactKey string
	if use.lookup || use.store {
		scopeKey, exactKey = p.cacheKeys(&g.keys)
		if p.cacheVec == nil {
			p.cacheVec = policies.NewVector(p.vec)
		}
	}
	if use.lookup {
		if res, ok := g.fromCache(ctx, p, scopeKey, exactKey, onDelta); ok {
			return res, nil
		}
	}

	opts := aggregate.Options{Strategy: p.strategy, Retries: g.opts.Retries, Logger: g.log,
		FirstByteTimeout: g.opts.FirstByteTimeout, HedgeDelay: g.opts.HedgeDelay}
	if g.deps.Health != nil {
		opts.Health = g.deps.Health
	}
	if p.strategy == aggregate.Synthesize && len(p.candidates) > 1 {
		if syn, ok := g.synthesizer(p); ok {
			opts.Synthesizer = &syn
		}
	}
	var out aggregate.Outcome
	var err error
	if onDelta != nil {
		out, err = aggregate.RunStream(ctx, p.candidates, p.chat, opts, onDelta)
	} else {
		out, err = aggregate.Run(ctx, p.candidates, p.chat, opts)
	}
	g.recordCalls(p.Info, out)
	p.Info.AnsweredBy = out.Answered
	p.Info.FallbackReason = out.FallbackReason
	if out.Answered != "" && out.FallbackReason == "" && len(p.Info.Route.Experts) > 0 && out.Answered != p.Info.Route.Experts[0].Name && p.strategy != aggregate.Synthesize {
		p.Info.FallbackReason = p.skipped
	}
	if err != nil {
		g.accountCut(ctx, p, out)
		p.result = Result{Info: p.Info}
		return &p.result, g.upstreamError(ctx, err)
	}
	g.account(ctx, p.req.Tenant, out)
	if use.store {
		g.storeInCache(ctx, p, scopeKey, exactKey, out)
	}
	p.result = Result{Info: p.Info, Response: out.Response, Answered: out.Answered}
	return &p.result, nil
}

// synthesizer is the configured aggregator expert, when the request may use it.
func (g *Gateway) synthesizer(p *Plan) (aggregate.Candidate, bool) {
	name := g.opts.Synthesizer
	if name == "" {
		name = g.opts.DefaultExpert
	}
	e, ok := p.snap.Get(name)
	if !p.scope.Allows(name) || !ok {
		return aggregate.Candidate{}, false
	}
	return aggregate.Candidate{Name: name, Weight: 1, Expert: e.Expert}, true
}

func (g *Gateway) recordCalls(info *Info, out aggregate.Outcome) {
	info.Experts = make([]ExpertCall, 0, len(out.Calls))
	for _, call := range out.Calls {
		if call.FallbackFor != "" && call.Status == aggregate.StatusSkipped {
			continue // a stand-in that was not needed
		}
		info.Experts = append(info.Experts, call)
		g.metrics.expertCalls.Get([2]string{call.Name, call.Status}).Inc()
		switch call.Status {
		case aggregate.StatusOK, aggregate.StatusError, aggregate.StatusTimeout:
			g.metrics.expertLat.Get(call.Name).Observe(call.LatencyMS / 1000)
		}
	}
}

// account records token usage against the tenant's limits and budget, on
// the request's context minus its deadline so that a slow limiter never
// cuts the record short.
func (g *Gateway) account(ctx context.Context, t policies.Tenant, out aggregate.Outcome) {
	if out.Response == nil {
		return
	}
	// Every call that answered consumed tokens, used or not (synthesize,
	// parallel-best), so budgets count them all.
	u := out.Usage
	if u == (experts.Usage{}) {
		u = out.Response.Usage
	}
	ts := g.metrics.tokens.Get(out.Answered)
	ts.prompt.Add(float64(u.PromptTokens))
	ts.completion.Add(float64(u.CompletionTokens))
	if err := g.deps.Limiter.Record(context.WithoutCancel(ctx), t, out.Answered, u.Total()); err != nil {
		g.log.WarnContext(ctx, "recording usage failed", "tenant", t.Name, "err", err)
	}
}

// accountCut bills a run that failed: the answers of calls that finished
// (parallel-best, synthesize), and the part of a stream that reached the
// client before it was cut, by the client or the upstream. An upstream
// reports usage only at the end of a stream, so the sent part is estimated
// from its length (about 4 bytes a token) and the prompt from the
// conversation's.
func (g *Gateway) accountCut(ctx context.Context, p *Plan, out aggregate.Outcome) {
	u := out.Usage
	name := ""
	for _, c := range out.Calls {
		if c.Attempts > 0 {
			name = c.Name // the last expert asked: the one that streamed
		}
	}
	if sent := out.Delivered; sent > 0 {
		prompt := 0
		for _, m := range p.chat.Messages {
			prompt += len(m.Content)
		}
		u.PromptTokens += estimateTokens(prompt)
		u.CompletionTokens += estimateTokens(sent)
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if u.Total() == 0 || name == "" {
		return
	}
	ts := g.metrics.tokens.Get(name)
	ts.prompt.Add(float64(u.PromptTokens))
	ts.completion.Add(float64(u.CompletionTokens))
	if err := g.deps.Limiter.Record(context.WithoutCancel(ctx), p.req.Tenant, name, u.Total()); err != nil {
		g.log.WarnContext(ctx, "recording usage failed", "tenant", p.req.Tenant.Name, "err", err)
	}
}

// estimateTokens is a rough token count of n bytes of text.
func estimateTokens(n int) int { return (n + 3) / 4 }

// upstreamError classifies an aggregation failure: the client going away,
// a timeout, an invalid request, or an expert that failed.
func (g *Gateway) upstreamError(ctx context.Context, err error) error {
	var ae *aggregate.Error
	isAggregate := errors.As(err, &ae)
	if errors.Is(ctx.Err(), context.Canceled) {
		// Whatever the experts said, the client left first: 499, never 502.
		return errs.E(errs.Canceled, "The client closed the request.").WithCode("client_closed_request")
	}
	if isAggregate && errors.Is(ae.Err, aggregate.ErrEjected) {
		e := &errs.Error{Kind: errs.Unavailable, Code: "expert_unavailable",
			Err: fmt.Errorf("Expert '%s' is out of rotation after repeated failures; retry later.", ae.Expert)}
		if g.deps.Health != nil {
			e.RetryAfter = max(time.Second, g.deps.Health.RetryIn(ae.Expert))
		}
		return e
	}
	if isAggregate && !ae.Timeout && !errs.Is(err, errs.Canceled) {
		// An expert that classified its failure (an upstream's 4xx passed
		// on, 429 with its Retry-After, an answer too large) already
		// wrote the message for the client, naming itself.
		if ee, ok := errors.AsType[*errs.Error](ae.Err); ok && ee.Kind != errs.Internal {
			return ee
		}
	}
	// The client is told what failed in general terms (the full error,
	// with upstream text and addresses, is in the log and the metrics).
	switch {
	case errs.Is(err, errs.Invalid):
		return err
	case errs.Is(err, errs.Canceled):
		return errs.E(errs.Canceled, "The client closed the request.").WithCode("client_closed_request")
	case isAggregate && ae.Timeout:
		return errs.E(errs.Timeout, "Expert '%s' did not answer in time: %s.", ae.Expert, aggregate.Reason(ae.Err)).WithCode("expert_timeout")
	case isAggregate:
		return errs.E(errs.UpstreamFailed, "Expert '%s' failed: %s.", ae.Expert, aggregate.Reason(ae.Err)).WithCode("expert_failed")
	case errs.Is(err, errs.Timeout):
		return errs.E(errs.Timeout, "The request deadline passed before an expert answered.").WithCode("expert_timeout")
	}
	return fmt.Errorf("aggregate: %w", err)
}

// fromCache answers from the cache when it can. Cache failures are logged
// and count as misses.
func (g *Gateway) fromCache(ctx context.Context, p *Plan, scopeKey, exactKey string, onDelta func(experts.Delta) error) (*Result, bool) {
	entry, hit, ok, err := g.deps.Cache.Get(ctx, scopeKey, exactKey, p.cacheVec)
	switch {
	case err != nil:
		g.metrics.cache.Get("error").Inc()
		g.log.WarnContext(ctx, "cache lookup failed", "request_id", p.Info.RequestID, "err", err)
		return nil, false
	case !ok:
		g.metrics.cache.Get("miss").Inc()
		return nil, false
	}
	g.metrics.cache.Get(hit.Kind).Inc()
	p.Info.Cache.Hit, p.Info.Cache.Kind, p.Info.Cache.Similarity = true, hit.Kind, hit.Similarity
	p.Info.Experts = []ExpertCall{}
	for _, name := range entry.Experts {
		p.Info.Experts = append(p.Info.Experts, ExpertCall{Name: name, Status: aggregate.StatusCached})
	}
	p.cacheHit = experts.Response{
		Content: entry.Content, FinishReason: entry.FinishReason,
		Usage: experts.Usage{PromptTokens: entry.Usage.PromptTokens, CompletionTokens: entry.Usage.CompletionTokens},
	}
	p.result = Result{Info: p.Info, Answered: entry.Model, Response: &p.cacheHit}
	res := &p.result
	if onDelta != nil {
		// A client that went away is not an error of the cache.
		_ = onDelta(experts.Delta{Content: entry.Content})
	}
	return res, true
}

// cacheKeys scope a request's cache entries: the policy scope (which
// experts and data may contribute), the experts the router chose and the
// passages retrieved, the model asked for, every sampling parameter and the
// conversation. So an answer is never served to a request that excludes
// what produced it, nor to one the router now sends elsewhere.
func (p *Plan) cacheKeys(k *policies.CacheKeyer) (scopeKey, exactKey string) {
	// Extra reads as fmt's "aggregate=%s routed=%q passages=%q format=%s
	// params=%s" would write it, without its allocations.
	chat := p.req.Chat
	extra := make([]byte, 0, 256)
	extra = append(extra, "aggregate="...)
	extra = append(extra, p.strategy...)
	extra = append(extra, " routed=["...)
	n := 0
	for _, c := range p.candidates {
		if c.FallbackFor == "" {
			extra = appendQuotedItem(extra, c.Name, n)
			n++
		}
	}
	extra = append(extra, "] passages=["...)
	for i, ps := range p.Info.Retrieval.Passages {
		extra = appendQuotedItem(extra, ps.Chunk, i)
	}
	extra = append(extra, "] format="...)
	extra = append(extra, chat.ResponseFormat...)
	extra = append(extra, " params="...)
	if !p.req.BareBody {
		extra = append(extra, otherParams(chat.Body)...)
	}
	r := policies.CacheRequest{Model: p.req.Model, MaxTokens: chat.MaxTokens, Stop: chat.Stop, Seed: chat.Seed, Extra: string(extra)}
	if t := chat.Temperature; t != nil {
		r.Temperature = new(float64(*t))
	}
	if tp := chat.TopP; tp != nil {
		r.TopP = new(float64(*tp))
	}
	// On the stack for a short conversation (a growing slice was an
	// allocation a request): Keys keeps none of it.
	var msgs [4]policies.CacheMessage
	r.Messages = msgs[:0]
	for _, m := range chat.Messages {
		r.Messages = append(r.Messages, policies.CacheMessage{Role: m.Role, Content: m.Content})
	}
	return k.Keys(p.scope, r)
}

// appendQuotedItem appends the i-th item of a list as fmt's %q of a
// []string writes it.
func appendQuotedItem(b []byte, item string, i int) []byte {
	if i > 0 {
		b = append(b, ' ')
	}
	return strconv.AppendQuote(b, item)
}

func (g *Gateway) storeInCache(ctx context.Context, p *Plan, scopeKey, exactKey string, out aggregate.Outcome) {
	if out.Response == nil || out.Response.Content == "" || len(out.Response.ToolCalls) > 0 || p.Info.FallbackReason != "" {
		return // a stand-in's answer must not outlive the outage it covered
	}
	var names []string
	for _, call := range out.Calls {
		if call.Status == aggregate.StatusOK {
			names = append(names, call.Name)
		}
	}
	e := policies.Entry{Content: out.Response.Content, FinishReason: out.Response.FinishReason, Experts: names, Model: out.Answered,
		Usage:     policies.CacheUsage{PromptTokens: out.Response.Usage.PromptTokens, CompletionTokens: out.Response.Usage.CompletionTokens},
		CreatedAt: time.Now()}
	if err := g.deps.Cache.Put(context.WithoutCancel(ctx), scopeKey, exactKey, p.cacheVec, e); err != nil {
		g.log.WarnContext(ctx, "cache store failed", "request_id", p.Info.RequestID, "err", err)
	}
}

// otherParams lists, sorted, the members of a client's body beyond the
// conversation and the gateway's own: any parameter, known or not
// (logprobs, logit_bias, penalties...), may change the answer, so each is
// part of the cache key.
func otherParams(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var params []string
	err := jsonobj.Members(body, func(key, value, _ []byte) {
		switch string(key) {
		case "model", "messages", "moegate", "stream", "stream_options", "user":
			return
		}
		params = append(params, string(key)+"="+string(value))
	})
	if err != nil {
		return "unparsed:" + string(body)
	}
	slices.Sort(params)
	return strings.Join(params, "\x00")
}
