package console

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/units"
	"github.com/moegate/moegate/router"
)

// Defaults of a Recorder.
const (
	DefaultRing    = 1000 // recent requests kept
	WindowMinutes  = 60   // per-minute buckets kept: the last hour
	maxTenantStats = 1000 // tenants tracked per minute; the rest count under "(other)"
)

// Record is one recent request in the console's list.
type Record struct {
	Time             time.Time       `json:"time"`
	RequestID        string          `json:"request_id"`
	Tenant           string          `json:"tenant"`
	Model            string          `json:"model"`
	Stream           bool            `json:"stream"`
	Status           int             `json:"status"`
	ErrorKind        string          `json:"error_kind,omitempty"`
	Error            string          `json:"error,omitempty"`
	LatencyMS        float64         `json:"latency_ms"`
	Answered         string          `json:"answered,omitempty"`
	Route            []router.Choice `json:"route"`
	Default          bool            `json:"default"`
	Cache            string          `json:"cache"` // exact | semantic | miss | "" (not looked up)
	PromptTokens     int             `json:"prompt_tokens"`
	CompletionTokens int             `json:"completion_tokens"`
	Info             *gateway.Info   `json:"moegate,omitempty"`
}

// Recorder keeps the recent requests in a bounded ring and per-minute
// statistics for the last hour, in process. It implements
// gateway.Observer and is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	ring    []Record
	next    int // where the next record goes
	full    bool
	buckets [WindowMinutes]bucket
	now     func() time.Time
}

// NewRecorder keeps the last n requests (DefaultRing when n <= 0).
func NewRecorder(n int) *Recorder {
	if n <= 0 {
		n = DefaultRing
	}
	return &Recorder{ring: make([]Record, n), now: time.Now}
}

// Latency histogram: bucket i holds latencies up to latBase·latFactor^i ms.
const (
	latBase    = 0.5
	latFactor  = 1.2
	latBuckets = 80
)

func latBucket(ms float64) int {
	if ms <= latBase {
		return 0
	}
	i := int(math.Ceil(math.Log(ms/latBase) / math.Log(latFactor)))
	return min(i, latBuckets-1)
}

func latUpper(i int) float64 { return latBase * math.Pow(latFactor, float64(i)) }

// stats are one minute's figures, for everyone or one tenant.
type stats struct {
	requests, errors   int
	errorKinds         map[string]int
	lat                [latBuckets]int32
	cacheLookups, hits int
	prompt, completion int
	answered           map[string]int // requests answered, by expert
	expertTokens       map[string]int
	defaults           int
}

func (s *stats) add(r *Record) {
	s.requests++
	if r.Status >= 400 || r.ErrorKind != "" {
		s.errors++
		if s.errorKinds == nil {
			s.errorKinds = map[string]int{}
		}
		s.errorKinds[cmpOr(r.ErrorKind, "error")]++
	}
	s.lat[latBucket(r.LatencyMS)]++
	if r.Cache != "" {
		s.cacheLookups++
		if r.Cache != "miss" {
			s.hits++
		}
	}
	s.prompt += r.PromptTokens
	s.completion += r.CompletionTokens
	if r.Answered != "" && r.ErrorKind == "" {
		if s.answered == nil {
			s.answered, s.expertTokens = map[string]int{}, map[string]int{}
		}
		s.answered[r.Answered]++
		s.expertTokens[r.Answered] += r.PromptTokens + r.CompletionTokens
	}
	if r.Default {
		s.defaults++
	}
}

type bucket struct {
	minute  int64 // unix minute this bucket holds; stale buckets are reset
	all     stats
	tenants map[string]*stats
}

