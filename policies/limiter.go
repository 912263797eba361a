package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limiter enforces a tenant's requests per minute, tokens per minute and
// token budget, and accounts usage per tenant and expert.
//
// Windows are sliding over the last 60 seconds in one-second buckets. Tokens
// are known only after a request, so Allow admits a request while the tokens
// used so far are under the limit; a request may overshoot TPM or the budget
// by its own size, never more.
type Limiter interface {
	// Allow decides whether t may make one more request now and, if so,
	// counts it.
	Allow(ctx context.Context, t Tenant) (Decision, error)
	// Record accounts tokens used by one expert call of a request of t.
	Record(ctx context.Context, t Tenant, expert string, tokens int) error
	// Usage returns the usage of the named tenant (zero if none yet).
	Usage(ctx context.Context, tenant string) (Usage, error)
	// AllUsage returns every tenant's usage, sorted by tenant; for admins.
	AllUsage(ctx context.Context) ([]Usage, error)
}

// Reasons a Decision refuses a request.
const (
	ReasonRPM    = "rpm"
	ReasonTPM    = "tpm"
	ReasonBudget = "budget"
)

// Decision is a Limiter's answer to Allow.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when refused: how long until a retry can succeed
	Reason     string        // when refused: ReasonRPM, ReasonTPM or ReasonBudget
	// Requests and Tokens are the tenant's per-minute windows after this
	// decision, for the x-ratelimit-* headers; a zero Limit means none.
	Requests, Tokens Quota
}

// Quota is one rate limit's state: the limit, what remains of it, and how
// long until it is whole again.
type Quota struct {
	Limit, Remaining int64
	Reset            time.Duration
}

// quota is the state of a window of limit at nowMs.
func (w *window) quota(nowMs, limit int64) Quota {
	if limit <= 0 {
		return Quota{}
	}
	used := w.total(nowMs / 1000)
	q := Quota{Limit: limit, Remaining: max(0, limit-used)}
	if used > 0 {
		q.Reset = w.retryAfter(nowMs, 0)
	}
	return q
}

// ExpertUsage counts one expert's calls and tokens for a tenant.
type ExpertUsage struct {
	Calls  int64 `json:"calls"`
	Tokens int64 `json:"tokens"`
}

// Usage is one tenant's usage: totals since counting began, and its budget
// in the current period.
type Usage struct {
	Tenant       string                 `json:"tenant"`
	Requests     int64                  `json:"requests"`
	Tokens       int64                  `json:"tokens"`
	Experts      map[string]ExpertUsage `json:"experts"`
	BudgetTokens int64                  `json:"budget_tokens,omitempty"` // 0: no budget
	BudgetUsed   int64                  `json:"budget_used"`
	PeriodStart  time.Time              `json:"period_start"`
	PeriodEnd    time.Time              `json:"period_end"`
}

// windowSeconds is the length of the RPM and TPM windows.
const windowSeconds = 60

// window counts events in one-second buckets over the last minute.
type window struct {
	sec [windowSeconds]int64 // the second each bucket holds
	n   [windowSeconds]int64
}

func (w *window) total(now int64) int64 {
	var sum int64
	for i := range w.sec {
		if w.sec[i] > now-windowSeconds && w.sec[i] <= now {
			sum += w.n[i]
		}
	}
	return sum
}

func (w *window) add(now, n int64) {
	i := now % windowSeconds
	if w.sec[i] != now {
		w.sec[i], w.n[i] = now, 0
	}
	w.n[i] += n
}

// retryAfter returns how long from nowMs until the window total drops to at
// most keep, as the oldest buckets age out.
func (w *window) retryAfter(nowMs int64, keep int64) time.Duration {
	now := nowMs / 1000
	total := w.total(now)
	type bucket struct{ sec, n int64 }
	var bs []bucket
	for i := range w.sec {
		if w.sec[i] > now-windowSeconds && w.sec[i] <= now && w.n[i] > 0 {
			bs = append(bs, bucket{w.sec[i], w.n[i]})
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return int(a.sec - b.sec) })
	for _, b := range bs {
		total -= b.n
		if total <= keep {
			return time.Duration((b.sec+windowSeconds)*1000-nowMs) * time.Millisecond
		}
	}
	return windowSeconds * time.Second
}

