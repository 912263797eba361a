// Package health keeps a circuit breaker per expert: an expert that fails
// several times in a row, or too often among its recent calls, is ejected
// for a cooldown that doubles with each ejection; when the cooldown ends
// one request probes it (half-open), and its answer closes the breaker or
// ejects the expert again.
package health

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options tune the breakers. A zero field takes the default beside it.
type Options struct {
	ConsecutiveFailures int           // 5: failures in a row that eject
	ErrorRate           float64       // 0.5: share of failures among the recent calls that ejects...
	MinCalls            int           // 20: ...once at least this many recent calls are known
	Window              time.Duration // 60s: how far back "recent" goes
	Cooldown            time.Duration // 5s: the first ejection's length, doubled for each further one
	MaxCooldown         time.Duration // 5m
}

// Defaults.
const (
	DefaultConsecutiveFailures = 5
	DefaultErrorRate           = 0.5
	DefaultMinCalls            = 20
	DefaultWindow              = time.Minute
	DefaultCooldown            = 5 * time.Second
	DefaultMaxCooldown         = 5 * time.Minute
)

func (o *Options) setDefaults() {
	o.ConsecutiveFailures = cmp.Or(o.ConsecutiveFailures, DefaultConsecutiveFailures)
	o.ErrorRate = cmp.Or(o.ErrorRate, DefaultErrorRate)
	o.MinCalls = cmp.Or(o.MinCalls, DefaultMinCalls)
	o.Window = cmp.Or(o.Window, DefaultWindow)
	o.Cooldown = cmp.Or(o.Cooldown, DefaultCooldown)
	o.MaxCooldown = max(cmp.Or(o.MaxCooldown, DefaultMaxCooldown), o.Cooldown)
}

// States of a breaker.
const (
	Healthy = "healthy"   // closed: calls flow
	Ejected = "ejected"   // open: no calls until the cooldown ends
	Probing = "probing"   // half-open: one call is testing the expert
	Ready   = "probe_due" // open, cooldown over: the next call probes
)

