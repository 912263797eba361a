// Package aggregate asks the experts the router chose and combines their
// answers into one: the top expert with fallbacks (top1), the best answer of
// several asked at once (parallel-best), or a merge of all answers written by
// a synthesizer expert (synthesize).
package aggregate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"slices"
	"strings"
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

// Candidate is one expert the router chose, with its gate weight.
type Candidate struct {
	Name   string
	Weight float64
	Expert experts.Expert
}

// Options control Run and RunStream.
type Options struct {
	Strategy Strategy // "" = Top1
	// Retries is how many times a call is retried after a retryable error
	// (timeout, 429, 5xx, connection failure), with exponential backoff,
	// never past ctx's deadline.
	Retries int
	// Backoff is the wait before the first retry, doubled for each further
	// one (with jitter, at most 2 s). 0 = 100 ms.
	Backoff time.Duration
	// Synthesizer merges the answers for Synthesize. nil: the
	// highest-weighted expert that answered does it.
	Synthesizer *Candidate
	Logger      *slog.Logger // nil = discard
}

// Call statuses.
const (
	StatusOK        = "ok"
	StatusError     = "error"
	StatusTimeout   = "timeout"
	StatusCancelled = "cancelled"
	StatusSkipped   = "skipped" // never asked: an earlier candidate answered
	StatusCached    = "cached"  // answered from the response cache
)

