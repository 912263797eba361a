package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// Plan is everything decided about a request before any expert is called:
// the dry run of a request.
type Plan struct {
	Info *Info

	req        *Request
	routed     routed
	scope      policies.Scope
	vec        []float32
	cacheVec   *policies.Vector // vec as the cache takes it, once for lookup and store
	features   router.Features  // the router's features of the query, when shared with vec
	lent       *[]float32       // vec's pooled storage until routed (see embedQuery), or nil
	unembedded bool             // the embedder failed: the request goes on without vec
	candidates []aggregate.Candidate
	strategy   aggregate.Strategy
	chat       *experts.Request // with retrieved passages when retrieval is used
	decision   *router.Decision // the router's, for routed requests
	snap       *experts.Snapshot
	// skipped says why a chosen expert was left out after routing
	// (ejected meanwhile), for the fallback reason.
	skipped string

	needs     experts.Needs // what the request asks of its experts
	lacked    []string      // experts that could not serve it, and why
	lackParam string        // the request parameter they could not honour

	// The storage of Info, decision and the usual one or two candidates,
	// and of Execute's result (a cached answer's response too), so that a
	// plan is one allocation, not six.
	info     Info
	decided  router.Decision
	candArr  [2]aggregate.Candidate
	result   Result
	cacheHit experts.Response
}

// Admit applies the tenant's rate limits and budget. The decision is
// returned either way, for the caller's rate-limit headers.
func (g *Gateway) Admit(ctx context.Context, t policies.Tenant) (policies.Decision, error) {
	d, err := g.deps.Limiter.Allow(ctx, t)
	if err != nil {
		// Limits must not take the gateway down; the failover limiter
		// already degrades to in-process limits, so this is unexpected.
		g.log.ErrorContext(ctx, "rate limiter failed; request admitted", "tenant", t.Name, "err", err)
		return policies.Decision{Allowed: true}, nil
	}
	if d.Allowed {
		return d, nil
	}
	g.metrics.limited.WithLabelValues(d.Reason).Inc()
	code := "rate_limit_exceeded"
	if d.Reason == policies.ReasonBudget {
		code = "insufficient_quota"
	}
	return d, &errs.Error{Kind: errs.RateLimited, Code: code, RetryAfter: d.RetryAfter,
		Err: fmt.Errorf("Rate limit reached for tenant %s (%s). Retry after %s.", t.Name, d.Reason, d.RetryAfter.Round(time.Second))}
}

// Plan decides who answers req and with what prompt, without calling any
// expert.
func (g *Gateway) Plan(ctx context.Context, req *Request) (*Plan, error) {
	return g.plan(ctx, req, g.metrics)
}