// Status is one expert's breaker as reported by /admin/experts and /readyz.
type Status struct {
	Name                string    `json:"name"`
	State               string    `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	RecentCalls         int       `json:"recent_calls"`
	RecentErrorRate     float64   `json:"recent_error_rate"`
	Ejections           int       `json:"ejections"`
	EjectedUntil        time.Time `json:"ejected_until,omitzero"`
	Reason              string    `json:"reason,omitempty"` // why it was last ejected
	LastError           string    `json:"last_error,omitempty"`
}

// Tracker holds the breakers. It is safe for concurrent use.
type Tracker struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	breakers map[string]*breaker
	// open counts the breakers not Healthy, so that Ejected (asked about
	// every candidate of every routed request) and Allow take no lock
	// while all experts are healthy.
	open atomic.Int32
}

type outcome struct {
	at time.Time
	ok bool
}

type breaker struct {
	state       string // Healthy, Ejected or Probing
	consecutive int
	recent      []outcome // within Window, oldest first
	ejections   int
	cooldown    time.Duration
	until       time.Time // end of the cooldown (Ejected)
	probeSince  time.Time // when the probe began (Probing)
	reason      string
	lastErr     string
}

// New returns a Tracker where every expert starts healthy.
func New(opts Options) *Tracker {
	opts.setDefaults()
	return &Tracker{opts: opts, now: time.Now, breakers: map[string]*breaker{}}
}

func (t *Tracker) get(name string) *breaker {
	b := t.breakers[name]
	if b == nil {
		b = &breaker{state: Healthy}
		t.breakers[name] = b
	}
	return b
}

// probeTimeout is how long a probe may run before another request may
// probe instead (the first may have been cancelled without reporting).
func (t *Tracker) probeTimeout(b *breaker) time.Duration { return max(b.cooldown, t.opts.Cooldown) }

// Allow reports whether a call to name may go ahead now. An ejected expert
// whose cooldown is over is let through once, as the probe.
func (t *Tracker) Allow(name string) bool {
	if t.open.Load() == 0 {
		return true // every breaker is healthy
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.get(name)
	now := t.now()
	switch b.state {
	case Ejected:
		if now.Before(b.until) {
			return false
		}
		b.state, b.probeSince = Probing, now
		return true
	case Probing:
		if now.Sub(b.probeSince) < t.probeTimeout(b) {
			return false
		}
		b.probeSince = now
		return true
	}
	return true
}

// Ejected reports, without taking the probe, whether name is out of
// rotation now, and why. Routing uses it to skip experts.
func (t *Tracker) Ejected(name string) (bool, string) {
	if t.open.Load() == 0 {
		return false, ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.breakers[name]
	if !ok {
		return false, ""
	}
	now := t.now()
	switch {
	case b.state == Ejected && now.Before(b.until):
		return true, fmt.Sprintf("circuit open until %s (%s)", b.until.UTC().Format(time.RFC3339), b.reason)
	case b.state == Probing && now.Sub(b.probeSince) < t.probeTimeout(b):
		return true, "circuit half-open: a probe is testing the expert"
	}
	return false, ""
}

// RetryIn is how long until name may be probed again: 0 unless it is
// ejected.
func (t *Tracker) RetryIn(name string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.breakers[name]
	if !ok {
		return 0
	}
	switch now := t.now(); {
	case b.state == Ejected:
		return max(0, b.until.Sub(now))
	case b.state == Probing:
		return max(0, b.probeSince.Add(t.probeTimeout(b)).Sub(now))
	}
	return 0
}

// Observe records how a call to name went; err nil means it answered.
func (t *Tracker) Observe(name string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.get(name)
	now := t.now()
	ok := err == nil
	if !ok {
		b.lastErr = err.Error()
		if len(b.lastErr) > 300 {
			b.lastErr = b.lastErr[:300] + "…"
		}
	}
	if b.state == Probing || (b.state == Ejected && !now.Before(b.until)) {
		if ok {
			b.state, b.consecutive, b.recent, b.cooldown = Healthy, 0, nil, 0
			t.open.Add(-1)
			return
		}
		t.eject(b, now, "probe failed: "+b.lastErr)
		return
	}
	if b.state == Ejected {
		return // a call that started before the ejection
	}
	b.recent = append(t.trim(b.recent, now), outcome{now, ok})
	if ok {
		b.consecutive = 0
		return
	}
	b.consecutive++
	failed, n := failures(b.recent)
	switch {
	case b.consecutive >= t.opts.ConsecutiveFailures:
		t.eject(b, now, fmt.Sprintf("%d consecutive failures", b.consecutive))
	case n >= t.opts.MinCalls && float64(failed)/float64(n) >= t.opts.ErrorRate:
		t.eject(b, now, fmt.Sprintf("%d of the last %d calls failed", failed, n))
	}
}

func (t *Tracker) eject(b *breaker, now time.Time, reason string) {
	if b.cooldown == 0 {
		b.cooldown = t.opts.Cooldown
	} else {
		b.cooldown = min(2*b.cooldown, t.opts.MaxCooldown)
	}
	if b.state == Healthy {
		t.open.Add(1)
	}
	b.state, b.until, b.reason = Ejected, now.Add(b.cooldown), reason
	b.ejections++
	b.consecutive, b.recent = 0, nil
}

func (t *Tracker) trim(r []outcome, now time.Time) []outcome {
	i := 0
	for i < len(r) && now.Sub(r[i].at) > t.opts.Window {
		i++
	}
	r = r[i:]
	if len(r) > 4*t.opts.MinCalls {
		r = r[len(r)-4*t.opts.MinCalls:] // enough to judge; bounded memory
	}
	return r
}

func failures(r []outcome) (failed, n int) {
	for _, o := range r {
		if !o.ok {
			failed++
		}
	}
	return failed, len(r)
}

// Forget drops name's breaker (the expert was removed).
func (t *Tracker) Forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.breakers[name]; ok && b.state != Healthy {
		t.open.Add(-1)
	}
	delete(t.breakers, name)
}

// Status reports name's breaker.
func (t *Tracker) Status(name string) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status(name, t.breakers[name])
}

func (t *Tracker) status(name string, b *breaker) Status {
	if b == nil {
		return Status{Name: name, State: Healthy}
	}
	now := t.now()
	recent := t.trim(b.recent, now)
	failed, n := failures(recent)
	s := Status{Name: name, State: b.state, ConsecutiveFailures: b.consecutive, RecentCalls: n, Ejections: b.ejections, Reason: b.reason, LastError: b.lastErr}
	if n > 0 {
		s.RecentErrorRate = float64(failed) / float64(n)
	}
	if b.state == Ejected {
		s.EjectedUntil = b.until
		if !now.Before(b.until) {
			s.State = Ready
		}
	}
	return s
}

// All reports every expert that has a breaker, by name.
func (t *Tracker) All() []Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, 0, len(t.breakers))
	for name, b := range t.breakers {
		out = append(out, t.status(name, b))
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

var (
	stateDesc     = prometheus.NewDesc("moegate_expert_circuit_open", "1 while the expert's circuit breaker keeps it out of rotation (ejected or probing).", []string{"expert"}, nil)
	ejectionsDesc = prometheus.NewDesc("moegate_expert_ejections_total", "Times the expert was ejected by its circuit breaker.", []string{"expert"}, nil)
)

// Describe implements prometheus.Collector.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- ejectionsDesc
}

// Collect implements prometheus.Collector.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	for _, s := range t.All() {
		open := 0.0
		if s.State == Ejected || s.State == Probing {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, open, s.Name)
		ch <- prometheus.MustNewConstMetric(ejectionsDesc, prometheus.CounterValue, float64(s.Ejections), s.Name)
	}
}
