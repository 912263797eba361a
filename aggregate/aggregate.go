// Package aggregate asks the experts the router chose and combines their
// answers into one: the top expert with fallbacks (top1), the best answer of
// several asked at once (parallel-best), or a merge of all answers written by
// a synthesizer expert (synthesize).
package aggregate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moegate/moegate/internal/errs"

	"github.com/moegate/moegate/experts"

	"github.com/moegate/moegate/internal/units"
)

// Strategy names a way of combining experts.
type Strategy string

// Strategies.
const (
	Top1         Strategy = "top1"
	ParallelBest Strategy = "parallel-best"
	Synthesize   Strategy = "synthesize"
)

// strategies is every strategy and how it runs: adding one is a name, a
// line here and its method.
var strategies = map[Strategy]func(*runner) (Outcome, error){
	Top1:         (*runner).top1,
	ParallelBest: (*runner).parallelBest,
	Synthesize:   (*runner).synthesize,
}

// Strategies lists the strategy names, sorted.
func Strategies() []string {
	names := make([]string, 0, len(strategies))
	for s := range strategies {
		names = append(names, string(s))
	}
	slices.Sort(names)
	return names
}

// ParseStrategy parses a strategy name; "" means Top1. An unknown name is
// an error wrapping experts.ErrInvalid.
func ParseStrategy(s string) (Strategy, error) {
	st := Strategy(strings.ToLower(strings.TrimSpace(s)))
	if st == "" {
		return Top1, nil
	}
	if _, ok := strategies[st]; ok {
		return st, nil
	}
	return "", &experts.ValidationError{Field: "aggregate", Message: fmt.Sprintf("%q is not one of %s", s, strings.Join(Strategies(), ", "))}
}

// Candidate is one expert the router chose, with its gate weight, or a
// fallback that answers only when the chosen ones could not.
type Candidate struct {
	Name   string
	Weight float64
	Expert experts.Expert
	// FallbackFor is "" for an expert the router chose. A fallback names
	// whom it stands in for (an expert's spec fallbacks, or the default
	// expert as the last resort); fallbacks are asked one at a time, in
	// the order given, after every chosen expert failed.
	FallbackFor string
}

// Health is what Run asks about each expert's circuit breaker. Allow may
// admit a half-open probe; Observe reports how a call went (nil: answered).
type Health interface {
	Allow(name string) bool
	Observe(name string, err error)
}

// Options control Run and RunStream.
type Options struct {
	Strategy Strategy // "" = Top1
	// Retries is the request's retry budget: attempts beyond the first
	// call of each candidate. It is spent only after every candidate,
	// fallbacks included, has been tried once, so the next expert is
	// always preferred to the same one again; and only on retryable
	// failures (timeout, 429, 5xx, connection failure), never past the
	// deadline.
	Retries int
	// Backoff is the wait before a retry, doubled for each further one
	// (with jitter, at most 2 s); an upstream's Retry-After, when longer,
	// wins. 0 = 100 ms.
	Backoff time.Duration
	// FirstByteTimeout bounds the wait for a streamed answer's first
	// piece (time to first token); once it arrives the stream may run to
	// the request's deadline. 0 = DefaultFirstByteTimeout.
	FirstByteTimeout time.Duration
	// HedgeDelay is how long parallel-best waits, once one answer is in,
	// for better-weighted experts still working. 0 = DefaultHedgeDelay;
	// negative = wait for them to finish (bounded by their budgets).
	HedgeDelay time.Duration
	// Synthesizer merges the answers for Synthesize. nil: the
	// highest-weighted expert that answered does it.
	Synthesizer *Candidate
	Health      Health       // nil: every expert is always allowed
	Logger      *slog.Logger // nil = discard
}

// Defaults.
const (
	DefaultFirstByteTimeout = 20 * time.Second
	DefaultHedgeDelay       = 2 * time.Second
)

// Call statuses.
const (
	StatusOK        = "ok"
	StatusError     = "error"
	StatusTimeout   = "timeout"
	StatusCancelled = "cancelled"
	StatusSkipped   = "skipped" // never asked: an earlier candidate answered
	StatusCached    = "cached"  // answered from the response cache
	StatusEjected   = "ejected" // not asked: its circuit breaker is open
	StatusHedged    = "hedged"  // abandoned: a lower-weighted answer was in and the hedge delay ran out
)