// MemoryLimiter is a Limiter for one process.
type MemoryLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	tenants map[string]*memTenant
}

type memTenant struct {
	rpm, tpm    window
	period      string
	periodStart time.Time
	periodEnd   time.Time
	budget      int64
	budgetUsed  int64
	requests    int64
	tokens      int64
	experts     map[string]ExpertUsage
}

// NewMemoryLimiter returns an empty in-process limiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{now: time.Now, tenants: map[string]*memTenant{}}
}

// tenant returns t's state with its budget period rolled forward to now.
// l.mu is held.
func (l *MemoryLimiter) tenant(t Tenant, now time.Time) *memTenant {
	s := l.tenants[t.Key()]
	if s == nil {
		s = &memTenant{experts: map[string]ExpertUsage{}}
		l.tenants[t.Key()] = s
	}
	start, end := t.BudgetWindow(now)
	if !start.Equal(s.periodStart) {
		s.periodStart, s.periodEnd, s.budgetUsed = start, end, 0
	}
	s.budget, s.period = t.BudgetTokens, t.BudgetPeriod
	return s
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, t Tenant) (Decision, error) {
	now := l.now()
	ms := now.UnixMilli()
	sec := ms / 1000
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.tenant(t, now)
	d := l.decide(t, s, now)
	if d.Allowed {
		s.rpm.add(sec, 1)
		s.requests++
	}
	d.Requests, d.Tokens = s.rpm.quota(ms, int64(t.RPM)), s.tpm.quota(ms, int64(t.TPM))
	return d, nil
}

func (l *MemoryLimiter) decide(t Tenant, s *memTenant, now time.Time) Decision {
	ms := now.UnixMilli()
	sec := ms / 1000
	if t.RPM > 0 && s.rpm.total(sec)+1 > int64(t.RPM) {
		return Decision{Reason: ReasonRPM, RetryAfter: s.rpm.retryAfter(ms, int64(t.RPM)-1)}
	}
	if t.TPM > 0 && s.tpm.total(sec) >= int64(t.TPM) {
		return Decision{Reason: ReasonTPM, RetryAfter: s.tpm.retryAfter(ms, int64(t.TPM)-1)}
	}
	if t.BudgetTokens > 0 && s.budgetUsed >= t.BudgetTokens {
		return Decision{Reason: ReasonBudget, RetryAfter: s.periodEnd.Sub(now)}
	}
	return Decision{Allowed: true}
}

// Record implements Limiter.
func (l *MemoryLimiter) Record(_ context.Context, t Tenant, expert string, tokens int) error {
	if tokens < 0 {
		return fmt.Errorf("%w: negative token count %d", ErrInvalid, tokens)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.tenant(t, now)
	n := int64(tokens)
	s.tpm.add(now.Unix(), n)
	s.budgetUsed += n
	s.tokens += n
	if expert != "" {
		e := s.experts[expert]
		e.Calls++
		e.Tokens += n
		s.experts[expert] = e
	}
	return nil
}

// Usage implements Limiter.
func (l *MemoryLimiter) Usage(_ context.Context, tenant string) (Usage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usage(tenant), nil
}

func (l *MemoryLimiter) usage(tenant string) Usage {
	u := Usage{Tenant: tenant, Experts: map[string]ExpertUsage{}}
	s := l.tenants[tenant]
	if s == nil {
		return u
	}
	u.Requests, u.Tokens, u.BudgetTokens = s.requests, s.tokens, s.budget
	u.PeriodStart, u.PeriodEnd = Tenant{BudgetPeriod: s.period}.BudgetWindow(l.now())
	if u.PeriodStart.Equal(s.periodStart) {
		u.BudgetUsed = s.budgetUsed
	}
	for k, v := range s.experts {
		u.Experts[k] = v
	}
	return u
}

// AllUsage implements Limiter.
func (l *MemoryLimiter) AllUsage(context.Context) ([]Usage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Usage, 0, len(l.tenants))
	for name := range l.tenants {
		out = append(out, l.usage(name))
	}
	slices.SortFunc(out, func(a, b Usage) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out, nil
}