// plan is Plan counting its decisions in m.
func (g *Gateway) plan(ctx context.Context, req *Request, m *metrics) (*Plan, error) {
	p := &Plan{req: req, chat: req.Chat, routed: routedText(req.Chat.Messages), needs: experts.NeedsOf(req.Chat)}
	p.info = Info{RequestID: req.ID, Tenant: req.Tenant.Name, Excluded: []Excluded{}, Notes: g.opts.Notes}
	info := &p.info
	p.Info = info
	p.candidates = p.candArr[:0]

	snap, infos := g.snapshot()
	p.snap = snap
	p.scope = policies.Resolve(req.Tenant, req.Ext.OptOut, infos, g.opts.DefaultExpert)
	for _, e := range p.scope.Excluded {
		info.Excluded = append(info.Excluded, Excluded{Name: e.Name, Reason: e.Reason})
	}
	info.ExcludedData = p.scope.ExcludedData
	if err := p.scope.Err(); err != nil {
		return nil, (&errs.Error{Kind: errs.PermissionDenied, Err: err}).WithCode("no_expert_allowed")
	}

	strategy, err := aggregate.ParseStrategy(req.Ext.Aggregate)
	if err != nil {
		return nil, errs.Param("moegate.aggregate", "%w", err)
	}
	if req.Ext.Aggregate == "" {
		if strategy, err = aggregate.ParseStrategy(req.Tenant.DefaultAggregate); err != nil || req.Tenant.DefaultAggregate == "" {
			strategy = g.opts.Aggregate
		}
	}
	p.strategy = strategy
	info.Aggregate = string(strategy)

	mode := req.Ext.Retrieval
	if mode == "" {
		mode = policies.RetrievalAuto
	}
	info.Retrieval.Mode = mode

	// The vector serves routing, the semantic cache and retrieval. A query
	// without a word ("???", an emoji) has nothing to search or route by:
	// a follow-up is routed by the conversation's last worded turn, and
	// with none the default expert answers.
	text, noWords := p.routed.query, !hasWords(p.routed.query)
	if noWords {
		text = ""
		for _, h := range slices.Backward(p.routed.history) {
			if hasWords(h) {
				text = h
				break
			}
		}
	}
	if text != "" {
		// The router reads the query's own text: its features can come
		// with the vector only when that is what was embedded.
		forRouter := req.Model == experts.ReservedName && !noWords
		if p.vec, p.features, p.cacheVec, p.lent, err = g.embedQuery(ctx, text, forRouter); err != nil {
			// An embedder that failed or stalled does not take the gateway
			// down: without the vector a request skips the semantic cache
			// and retrieval, and a routed one goes to the default expert
			// when the router reads the vector (otherwise it routes from
			// the text), the moegate object saying why. Only a request
			// that asked for retrieval fails.
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case mode == policies.RetrievalAlways && g.deps.Retrieval != nil:
				return nil, errs.E(errs.UpstreamFailed, "Embedding the query failed: %w", err).WithCode("embedding_failed")
			}
			p.unembedded = true
			m.embedFailures.Get(embedFailure(err)).Inc()
			if !errors.Is(err, embed.ErrSkipped) {
				g.log.WarnContext(ctx, "embedding the query failed; going on without its vector", "request_id", req.ID, "err", err)
			}
		}
	}

	var hits []retrieval.Hit
	var searchFailed error // the search failed, and the request goes on without passages
	if g.deps.Retrieval != nil && mode != policies.RetrievalNever && !noWords && p.vec != nil {
		// A store over the network bounds its own searches (Postgres:
		// retrieval.timeout). A failed search leaves a request whose
		// retrieval is "auto" without passages, the moegate object saying
		// why; one that asked for "always" fails.
		hits, err = g.deps.Retrieval.Search(ctx, p.vec, g.opts.RetrievalTopK, retrieval.Filter{
			ExcludeDataOwners: p.scope.ExcludedData, OnlyDataOwners: p.scope.AllowedData,
		})
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case mode == policies.RetrievalAlways:
			return nil, errs.E(errs.UpstreamFailed, "Searching the retrieval store failed: %w", err).WithCode("retrieval_failed")
		default:
			g.log.WarnContext(ctx, "retrieval search failed; answering without passages", "request_id", req.ID, "err", err)
			hits, searchFailed = nil, err
		}
	}

	decision := &p.decided
	switch {
	case req.Model == experts.ReservedName && (text == "" || p.unembedded && g.routerReadsVector):
		why := "the query has no words to route by"
		if text != "" {
			why = "the embedder failed or did not answer in time, and the router routes on its vectors"
		}
		if !p.scope.DefaultAllowed {
			return nil, errs.E(errs.PermissionDenied, "Routing is not possible (%s), and the policies of this request exclude the default expert.", why).WithCode("no_expert_allowed")
		}
		*decision = router.Decision{Router: "none", Default: true, DefaultReason: why,
			Experts: []router.Choice{{Name: g.opts.DefaultExpert, Weight: 1}}}
	case req.Model == experts.ReservedName:
		*decision, err = g.route(ctx, p, hits)
		if p.lent != nil {
			// Routed: nothing reads the vector embedQuery lent any more.
			g.shared.releaseVec(p.lent)
			p.vec, p.lent = nil, nil
		}
		if err != nil {
			return nil, err
		}
		p.decision = decision
	default:
		err := g.direct(req.Model, p)
		if p.lent != nil {
			// Nothing but retrieval, done, reads the vector of a request by
			// name (the cache's Vector keeps none of it).
			g.shared.releaseVec(p.lent)
			p.vec, p.lent = nil, nil
		}
		if err != nil {
			return nil, err
		}
		*decision = router.Decision{Router: "direct", Experts: []router.Choice{{Name: req.Model, Weight: 1}}}
	}
	info.Route = RouteInfo{Router: decision.Router, Version: decision.Version, Model: req.Model, Experts: decision.Experts,
		Probabilities: decision.Probabilities, Default: decision.Default, DefaultReason: decision.DefaultReason, Override: info.Route.Override}

	for _, ch := range decision.Experts {
		e, ok := p.snap.Get(ch.Name)
		if !ok || !e.Ready() {
			continue // removed or broken since routing; its weight goes to the others
		}
		if req.Model == experts.ReservedName && g.deps.Health != nil {
			if ej, why := g.deps.Health.Ejected(ch.Name); ej {
				info.Excluded = append(info.Excluded, Excluded{Name: ch.Name, Reason: why})
				p.skipped = cmp.Or(p.skipped, fmt.Sprintf("%q ejected: %s", ch.Name, why))
				continue
			}
		}
		p.candidates = append(p.candidates, aggregate.Candidate{Name: ch.Name, Weight: ch.Weight, Expert: e.Expert})
		m.routes.Get(ch.Name).Inc()
	}
	if decision.Default {
		m.routes.Get("default").Inc()
	}
	g.addFallbacks(p, *decision, req.Model == experts.ReservedName)
	if len(p.candidates) == 0 {
		return nil, errs.E(errs.Unavailable, "No expert is available to answer this request.").WithCode("no_expert_available")
	}

	useRetrieval := mode == policies.RetrievalAlways || (mode == policies.RetrievalAuto && decision.Retrieve)
	switch {
	case searchFailed != nil:
		info.Retrieval.Reason = "the retrieval store failed or did not answer in time; answered without passages"
		m.retrievals.Get("failed").Inc()
	case p.unembedded && mode != policies.RetrievalNever && g.deps.Retrieval != nil:
		info.Retrieval.Reason = "the embedder failed or did not answer in time; answered without passages"
		m.retrievals.Get("failed").Inc()
	case noWords:
		info.Retrieval.Reason = "the query has no words to search with"
		m.retrievals.Get("skipped").Inc()
	case !useRetrieval && mode == policies.RetrievalNever:
		info.Retrieval.Reason = "disabled by request"
		m.retrievals.Get("skipped").Inc()
	case !useRetrieval:
		info.Retrieval.Reason = "retrieval gate did not fire"
		m.retrievals.Get("skipped").Inc()
	case g.deps.Retrieval == nil:
		info.Retrieval.Reason = "no retrieval store configured"
	default:
		p.chat = g.ground(req.Chat, hits, info, g.contextTokens(p), m)
	}
	return p, nil
}