// Call reports what happened to one expert during a request.
type Call struct {
	Name      string  `json:"name"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Attempts  int     `json:"attempts,omitempty"`
	Error     string  `json:"error,omitempty"`
	// FallbackFor names whom a fallback stood in for.
	FallbackFor string `json:"fallback_for,omitempty"`
	// Synthesizer is true for the call that merged the answers.
	Synthesizer bool `json:"synthesizer,omitempty"`
}

// Outcome is the combined answer and how it came about.
type Outcome struct {
	Response *experts.Response
	// Answered names the expert whose answer is Response (the
	// synthesizer's name when it merged the answers).
	Answered string
	// FallbackReason says why Answered is not the top expert the router
	// chose, e.g. `"banking" timeout: no first token within 20s`; "" when
	// it is.
	FallbackReason string
	// Calls lists every candidate (chosen ones in weight order, then the
	// fallbacks), then the synthesizer if one was called.
	Calls    []Call
	Strategy Strategy
	// Usage sums the tokens of every call that succeeded, including
	// answers that were not used; Response.Usage is the answer's own.
	Usage experts.Usage
	// Delivered is the bytes of answer (content and tool calls) that
	// RunStream's onDelta accepted, the whole answer or the part sent
	// before a failure.
	Delivered int
}

// Error is returned when no candidate produced an answer.
type Error struct {
	Expert  string // the highest-weighted failure, or the call the deadline cut short
	Timeout bool   // the request's or the expert's time ran out
	Err     error
}

func (e *Error) Error() string {
	what := "failed"
	if e.Timeout {
		what = "timed out"
	}
	return fmt.Sprintf("expert %q %s: %v", e.Expert, what, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoCandidates is returned when there is nobody to ask.
var ErrNoCandidates = errs.New(errs.Unavailable, "aggregate: no candidate experts")

// ErrEjected is the error of a candidate skipped because its circuit
// breaker is open.
var ErrEjected = errs.New(errs.Unavailable, "circuit breaker open: the expert failed repeatedly and is cooling down")

// Run asks the candidates according to opts.Strategy and returns the
// combined answer. Cancelling ctx cancels every upstream call.
func Run(ctx context.Context, cands []Candidate, req *experts.Request, opts Options) (Outcome, error) {
	return run(ctx, cands, req, opts, nil)
}

// RunStream is Run with the answer streamed to onDelta. Top1 streams the
// chosen expert live (falling back to the next candidate only while
// nothing has been sent); ParallelBest sends the winning answer once it is
// known; Synthesize streams the synthesizer. An error from onDelta aborts
// the run and is returned.
func RunStream(ctx context.Context, cands []Candidate, req *experts.Request, opts Options, onDelta func(d experts.Delta) error) (Outcome, error) {
	return run(ctx, cands, req, opts, onDelta)
}

func run(ctx context.Context, cands []Candidate, req *experts.Request, opts Options, onDelta func(experts.Delta) error) (Outcome, error) {
	if len(cands) == 0 {
		return Outcome{Strategy: opts.Strategy}, ErrNoCandidates
	}
	if opts.Strategy == "" {
		opts.Strategy = Top1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	if opts.FirstByteTimeout <= 0 {
		opts.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if opts.HedgeDelay == 0 {
		opts.HedgeDelay = DefaultHedgeDelay
	}
	// Chosen experts by weight (ties keep the router's order), then the
	// fallbacks in the order given. A candidate without an Expert
	// (disabled, or failed to build) fails without a call.
	// One slice holds both, primaries first, in the runner's own array for
	// the usual few, as their results are: a run is one allocation, not
	// three.
	r := &runner{ctx: ctx, req: req, opts: opts, onDelta: onDelta, retries: opts.Retries, last: -1}
	ordered := r.candArr[:0]
	if len(cands) > len(r.candArr) {
		ordered = make([]Candidate, 0, len(cands))
	}
	nPrimary := 0
	for _, fallback := range [...]bool{false, true} {
		for _, c := range cands {
			if (c.FallbackFor != "") != fallback {
				continue
			}
			if c.Expert == nil {
				c.Expert = unavailable{}
			}
			ordered = append(ordered, c)
		}
		if !fallback {
			nPrimary = len(ordered)
		}
	}
	slices.SortStableFunc(ordered[:nPrimary], func(a, b Candidate) int { return cmp.Compare(b.Weight, a.Weight) })
	strategy, ok := strategies[opts.Strategy]
	if !ok {
		_, err := ParseStrategy(string(opts.Strategy))
		return Outcome{Strategy: opts.Strategy}, err
	}
	r.cands, r.nPrimary = ordered, nPrimary
	r.results = r.resArr[:0]
	if len(r.cands) > len(r.resArr) {
		r.results = make([]result, 0, len(r.cands))
	}
	r.results = r.results[:len(r.cands)]
	for i, c := range r.cands {
		r.results[i] = result{call: Call{Name: c.Name, Status: StatusSkipped, FallbackFor: c.FallbackFor}}
	}
	return strategy(r)
}

type runner struct {
	ctx      context.Context
	cands    []Candidate // chosen ones by weight, then fallbacks
	nPrimary int
	req      *experts.Request
	opts     Options
	onDelta  func(experts.Delta) error // nil: not streaming
	// delivered counts the bytes of answer onDelta accepted.
	delivered int
	retries   int      // retry budget left
	results   []result // one per candidate
	last      int      // the candidate asked last; -1 none
	// abandoned marks, once the hedge delay ran out, which chosen
	// candidates had finished (the others were cut off).
	abandoned []bool

	candArr [3]Candidate
	resArr  [3]result
}

// result is one candidate's calls so far.
type result struct {
	resp    *experts.Response
	err     error
	call    Call
	elapsed time.Duration
}

// budgetError is an attempt that ran out of its share of the deadline or
// of the first-byte timeout. It is a context.DeadlineExceeded, so it
// reads as a timeout everywhere.
type budgetError struct {
	what string
	d    time.Duration
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("%s within %s", e.what, e.d.Round(time.Millisecond))
}

func (e *budgetError) Is(target error) bool { return target == context.DeadlineExceeded }

// clientError is an error of the caller's onDelta: the client, not the
// expert, failed, so nothing is retried and no breaker hears of it.
type clientError struct{ err error }

func (e clientError) Error() string { return e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

// budget is one attempt's share of what is left of the deadline when
// left candidates (this one included) may still need their turn; 0 means
// no bound but the request's own deadline (the last candidate, or a run
// without a deadline).
func (r *runner) budget(left int) time.Duration {
	dl, ok := r.ctx.Deadline()
	if !ok || left <= 1 {
		return 0
	}
	return time.Until(dl) / time.Duration(max(left, 1))
}

// once makes one attempt at candidate i within budget (0: unbounded),
// streaming to onDelta when it is not nil; sent reports whether any piece
// reached onDelta. Waiting for the expert's concurrency slot happens inside
// the call, so it counts against the budget.
func (r *runner) once(parent context.Context, i int, budget time.Duration, onDelta func(experts.Delta) error, sent *bool) (*experts.Response, error) {
	return r.onceFor(parent, i, r.req, budget, onDelta, sent)
}

func (r *runner) onceFor(parent context.Context, i int, req *experts.Request, budget time.Duration, onDelta func(experts.Delta) error, sent *bool) (*experts.Response, error) {
	c := r.cands[i]
	res := &r.results[i]
	if r.opts.Health != nil && !r.opts.Health.Allow(c.Name) {
		return nil, ErrEjected
	}
	res.call.Attempts++
	start := time.Now()
	defer func() { res.elapsed += time.Since(start) }()
	// A call with neither a budget nor a stream's first-byte timeout has
	// nothing of its own to cancel it with: it runs on parent itself (a
	// context of its own was a cancelCtx and its parent's map of children,
	// two allocations, for every request asked by name).
	ctx := parent
	var resp *experts.Response
	var err error
	if onDelta == nil {
		if budget > 0 {
			// A deadline rather than a timer of its own: an expert sees
			// it, and needs no timer for a timeout of its own that
			// would fire later.
			var stop context.CancelFunc
			ctx, stop = context.WithDeadlineCause(parent, start.Add(budget), &budgetError{"no answer", budget})
			defer stop()
		}
		resp, err = r.safeCall(ctx, c.Name, func(ctx context.Context) (*experts.Response, error) {
			return c.Expert.Complete(ctx, req)
		})
	} else {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(parent)
		defer cancel(nil)
		fb := r.opts.FirstByteTimeout
		what := "no first token"
		if budget > 0 && budget < fb {
			fb, what = budget, "no first token in its share of the deadline"
		}
		t := time.AfterFunc(fb, func() { cancel(&budgetError{what, fb}) })
		defer t.Stop()
		resp, err = r.safeCall(ctx, c.Name, func(ctx context.Context) (*experts.Response, error) {
			return c.Expert.Stream(ctx, req, func(d experts.Delta) error {
				if !*sent {
					// Once the first piece is out there is no going back:
					// the stream runs to the request's deadline.
					if !t.Stop() {
						return context.Cause(ctx)
					}
					*sent = true
				}
				if err := r.deliver(d); err != nil { // onDelta is r.onDelta
					return clientError{err}
				}
				return nil
			})
		})
	}
	if err != nil && parent.Err() == nil {
		var be *budgetError
		if cause := context.Cause(ctx); errors.As(cause, &be) && !errors.As(err, &be) {
			err = fmt.Errorf("%w: %w", be, err)
		}
	}
	if r.opts.Health != nil && countsForHealth(parent, err) {
		r.opts.Health.Observe(c.Name, err)
	}
	return resp, err
}

// countsForHealth reports whether a call's outcome says anything about the
// expert: not when the client left, the request's own deadline passed, or
// the request itself was invalid.
func countsForHealth(parent context.Context, err error) bool {
	var ce clientError
	switch {
	case err == nil:
		return true
	case parent.Err() != nil, errors.As(err, &ce), errors.Is(err, ErrEjected), errors.Is(err, experts.ErrInvalid):
		return false
	case errors.Is(err, context.Canceled) && !errors.Is(err, ErrPanic):
		return false
	}
	var ue *experts.UpstreamError
	if errors.As(err, &ue) && ue.Status >= 400 && ue.Status < 500 && ue.Status != 408 && ue.Status != 429 {
		return false // the request's fault, not the expert's
	}
	return true
}

// ErrPanic is returned for an expert whose call panicked. The panic and
// its stack go to the log; the gateway keeps serving.
var ErrPanic = errors.New("aggregate: expert panicked")

func (r *runner) safeCall(ctx context.Context, name string, fn func(context.Context) (*experts.Response, error)) (resp *experts.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.opts.Logger.Error("expert panicked", "expert", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w", ErrPanic)
		}
	}()
	return fn(ctx)
}

func backoff(base time.Duration, i int) time.Duration {
	d := base << min(i, 10)
	d = min(d, 2*time.Second)
	return d/2 + rand.N(d/2+1) // jitter, so callers that failed together do not retry together
}

// retryAfter is the wait an upstream asked for, 0 if none.
func retryAfter(err error) time.Duration {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// retryable reports whether another attempt at the same expert may succeed.
func retryable(ctx context.Context, err error) bool {
	var ce clientError
	if ctx.Err() != nil || errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, experts.ErrInvalid) || errors.Is(err, ErrEjected) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	var e *errs.Error
	if errors.As(err, &e) {
		switch e.Kind {
		case errs.RateLimited, errs.UpstreamFailed, errs.Timeout:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

func isTimeout(err error) bool {
	var ue *experts.UpstreamError
	if errors.As(err, &ue) && ue.Timeout {
		return true
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || errs.Is(err, errs.Timeout)
}

func status(err error) string {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrEjected):
		return StatusEjected
	case isTimeout(err):
		return StatusTimeout
	case errors.Is(err, context.Canceled):
		return StatusCancelled
	}
	return StatusError
}

// settle records the outcome of candidate i's latest attempt.
func (r *runner) settle(i int, resp *experts.Response, err error) {
	res := &r.results[i]
	res.resp, res.err = resp, err
	res.call.LatencyMS = units.MS(res.elapsed)
	res.call.Status = status(err)
	res.call.Error = ""
	if err != nil {
		res.call.Error = Reason(err)
		if !errors.Is(err, ErrEjected) {
			r.opts.Logger.Warn("expert failed", "expert", r.cands[i].Name, "attempts", res.call.Attempts, "err", err)
		}
	}
}

// failure builds the error for a run where nobody answered.
func (r *runner) failure() error {
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) && r.last >= 0 {
		return &Error{Expert: r.cands[r.last].Name, Timeout: true, Err: r.results[r.last].err}
	}
	for i, res := range r.results {
		if res.err != nil && res.call.Status != StatusSkipped {
			return &Error{Expert: r.cands[i].Name, Timeout: isTimeout(res.err), Err: res.err}
		}
	}
	return &Error{Expert: r.cands[0].Name, Timeout: errors.Is(r.ctx.Err(), context.DeadlineExceeded), Err: cmp.Or(r.ctx.Err(), error(ErrNoCandidates))}
}

func addUsage(a *experts.Usage, b experts.Usage) {
	a.PromptTokens += b.PromptTokens
	a.CompletionTokens += b.CompletionTokens
	a.TotalTokens += b.TotalTokens
}

// outcome reports every call; answered >= 0 is the candidate whose answer
// it carries.
func (r *runner) outcome(answered int) Outcome {
	// Every call is reported: sized once, not grown from nothing.
	out := Outcome{Strategy: r.opts.Strategy, Calls: make([]Call, 0, len(r.results)), Delivered: r.delivered}
	for _, res := range r.results {
		out.Calls = append(out.Calls, res.call)
		if res.err == nil && res.resp != nil {
			addUsage(&out.Usage, res.resp.Usage)
		}
	}
	if answered >= 0 {
		out.Response, out.Answered = r.results[answered].resp, r.cands[answered].Name
		if answered > 0 {
			out.FallbackReason = r.whyNotTop()
		}
	}
	return out
}

// whyNotTop says why the top chosen expert did not give the answer.
func (r *runner) whyNotTop() string {
	top := r.results[0]
	msg := fmt.Sprintf("%q %s", r.cands[0].Name, top.call.Status)
	if top.err != nil {
		msg += ": " + Reason(top.err)
	}
	return msg
}

// Reason says what went wrong in words fit for a client: the message of
// an expert that classified its failure (experts/openai writes those for
// clients, addresses removed), else the class of failure and the upstream
// status; never a raw transport error (that goes to the log).
func Reason(err error) string {
	var be *budgetError
	var ue *experts.UpstreamError
	var se *json.SyntaxError
	var ne net.Error
	var ve *experts.ValidationError
	var e *errs.Error
	switch {
	case errors.As(err, &be):
		return be.Error()
	case errors.Is(err, ErrPanic):
		return "the expert crashed"
	case errors.As(err, &ve):
		return ve.Error()
	case errors.As(err, &e) && e.Kind != errs.Internal && !errors.Is(err, context.DeadlineExceeded):
		// Written for clients by the expert that classified it (no
		// upstream addresses); shortened for the moegate object.
		msg := e.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return msg
	case errors.As(err, &ue) && ue.Status != 0:
		return fmt.Sprintf("upstream status %d", ue.Status)
	case isTimeout(err):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &ne):
		return "malformed upstream response"
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return "connection to the upstream failed"
	}
	return "failed"
}

// sequential asks the candidates in order, one at a time, until one
// answers: first every candidate in first, then, while the retry budget
// lasts, those that failed retryably (again, in order). Each attempt gets
// its share of what is left of the deadline. It returns the candidate that
// answered, or -1; err is non-nil only when the run must stop (the client
// went away, or a stream broke after sending).
func (r *runner) sequential(first []int, retry []int) (int, error) {
	pending, pass := first, 0
	if len(pending) == 0 {
		pending, pass, retry = slices.Clone(retry), 1, nil
	}
	for ; len(pending) > 0; pass++ {
		var failed []int
		for k, i := range pending {
			if r.ctx.Err() != nil {
				return -1, nil
			}
			if pass > 0 {
				if r.retries <= 0 {
					return -1, nil
				}
				wait := max(backoff(r.opts.Backoff, pass-1), retryAfter(r.results[i].err))
				if dl, ok := r.ctx.Deadline(); ok && time.Until(dl) < wait {
					continue // it asked for more time than there is
				}
				r.retries--
				r.opts.Logger.Debug("retrying expert", "expert", r.cands[i].Name, "wait_ms", units.MS(wait), "err", r.results[i].err)
				if !sleep(r.ctx, wait) {
					return -1, nil
				}
			}
			r.last = i
			sent := false
			resp, err := r.once(r.ctx, i, r.budget(len(pending)-k), r.onDelta, &sent)
			if err == nil && r.onDelta != nil && !sent && emptyStream(resp) {
				err = errEmptyStream
				if r.opts.Health != nil {
					r.opts.Health.Observe(r.cands[i].Name, err)
				}
			}
			r.settle(i, resp, err)
			if err == nil {
				return i, nil
			}
			var ce clientError
			if errors.As(err, &ce) {
				return -1, ce.err
			}
			if sent {
				// The client already has part of this answer; another
				// expert's answer cannot continue it.
				return -1, &Error{Expert: r.cands[i].Name, Timeout: isTimeout(err), Err: err}
			}
			if retryable(r.ctx, err) {
				failed = append(failed, i)
			}
		}
		if pass == 0 {
			failed = append(slices.Clone(retry), failed...)
		}
		pending = failed
	}
	return -1, nil
}

// errEmptyStream is a stream that ended without sending anything and
// without a finish reason: not an answer (an upstream that answered a
// stream request with plain JSON or an HTML page, or closed it early).
var errEmptyStream = errs.New(errs.UpstreamFailed, "the stream ended without content or finish reason")

func emptyStream(resp *experts.Response) bool {
	return resp == nil || (resp.Content == "" && len(resp.ToolCalls) == 0 && resp.FinishReason == "")
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *runner) indices(from, to int) []int {
	var idx []int
	for i := from; i < to; i++ {
		idx = append(idx, i)
	}
	return idx
}

// top1 asks candidates one at a time, chosen ones by weight then the
// fallbacks, until one answers.
func (r *runner) top1() (Outcome, error) {
	r.last = -1
	i, err := r.sequential(r.indices(0, len(r.cands)), nil)
	if err != nil {
		return r.outcome(-1), err
	}
	if i < 0 {
		return r.outcome(-1), r.failure()
	}
	return r.outcome(i), nil
}

// groupBudget is the share of what is left of the deadline for the chosen
// experts asked together, leaving room for one fallback turn if there are
// fallbacks.
func (r *runner) groupBudget() time.Duration {
	if r.nPrimary < len(r.cands) {
		return r.budget(2)
	}
	return r.budget(1)
}

// askAll calls every chosen candidate at once with Complete. When hedge
// is true it returns as soon as the highest-weighted candidate still in
// the running has answered, or HedgeDelay after any answer arrived,
// cancelling the others. It returns the chosen candidates that failed
// retryably.
func (r *runner) askAll(hedge bool) []int {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	budget := r.groupBudget()
	type done struct {
		i    int
		resp *experts.Response
		err  error
	}
	ch := make(chan done, r.nPrimary)
	for i := range r.nPrimary {
		// Each goroutine touches only its own result until it reports.
		go func() {
			resp, err := r.once(ctx, i, budget, nil, nil)
			ch <- done{i, resp, err}
		}()
	}
	finished := make([]bool, r.nPrimary)
	var hedgeC <-chan time.Time
	var retry []int
	for n := 0; n < r.nPrimary; {
		select {
		case d := <-ch:
			n++
			finished[d.i] = true
			r.settle(d.i, d.resp, d.err)
			if d.err != nil && retryable(r.ctx, d.err) {
				retry = append(retry, d.i)
			}
			if !hedge {
				continue
			}
			// The winner is the first candidate, in weight order, that has
			// not failed; once it has answered, nobody else matters.
			for i := range r.nPrimary {
				if !finished[i] {
					break
				}
				if r.results[i].err == nil {
					cancel()
					break
				}
			}
			if d.err == nil && hedgeC == nil && r.opts.HedgeDelay > 0 {
				hedgeC = time.After(r.opts.HedgeDelay)
			}
		case <-hedgeC:
			hedgeC = nil
			cancel()
			r.abandoned = slices.Clone(finished)
		}
	}
	for i, f := range r.abandoned {
		if !f && r.results[i].call.Status == StatusCancelled {
			r.results[i].call.Status = StatusHedged
			r.results[i].call.Error = fmt.Sprintf("a lower-weighted answer was ready and %s passed", r.opts.HedgeDelay)
		}
	}
	slices.Sort(retry) // retries go in weight order
	return retry
}

func bestSuccess(results []result, n int) int {
	for i, res := range results[:n] {
		if res.err == nil && res.resp != nil {
			return i
		}
	}
	return -1
}

// lastToFinish is the candidate reported when the deadline ends a
// parallel run: the highest-weighted call that timed out.
func (r *runner) lastToFinish() int {
	for i, res := range r.results {
		if res.call.Status == StatusTimeout {
			return i
		}
	}
	return 0
}

// parallelBest asks every chosen expert at once and answers with the
// highest-weighted success; if none answers, the fallbacks are asked in
// turn.
func (r *runner) parallelBest() (Outcome, error) {
	retry := r.askAll(true)
	best := bestSuccess(r.results, r.nPrimary)
	if best < 0 {
		return r.askFallbacks(retry)
	}
	return r.answerWith(best)
}

// answerWith is the outcome of candidate i's finished answer, sent to
// onDelta as one delta when streaming.
func (r *runner) answerWith(i int) (Outcome, error) {
	out := r.outcome(i)
	if r.onDelta == nil {
		return out, nil
	}
	err := r.emit(out.Response)
	out.Delivered = r.delivered // sent after the outcome was taken
	return out, err
}

// askFallbacks asks the fallbacks in turn once every chosen expert failed
// (retry: the calls the retry budget may repeat). A streamed fallback's
// answer has already been sent.
func (r *runner) askFallbacks(retry []int) (Outcome, error) {
	r.last = r.lastToFinish()
	i, err := r.sequential(r.indices(r.nPrimary, len(r.cands)), retry)
	if err != nil {
		return r.outcome(-1), err
	}
	if i < 0 {
		return r.outcome(-1), r.failure()
	}
	return r.outcome(i), nil
}

// emit sends a finished answer as one delta.
func (r *runner) emit(resp *experts.Response) error {
	if resp.Content == "" && len(resp.ToolCalls) == 0 {
		return nil
	}
	return r.deliver(experts.Delta{Content: resp.Content, ToolCalls: resp.ToolCalls})
}

// deliver passes d to the caller's onDelta, counting what it accepted.
func (r *runner) deliver(d experts.Delta) error {
	if err := r.onDelta(d); err != nil {
		return err
	}
	r.delivered += len(d.Content) + len(d.ToolCalls)
	return nil
}

// synthesize asks every chosen expert, then has the synthesizer merge the
// answers; if none answers, the fallbacks are asked in turn.
func (r *runner) synthesize() (Outcome, error) {
	retry := r.askAll(false)
	var answers []answer
	for i := range r.nPrimary {
		if res := r.results[i]; res.err == nil && res.resp != nil {
			answers = append(answers, answer{name: r.cands[i].Name, weight: r.cands[i].Weight, resp: res.resp})
		}
	}
	if len(answers) == 0 {
		return r.askFallbacks(retry)
	}
	best := bestSuccess(r.results, r.nPrimary)
	fallback := func() (Outcome, error) { return r.answerWith(best) }
	if len(answers) == 1 {
		return fallback()
	}
	synth := r.opts.Synthesizer
	if synth == nil {
		synth = &Candidate{Name: r.cands[best].Name, Weight: r.cands[best].Weight, Expert: r.cands[best].Expert}
	}
	// The synthesizer is one more candidate, asked last, with its own request.
	s := len(r.cands)
	r.cands = append(r.cands, Candidate{Name: synth.Name, Weight: synth.Weight, Expert: cmp.Or[experts.Expert](synth.Expert, unavailable{})})
	r.results = append(r.results, result{call: Call{Name: synth.Name, Synthesizer: true}})
	sreq := synthesisRequest(r.req, answers)
	sent := false
	var resp *experts.Response
	var err error
	for i := 0; ; i++ {
		resp, err = r.onceFor(r.ctx, s, sreq, r.budget(1), r.onDelta, &sent)
		r.settle(s, resp, err)
		if err == nil || sent || r.retries <= 0 || !retryable(r.ctx, err) {
			break
		}
		r.retries--
		if !sleep(r.ctx, max(backoff(r.opts.Backoff, i), retryAfter(err))) {
			break
		}
	}
	out := r.outcome(-1)
	if err == nil {
		out.Response, out.Answered = resp, synth.Name
		return out, nil
	}
	var ce clientError
	if errors.As(err, &ce) {
		return out, ce.err
	}
	r.opts.Logger.Warn("synthesizer failed; answering with the best expert", "synthesizer", synth.Name, "expert", r.cands[best].Name, "err", err)
	if sent || r.ctx.Err() != nil {
		return out, &Error{Expert: synth.Name, Timeout: isTimeout(err) || errors.Is(r.ctx.Err(), context.DeadlineExceeded), Err: err}
	}
	return fallback()
}

// ErrUnavailable is the error of a candidate that has no Expert.
var ErrUnavailable = errs.New(errs.Unavailable, "expert is not available (disabled or failed to build)")

type unavailable struct{}

func (unavailable) Complete(context.Context, *experts.Request) (*experts.Response, error) {
	return nil, ErrUnavailable
}

func (unavailable) Stream(context.Context, *experts.Request, func(experts.Delta) error) (*experts.Response, error) {
	return nil, ErrUnavailable
}