// Call reports what happened to one expert during a request.
type Call struct {
	Name      string  `json:"name"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Attempts  int     `json:"attempts,omitempty"`
	Error     string  `json:"error,omitempty"`
	// Synthesizer is true for the call that merged the answers.
	Synthesizer bool `json:"synthesizer,omitempty"`
}

// Outcome is the combined answer and how it came about.
type Outcome struct {
	Response *experts.Response
	// Answered names the expert whose answer is Response (the
	// synthesizer's name when it merged the answers).
	Answered string
	// Calls lists every candidate (in weight order), then the
	// synthesizer if one was called.
	Calls    []Call
	Strategy Strategy
	// Usage sums the tokens of every call that succeeded, including
	// answers that were not used; Response.Usage is the answer's own.
	Usage experts.Usage
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
	// Highest weight first; ties keep the router's order. A candidate
	// without an Expert (disabled, or failed to build) fails without a call.
	cands = slices.Clone(cands)
	for i, c := range cands {
		if c.Expert == nil {
			cands[i].Expert = unavailable{}
		}
	}
	slices.SortStableFunc(cands, func(a, b Candidate) int { return cmp.Compare(b.Weight, a.Weight) })
	strategy, ok := strategies[opts.Strategy]
	if !ok {
		_, err := ParseStrategy(string(opts.Strategy))
		return Outcome{Strategy: opts.Strategy}, err
	}
	return strategy(&runner{ctx: ctx, cands: cands, req: req, opts: opts, onDelta: onDelta})
}

type runner struct {
	ctx     context.Context
	cands   []Candidate
	req     *experts.Request
	opts    Options
	onDelta func(experts.Delta) error // nil: not streaming
}

// result is one candidate's finished call.
type result struct {
	resp *experts.Response
	err  error
	call Call
}

// attempt calls fn with retries. canRetry is consulted before each retry
// (streaming stops retrying once bytes were sent).
func (r *runner) attempt(ctx context.Context, name string, fn func(context.Context) (*experts.Response, error), canRetry func() bool) result {
	start := time.Now()
	var res result
	res.call.Name = name
	for i := 0; ; i++ {
		if ctx.Err() != nil && i == 0 {
			// Asked after the end: do not bother the upstream.
			res.err = ctx.Err()
			break
		}
		res.call.Attempts++
		res.resp, res.err = r.safeCall(ctx, name, fn)
		if res.err == nil || i >= r.opts.Retries || !retryable(ctx, res.err) || (canRetry != nil && !canRetry()) {
			break
		}
		wait := backoff(r.opts.Backoff, i)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			break
		}
		r.opts.Logger.Debug("retrying expert", "expert", name, "attempt", i+1, "wait_ms", units.MS(wait), "err", res.err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.call.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	res.call.Status = status(res.err)
	if res.err != nil {
		res.call.Error = res.err.Error()
	}
	return res
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

// retryable reports whether another attempt may succeed.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, experts.ErrInvalid) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
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
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func status(err error) string {
	switch {
	case err == nil:
		return StatusOK
	case isTimeout(err):
		return StatusTimeout
	case errors.Is(err, context.Canceled):
		return StatusCancelled
	}
	return StatusError
}

func skipped(name string) Call { return Call{Name: name, Status: StatusSkipped} }

// failure builds the error for a run where nobody answered. results are in
// candidate order; last is the index of the call made last.
func (r *runner) failure(results []result, last int) error {
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) && last >= 0 {
		return &Error{Expert: r.cands[last].Name, Timeout: true, Err: results[last].err}
	}
	for i, res := range results {
		if res.err != nil && res.call.Status != StatusSkipped {
			return &Error{Expert: r.cands[i].Name, Timeout: isTimeout(res.err), Err: res.err}
		}
	}
	return &Error{Expert: r.cands[0].Name, Timeout: errors.Is(r.ctx.Err(), context.DeadlineExceeded), Err: r.ctx.Err()}
}

func addUsage(a *experts.Usage, b experts.Usage) {
	a.PromptTokens += b.PromptTokens
	a.CompletionTokens += b.CompletionTokens
	a.TotalTokens += b.TotalTokens
}

func (r *runner) outcome(results []result) Outcome {
	out := Outcome{Strategy: r.opts.Strategy}
	for _, res := range results {
		out.Calls = append(out.Calls, res.call)
		if res.err == nil && res.resp != nil {
			addUsage(&out.Usage, res.resp.Usage)
		}
	}
	return out
}

// top1 asks candidates one at a time in weight order until one answers.
func (r *runner) top1() (Outcome, error) {
	results := make([]result, len(r.cands))
	for i, c := range r.cands {
		results[i] = result{call: skipped(c.Name)}
	}
	last := -1
	for i, c := range r.cands {
		if r.ctx.Err() != nil {
			break
		}
		last = i
		sent := false
		if r.onDelta == nil {
			results[i] = r.attempt(r.ctx, c.Name, func(ctx context.Context) (*experts.Response, error) {
				return c.Expert.Complete(ctx, r.req)
			}, nil)
		} else {
			results[i] = r.attempt(r.ctx, c.Name, func(ctx context.Context) (*experts.Response, error) {
				return c.Expert.Stream(ctx, r.req, func(d experts.Delta) error {
					sent = true
					return r.onDelta(d)
				})
			}, func() bool { return !sent })
		}
		res := results[i]
		if res.err == nil {
			out := r.outcome(results)
			out.Response, out.Answered = res.resp, c.Name
			return out, nil
		}
		r.opts.Logger.Warn("expert failed", "expert", c.Name, "attempts", res.call.Attempts, "err", res.err)
		if sent {
			// The client already has part of this answer; another expert's
			// answer cannot continue it.
			return r.outcome(results), &Error{Expert: c.Name, Timeout: isTimeout(res.err), Err: res.err}
		}
	}
	return r.outcome(results), r.failure(results, last)
}

// askAll calls every candidate at once with Complete. When stopEarly is
// true it returns as soon as the highest-weighted candidate still in the
// running has answered, cancelling the others.
func (r *runner) askAll(stopEarly bool) []result {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	type indexed struct {
		i   int
		res result
	}
	ch := make(chan indexed, len(r.cands))
	for i, c := range r.cands {
		go func() {
			ch <- indexed{i, r.attempt(ctx, c.Name, func(ctx context.Context) (*experts.Response, error) {
				return c.Expert.Complete(ctx, r.req)
			}, nil)}
		}()
	}
	results := make([]result, len(r.cands))
	done := make([]bool, len(r.cands))
	for range r.cands {
		x := <-ch
		results[x.i], done[x.i] = x.res, true
		if !stopEarly {
			continue
		}
		// The winner is the first candidate, in weight order, that has
		// not failed; once it has answered, nobody else matters.
		for i := range r.cands {
			if !done[i] {
				break
			}
			if results[i].err == nil {
				cancel()
				break
			}
		}
	}
	return results
}

func bestSuccess(results []result) int {
	for i, res := range results {
		if res.err == nil {
			return i
		}
	}
	return -1
}

// lastToFinish is the index reported when the deadline ends a parallel
// run: the highest-weighted call that timed out.
func lastToFinish(results []result) int {
	for i, res := range results {
		if res.call.Status == StatusTimeout {
			return i
		}
	}
	return 0
}

// parallelBest asks everyone at once and answers with the highest-weighted
// success.
func (r *runner) parallelBest() (Outcome, error) {
	results := r.askAll(true)
	out := r.outcome(results)
	best := bestSuccess(results)
	if best < 0 {
		return out, r.failure(results, lastToFinish(results))
	}
	out.Response, out.Answered = results[best].resp, r.cands[best].Name
	if r.onDelta != nil {
		if err := r.emit(out.Response); err != nil {
			return out, err
		}
	}
	return out, nil
}

// emit sends a finished answer as one delta.
func (r *runner) emit(resp *experts.Response) error {
	if resp.Content == "" && len(resp.ToolCalls) == 0 {
		return nil
	}
	return r.onDelta(experts.Delta{Content: resp.Content, ToolCalls: resp.ToolCalls})
}

// synthesize asks everyone, then has the synthesizer merge the answers.
func (r *runner) synthesize() (Outcome, error) {
	results := r.askAll(false)
	out := r.outcome(results)
	var answers []answer
	for i, res := range results {
		if res.err == nil {
			answers = append(answers, answer{name: r.cands[i].Name, weight: r.cands[i].Weight, resp: res.resp})
		}
	}
	if len(answers) == 0 {
		return out, r.failure(results, lastToFinish(results))
	}
	best := answers[0]
	fallback := func() (Outcome, error) {
		out.Response, out.Answered = best.resp, best.name
		if r.onDelta != nil {
			if err := r.emit(best.resp); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	if len(answers) == 1 {
		return fallback()
	}
	synth := r.opts.Synthesizer
	if synth == nil {
		synth = &Candidate{Name: best.name, Weight: best.weight, Expert: r.cands[bestSuccess(results)].Expert}
	}
	sreq := synthesisRequest(r.req, answers)
	var res result
	sent := false
	if r.onDelta == nil {
		res = r.attempt(r.ctx, synth.Name, func(ctx context.Context) (*experts.Response, error) {
			return synth.Expert.Complete(ctx, sreq)
		}, nil)
	} else {
		res = r.attempt(r.ctx, synth.Name, func(ctx context.Context) (*experts.Response, error) {
			return synth.Expert.Stream(ctx, sreq, func(d experts.Delta) error {
				sent = true
				return r.onDelta(d)
			})
		}, func() bool { return !sent })
	}
	res.call.Synthesizer = true
	out.Calls = append(out.Calls, res.call)
	if res.err == nil {
		addUsage(&out.Usage, res.resp.Usage)
		out.Response, out.Answered = res.resp, synth.Name
		return out, nil
	}
	r.opts.Logger.Warn("synthesizer failed; answering with the best expert", "synthesizer", synth.Name, "expert", best.name, "err", res.err)
	if sent || r.ctx.Err() != nil {
		return out, &Error{Expert: synth.Name, Timeout: isTimeout(res.err) || errors.Is(r.ctx.Err(), context.DeadlineExceeded), Err: res.err}
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