// Observe implements gateway.Observer.
func (r *Recorder) Observe(o gateway.Observation) {
	rec := Record{Time: o.Time, RequestID: o.RequestID, Tenant: o.Tenant, Model: o.Model, Stream: o.Stream, Status: o.Status,
		ErrorKind: o.ErrorKind, Error: o.Error, LatencyMS: units.MS(o.Latency), Answered: o.Answered,
		PromptTokens: o.Usage.PromptTokens, CompletionTokens: o.Usage.CompletionTokens, Info: o.Info, Route: []router.Choice{}}
	if rec.Time.IsZero() {
		rec.Time = r.now()
	}
	if o.Info != nil {
		rec.Route = o.Info.Route.Experts
		rec.Default = o.Info.Route.Default
		switch {
		case o.Info.Cache.Hit:
			rec.Cache = o.Info.Cache.Kind
		case len(o.Info.Experts) > 0:
			rec.Cache = "miss"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = rec
	r.next = (r.next + 1) % len(r.ring)
	if r.next == 0 {
		r.full = true
	}
	b := r.bucketFor(rec.Time.Unix() / 60)
	if b == nil {
		return // older than the window
	}
	b.all.add(&rec)
	t := b.tenants[rec.Tenant]
	if t == nil {
		name := rec.Tenant
		if len(b.tenants) >= maxTenantStats {
			name = "(other)"
		}
		if t = b.tenants[name]; t == nil {
			t = &stats{}
			b.tenants[name] = t
		}
	}
	t.add(&rec)
}

// bucketFor returns the bucket of minute m, reset if it held an older
// minute; nil when m is outside the window.
func (r *Recorder) bucketFor(m int64) *bucket {
	nowMin := r.now().Unix() / 60
	if m <= nowMin-WindowMinutes || m > nowMin+1 {
		return nil
	}
	b := &r.buckets[((m%WindowMinutes)+WindowMinutes)%WindowMinutes]
	if b.minute != m {
		*b = bucket{minute: m, tenants: map[string]*stats{}}
	}
	return b
}

// Recent returns up to limit recent records, newest first; tenant ""
// means every tenant's.
func (r *Recorder) Recent(tenant string, limit int) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Record{}
	n := r.next
	if r.full {
		n = len(r.ring)
	}
	for i := 0; i < n && len(out) < limit; i++ {
		rec := r.ring[(r.next-1-i+len(r.ring))%len(r.ring)]
		if tenant == "" || rec.Tenant == tenant {
			out = append(out, rec)
		}
	}
	return out
}

// Get returns the newest record of request id; tenant "" matches any.
func (r *Recorder) Get(tenant, id string) (Record, bool) {
	for _, rec := range r.Recent(tenant, len(r.ring)) {
		if rec.RequestID == id {
			return rec, true
		}
	}
	return Record{}, false
}

// Series is the last hour, minute by minute, oldest first.
type Series struct {
	Minutes          []int64          `json:"minutes"` // unix seconds of each minute's start
	Requests         []int            `json:"requests"`
	RPS              []float64        `json:"rps"`
	Errors           []int            `json:"errors"`
	ErrorsByKind     map[string][]int `json:"errors_by_kind"`
	P50MS            []float64        `json:"p50_ms"`
	P99MS            []float64        `json:"p99_ms"`
	CacheHitRate     []float64        `json:"cache_hit_rate"`
	PromptTokens     []int            `json:"prompt_tokens"`
	CompletionTokens []int            `json:"completion_tokens"`
	Answered         map[string][]int `json:"answered"` // requests answered per expert
	Default          []int            `json:"default"`  // requests routed to the default expert
	ExpertTokens     map[string][]int `json:"expert_tokens"`
	TenantTokens     map[string][]int `json:"tenant_tokens,omitempty"` // admin view only
	Totals           Totals           `json:"totals"`
	Tenant           string           `json:"tenant,omitempty"`
}

// Totals sum the window.
type Totals struct {
	Requests     int            `json:"requests"`
	Errors       int            `json:"errors"`
	ErrorsByKind map[string]int `json:"errors_by_kind"`
	RPS          float64        `json:"rps"`
	P50MS        float64        `json:"p50_ms"`
	P99MS        float64        `json:"p99_ms"`
	CacheHitRate float64        `json:"cache_hit_rate"`
	CacheLookups int            `json:"cache_lookups"`
	Tokens       int            `json:"tokens"`
	DefaultShare float64        `json:"default_share"`
	Answered     map[string]int `json:"answered"`
}

// Series returns the last hour of tenant's requests ("" = everyone's;
// then the tokens per tenant are included).
func (r *Recorder) Series(tenant string) Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	nowMin := r.now().Unix() / 60
	s := Series{Tenant: tenant, ErrorsByKind: map[string][]int{}, Answered: map[string][]int{}, ExpertTokens: map[string][]int{},
		Totals: Totals{ErrorsByKind: map[string]int{}, Answered: map[string]int{}}}
	if tenant == "" {
		s.TenantTokens = map[string][]int{}
	}
	var total [latBuckets]int32
	hits := 0
	series := func(m map[string][]int, k string) []int {
		v, ok := m[k]
		if !ok {
			v = make([]int, WindowMinutes)
			m[k] = v
		}
		return v
	}
	for i := range WindowMinutes {
		m := nowMin - WindowMinutes + 1 + int64(i)
		s.Minutes = append(s.Minutes, m*60)
		var st *stats
		b := &r.buckets[((m%WindowMinutes)+WindowMinutes)%WindowMinutes]
		if b.minute == m {
			if tenant == "" {
				st = &b.all
				for name, ts := range b.tenants {
					series(s.TenantTokens, name)[i] = ts.prompt + ts.completion
				}
			} else {
				st = b.tenants[tenant]
			}
		}
		if st == nil {
			st = &stats{}
		}
		s.Requests = append(s.Requests, st.requests)
		s.RPS = append(s.RPS, float64(st.requests)/60)
		s.Errors = append(s.Errors, st.errors)
		for k, n := range st.errorKinds {
			series(s.ErrorsByKind, k)[i] = n
			s.Totals.ErrorsByKind[k] += n
		}
		s.P50MS = append(s.P50MS, quantile(st.lat[:], 0.5))
		s.P99MS = append(s.P99MS, quantile(st.lat[:], 0.99))
		rate := 0.0
		if st.cacheLookups > 0 {
			rate = float64(st.hits) / float64(st.cacheLookups)
		}
		s.CacheHitRate = append(s.CacheHitRate, rate)
		s.PromptTokens = append(s.PromptTokens, st.prompt)
		s.CompletionTokens = append(s.CompletionTokens, st.completion)
		for k, n := range st.answered {
			series(s.Answered, k)[i] = n
			s.Totals.Answered[k] += n
		}
		for k, n := range st.expertTokens {
			series(s.ExpertTokens, k)[i] = n
		}
		s.Default = append(s.Default, st.defaults)
		for j, n := range st.lat {
			total[j] += n
		}
		s.Totals.Requests += st.requests
		s.Totals.Errors += st.errors
		s.Totals.CacheLookups += st.cacheLookups
		hits += st.hits
		s.Totals.Tokens += st.prompt + st.completion
		s.Totals.DefaultShare += float64(st.defaults)
	}
	s.Totals.RPS = float64(s.Totals.Requests) / (WindowMinutes * 60)
	s.Totals.P50MS = quantile(total[:], 0.5)
	s.Totals.P99MS = quantile(total[:], 0.99)
	if s.Totals.CacheLookups > 0 {
		s.Totals.CacheHitRate = float64(hits) / float64(s.Totals.CacheLookups)
	}
	if s.Totals.Requests > 0 {
		s.Totals.DefaultShare /= float64(s.Totals.Requests)
	} else {
		s.Totals.DefaultShare = 0
	}
	return s
}

// quantile of a latency histogram: the upper bound of the bucket holding
// the q-th request, 0 without requests.
func quantile(h []int32, q float64) float64 {
	var n int64
	for _, c := range h {
		n += int64(c)
	}
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var cum int64
	for i, c := range h {
		cum += int64(c)
		if cum >= rank {
			return math.Round(latUpper(i)*100) / 100
		}
	}
	return latUpper(len(h) - 1)
}

// Tenants lists the tenants seen in the window, sorted.
func (r *Recorder) Tenants() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for i := range r.buckets {
		for name := range r.buckets[i].tenants {
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return slices.Clip(out)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