// route asks the router which experts answer an "auto" request. Only the
// request's own top_k/top_p travel in the query: the router applies its
// configured defaults, so an explicit top_k beats a configured top_p.
func (g *Gateway) route(ctx context.Context, p *Plan, hits []retrieval.Hit) (router.Decision, error) {
	defaultLacks := g.lacks(g.opts.DefaultExpert, p)
	if defaultLacks != nil && p.scope.DefaultAllowed {
		p.skip(g.opts.DefaultExpert, defaultLacks)
	}
	candidates := make([]string, 0, len(p.scope.Allowed))
	for _, name := range p.scope.Allowed {
		if name == g.opts.DefaultExpert {
			continue
		}
		if g.deps.Health != nil {
			// Ejected experts are not offered to the router, so the weight
			// goes to the others and top_k still counts healthy experts.
			if ej, why := g.deps.Health.Ejected(name); ej {
				p.Info.Excluded = append(p.Info.Excluded, Excluded{Name: name, Reason: why})
				continue
			}
		}
		if l := g.lacks(name, p); l != nil {
			p.skip(name, l)
			continue
		}
		candidates = append(candidates, name)
	}
	q := router.Query{Text: p.routed.query, History: p.routed.history, System: p.routed.system, Vector: p.vec, Features: p.features, Candidates: candidates,
		TopK: p.scope.ClampK(p.req.Ext.TopK), TopP: p.req.Ext.TopP}
	if len(hits) > 0 {
		q.RetrievalScore = hits[0].Score
	}
	rctx := ctx
	if g.routerReadsVector && g.queries != g.deps.Embedder {
		// A router on the embedder's vectors embeds more of a long
		// message or a conversation itself: bounded as the query was.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, g.opts.EmbedTimeout)
		defer cancel()
	}
	d, err := g.deps.Router.Route(rctx, q)
	// Routers read the features only while routing.
	g.shared.release(p.features)
	p.features = router.Features{}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return d, ctx.Err()
	default:
		// A router that cannot decide (its embedder failed, its model is
		// unusable) leaves the query to the default expert rather than
		// failing it.
		g.log.WarnContext(ctx, "routing failed; the default expert answers", "request_id", p.req.ID, "err", err)
		d = router.Decision{Router: cmp.Or(d.Router, "none"), Default: true, DefaultReason: "routing failed: " + routeFailure(err)}
	}
	isCandidate := func(name string) bool { return slices.Contains(candidates, name) }
	if expert, sim, ok := g.corrections.best(p.req.Tenant.Key(), p.vec, isCandidate); ok {
		d.Experts, d.Default, d.DefaultReason = []router.Choice{{Name: expert, Weight: 1}}, false, ""
		p.Info.Route.Override = fmt.Sprintf("tenant feedback on a query %.2f similar", sim)
	}
	if p.scope.MaxK > 0 && len(d.Experts) > p.scope.MaxK {
		d.Experts = router.Renormalize(d.Experts[:p.scope.MaxK])
	}
	if len(d.Experts) == 0 {
		d.Default = true
	}
	if d.Default {
		if !p.scope.DefaultAllowed {
			if len(p.lacked) > 0 {
				return d, p.noCapableExpert()
			}
			return d, errs.E(errs.PermissionDenied, "No expert fits this query, and the policies of this request exclude the default expert.").WithCode("no_expert_allowed")
		}
		d.Experts = []router.Choice{{Name: g.opts.DefaultExpert, Weight: 1}}
		if l := defaultLacks; l != nil {
			best, ok := capableFallback(d, candidates)
			if !ok {
				return d, p.noCapableExpert()
			}
			d.Experts = []router.Choice{{Name: best, Weight: 1}}
			d.Default = false
			d.DefaultReason = fmt.Sprintf("the default expert %s; the most probable expert that can serve the request answers", l.Reason)
		}
	}
	return d, nil
}

// direct checks a request for one named expert.
func (g *Gateway) direct(name string, p *Plan) error {
	e, ok := p.snap.Get(name)
	if !ok || !e.Spec.IsEnabled() {
		return errs.E(errs.NotFound, "The model '%s' does not exist or you do not have access to it.", name).WithCode("model_not_found")
	}
	if !e.Ready() {
		return errs.E(errs.Unavailable, "Expert '%s' is registered but could not be started: %v", name, e.Err).WithCode("expert_unavailable")
	}
	if p.scope.Allows(name) {
		if l := g.lacks(name, p); l != nil {
			return &errs.Error{Kind: errs.Invalid, Code: "unsupported_parameter", Param: l.Param,
				Err: fmt.Errorf("The model '%s' cannot serve this request: it %s.", name, l.Reason)}
		}
		return nil
	}
	reason := "not allowed for this request"
	for _, x := range p.scope.Excluded {
		if x.Name == name {
			reason = x.Reason
		}
	}
	return &errs.Error{Kind: errs.PermissionDenied, Code: "expert_excluded", Param: "model",
		Err: fmt.Errorf("The model '%s' is excluded from this request: %s.", name, reason)}
}

// ground puts retrieved passages into the prompt as a numbered list the
// expert cites from, and records them in the moegate object. With the
// experts' context window known (window > 0), passages are kept, best
// first, only while they fit beside the conversation and room for the
// answer; the last one kept may be cut short.
func (g *Gateway) ground(req *experts.Request, hits []retrieval.Hit, info *Info, window int, m *metrics) *experts.Request {
	var kept []retrieval.Hit
	for _, h := range hits {
		if h.Score >= g.opts.RetrievalMinScore {
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		info.Retrieval.Reason = "no passage scored above the minimum"
		m.retrievals.Get("empty").Inc()
		return req
	}
	const header = "Answer using the numbered passages below when they are relevant, and cite them as [n]. If they do not contain the answer, say so.\n\n"
	room := -1 // bytes of passages that fit; -1: no limit known
	if window > 0 {
		used := len(header)
		for _, msg := range req.Messages {
			used += len(msg.Content) + len(msg.ToolCalls) + 16
		}
		answer := req.MaxTokens
		if answer <= 0 {
			answer = max(256, window/4)
		}
		// About 3 bytes a token: conservative for most languages, so the
		// estimate errs on the side of fitting.
		room = max(0, (window-answer)*3-used)
	}
	var b strings.Builder
	b.WriteString(header)
	dropped, cut := 0, false
	for i, h := range kept {
		text := strings.TrimSpace(h.Chunk.Text)
		line := fmt.Sprintf("[%d] (%s) ", i+1, h.Chunk.DocID)
		if room >= 0 {
			left := room - (b.Len() - len(header)) - len(line) - 2
			if left < 64 {
				dropped = len(kept) - i
				break
			}
			if len(text) > left {
				text, cut = truncateUTF8(text, left-len(" …"))+" …", true
			}
		}
		b.WriteString(line + text + "\n\n")
		info.Retrieval.Passages = append(info.Retrieval.Passages, Passage{N: i + 1, Doc: h.Chunk.DocID, Chunk: h.Chunk.ID, Seq: h.Chunk.Seq, Score: h.Score, Owner: h.Chunk.DataOwner, Text: text})
	}
	if len(info.Retrieval.Passages) == 0 {
		info.Retrieval.Reason = fmt.Sprintf("no room for passages in the expert's %d-token context", window)
		m.retrievals.Get("empty").Inc()
		return req
	}
	if dropped > 0 || cut {
		info.Retrieval.Reason = fmt.Sprintf("passages trimmed to fit the expert's %d-token context (%d left out)", window, dropped)
	}
	m.retrievals.Get("used").Inc()
	info.Retrieval.Used = true
	grounded := *req
	grounded.Messages = append([]experts.Message{{Role: "system", Content: b.String()}}, req.Messages...)
	grounded.Prepended = req.Prepended + 1
	return &grounded
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// hasWords reports whether s has a letter or a digit.
func hasWords(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) >= 0
}

// contextTokens is the smallest context window among the chosen experts
// that say theirs (0: none does): retrieved passages must fit in it.
func (g *Gateway) contextTokens(p *Plan) int {
	n := 0
	for _, c := range p.candidates {
		if c.FallbackFor != "" {
			continue
		}
		w := 0
		if e, ok := c.Expert.(interface{ ContextTokens() int }); ok {
			w = e.ContextTokens()
		}
		if w == 0 {
			if e, ok := g.deps.Registry.Get(c.Name); ok {
				w = e.Spec.ContextTokens
			}
		}
		if w > 0 && (n == 0 || w < n) {
			n = w
		}
	}
	return n
}

// maxFallbacks bounds a request's fallback chain, so a long configured
// chain cannot split the deadline into slivers.
const maxFallbacks = 4

// addFallbacks appends, after the chosen experts, each one's configured
// fallbacks and then (for routed requests) the default expert as the last
// resort: allowed by the request's scope, ready, not ejected and not
// already a candidate.
func (g *Gateway) addFallbacks(p *Plan, d router.Decision, routed bool) {
	have := map[string]bool{}
	for _, c := range p.candidates {
		have[c.Name] = true
	}
	var top string
	if len(d.Experts) > 0 {
		top = d.Experts[0].Name
	}
	add := func(name, forName string) {
		if len(p.candidates) >= len(d.Experts)+maxFallbacks || have[name] || !p.scope.Allows(name) {
			return
		}
		e, ok := p.snap.Get(name)
		if !ok || !e.Ready() {
			return
		}
		if g.deps.Health != nil {
			if ej, _ := g.deps.Health.Ejected(name); ej {
				return
			}
		}
		have[name] = true
		p.candidates = append(p.candidates, aggregate.Candidate{Name: name, Expert: e.Expert, FallbackFor: forName})
	}
	for _, ch := range d.Experts {
		if e, ok := p.snap.Get(ch.Name); ok {
			for _, fb := range e.Spec.Fallbacks {
				add(fb, ch.Name)
			}
		}
	}
	if routed && p.scope.DefaultAllowed {
		add(g.opts.DefaultExpert, top)
	}
}

// embedFailure is the metric label of a failed query embedding.
func embedFailure(err error) string {
	switch {
	case errors.Is(err, embed.ErrSkipped):
		return "skipped"
	case errs.Is(err, errs.Timeout):
		return "timeout"
	}
	return "failed"
}

// routeFailure says in general terms why routing failed, for the moegate
// object (the error itself, with addresses, is logged).
func routeFailure(err error) string {
	if errs.Is(err, errs.Timeout) || errors.Is(err, context.DeadlineExceeded) {
		return "the embedder did not answer in time"
	}
	return "the router could not embed or score the query"
}
