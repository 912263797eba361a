package policies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cacheFactory returns a cache and a function that lets d pass for it.
type cacheFactory func(t *testing.T, opts CacheOptions) (Cache, func(d time.Duration))

func cacheFactories() map[string]cacheFactory {
	return map[string]cacheFactory{
		"memory": func(t *testing.T, opts CacheOptions) (Cache, func(time.Duration)) {
			c := NewMemoryCache(opts)
			clock := newClock()
			c.now = clock.Now
			return c, clock.Advance
		},
		"redis": func(t *testing.T, opts CacheOptions) (Cache, func(time.Duration)) {
			rdb, prefix := testRedis(t)
			return NewRedisCache(rdb, prefix, opts), time.Sleep
		},
	}
}

// rotated returns a unit vector at cosine cos from axis 0, in dim dims.
func rotated(dim int, cos float64) []float32 {
	v := make([]float32, dim)
	v[0] = float32(cos)
	v[1] = float32(math.Sqrt(1 - cos*cos))
	return v
}

func testEntry(content string) Entry {
	return Entry{Content: content, FinishReason: "stop", Experts: []string{"banking", "travel"},
		Usage: CacheUsage{PromptTokens: 12, CompletionTokens: 34}, Model: "moegate",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func mustGet(t *testing.T, c Cache, scope, exact string, vec []float32) (Entry, Hit, bool) {
	t.Helper()
	e, h, ok, err := c.Get(context.Background(), scope, exact, NewVector(vec))
	if err != nil {
		t.Fatal(err)
	}
	return e, h, ok
}

func mustPut(t *testing.T, c Cache, scope, exact string, vec []float32, e Entry) {
	t.Helper()
	if err := c.Put(context.Background(), scope, exact, NewVector(vec), e); err != nil {
		t.Fatal(err)
	}
}

func TestCaches(t *testing.T) {
	for name, open := range cacheFactories() {
		t.Run(name, func(t *testing.T) {
			t.Run("exact", func(t *testing.T) {
				c, _ := open(t, CacheOptions{})
				want := testEntry("hello")
				mustPut(t, c, "s", "k1", nil, want)
				got, hit, ok := mustGet(t, c, "s", "k1", nil)
				if !ok || hit.Kind != HitExact || !reflect.DeepEqual(got, want) {
					t.Fatalf("Get = %+v, %+v, %v; want exact hit of %+v", got, hit, ok, want)
				}
				if _, _, ok := mustGet(t, c, "s", "k2", nil); ok {
					t.Error("hit for another exact key")
				}
				if _, _, ok := mustGet(t, c, "other", "k1", nil); ok {
					t.Error("hit for the same exact key in another scope")
				}
			})
			t.Run("semantic", func(t *testing.T) {
				c, _ := open(t, CacheOptions{Threshold: 0.95})
				mustPut(t, c, "s", "k1", rotated(8, 1), testEntry("near"))
				mustPut(t, c, "s", "k2", rotated(8, 0), testEntry("far"))
				got, hit, ok := mustGet(t, c, "s", "q", rotated(8, 0.97))
				if !ok || hit.Kind != HitSemantic || got.Content != "near" || math.Abs(hit.Similarity-0.97) > 1e-4 {
					t.Fatalf("Get = %q, %+v, %v; want semantic hit on near at 0.97", got.Content, hit, ok)
				}
				if _, hit, ok := mustGet(t, c, "s", "q", rotated(8, 0.9)); ok {
					t.Errorf("hit %+v below the threshold", hit)
				}
				if _, _, ok := mustGet(t, c, "other", "q", rotated(8, 1)); ok {
					t.Error("semantic hit across scopes")
				}
				if _, _, ok := mustGet(t, c, "s", "q", rotated(4, 1)); ok {
					t.Error("semantic hit with a vector of another dimension")
				}
				if _, _, ok := mustGet(t, c, "s", "q", make([]float32, 8)); ok {
					t.Error("semantic hit with a zero vector")
				}
				// A lower threshold accepts the 0.9 neighbour.
				c2, _ := open(t, CacheOptions{Threshold: 0.85})
				mustPut(t, c2, "s", "k1", rotated(8, 1), testEntry("near"))
				if _, hit, ok := mustGet(t, c2, "s", "q", rotated(8, 0.9)); !ok || hit.Kind != HitSemantic {
					t.Error("threshold 0.85: no hit at similarity 0.9")
				}
			})
			t.Run("ttl", func(t *testing.T) {
				c, pass := open(t, CacheOptions{TTL: 300 * time.Millisecond})
				mustPut(t, c, "s", "k", rotated(8, 1), testEntry("x"))
				pass(100 * time.Millisecond)
				if _, _, ok := mustGet(t, c, "s", "k", nil); !ok {
					t.Fatal("entry gone before its TTL")
				}
				pass(400 * time.Millisecond)
				if _, _, ok := mustGet(t, c, "s", "k", nil); ok {
					t.Error("exact hit after TTL")
				}
				if _, _, ok := mustGet(t, c, "s", "q", rotated(8, 1)); ok {
					t.Error("semantic hit after TTL")
				}
			})
			t.Run("max per scope", func(t *testing.T) {
				c, _ := open(t, CacheOptions{MaxPerScope: 2, Threshold: 0.99})
				for i := range 3 {
					v := make([]float32, 4)
					v[i] = 1
					mustPut(t, c, "s", fmt.Sprint("k", i), v, testEntry(fmt.Sprint(i)))
				}
				if _, _, ok := mustGet(t, c, "s", "q", []float32{1, 0, 0, 0}); ok {
					t.Error("oldest vector still a semantic candidate beyond MaxPerScope")
				}
				if e, _, ok := mustGet(t, c, "s", "q", []float32{0, 0, 1, 0}); !ok || e.Content != "2" {
					t.Error("newest vector not found")
				}
				if _, _, ok := mustGet(t, c, "s", "k0", nil); !ok {
					t.Error("entry dropped from the semantic list lost its exact key too")
				}
			})
			t.Run("large scope", func(t *testing.T) {
				// A scope fuller than MaxPerScope is searched through its
				// hash tables: a paraphrase of a recent question is found,
				// one of a question pushed out of the scope is not.
				c, _ := open(t, CacheOptions{MaxPerScope: 64})
				rng := rand.New(rand.NewPCG(7, 8))
				vecs := make([][]float32, 100)
				for i := range vecs {
					vecs[i] = make([]float32, 64)
					for j := range vecs[i] {
						vecs[i][j] = float32(rng.NormFloat64())
					}
					mustPut(t, c, "s", fmt.Sprint("k", i), vecs[i], testEntry(fmt.Sprint(i)))
				}
				paraphrase := func(v []float32) []float32 {
					out := make([]float32, len(v))
					for j := range v {
						out[j] = v[j] + float32(rng.NormFloat64()*0.1)
					}
					return out
				}
				for _, i := range []int{99, 80, 40} {
					if e, hit, ok := mustGet(t, c, "s", "q", paraphrase(vecs[i])); !ok || hit.Kind != HitSemantic || e.Content != fmt.Sprint(i) {
						t.Errorf("paraphrase of question %d: %q %+v %v", i, e.Content, hit, ok)
					}
				}
				if _, _, ok := mustGet(t, c, "s", "q", paraphrase(vecs[10])); ok {
					t.Error("a question pushed out of the scope was found semantically")
				}
			})
			t.Run("scope isolation", func(t *testing.T) {
				c, _ := open(t, CacheOptions{})
				req := CacheRequest{Model: "moegate", Messages: []CacheMessage{{"user", "Best travel card?"}}}
				vec := rotated(8, 1)
				all := Resolve(Tenant{Name: "acme"}, OptOut{}, testExperts, "general")
				sk, ek := CacheKeys(all, req)
				mustPut(t, c, sk, ek, vec, testEntry("answer using travel"))
				if _, _, ok := mustGet(t, c, sk, ek, vec); !ok {
					t.Fatal("no hit in the producing scope")
				}
				others := map[string]Scope{
					"expert excluded": Resolve(Tenant{Name: "acme"}, OptOut{ExcludeExperts: []string{"travel"}}, testExperts, "general"),
					"data excluded":   Resolve(Tenant{Name: "acme"}, OptOut{ExcludeData: []string{"globex"}}, testExperts, "general"),
					"other tenant":    Resolve(Tenant{Name: "globex"}, OptOut{}, testExperts, "general"),
				}
				for name, s := range others {
					sk2, ek2 := CacheKeys(s, req)
					if _, _, ok := mustGet(t, c, sk2, ek2, vec); ok {
						t.Errorf("%s: served an entry produced under a wider scope", name)
					}
				}
			})
		})
	}
}

func TestMemoryCacheLRU(t *testing.T) {
	c := NewMemoryCache(CacheOptions{MaxEntries: 3})
	for _, k := range []string{"a", "b", "c"} {
		mustPut(t, c, "s", k, rotated(4, 1), testEntry(k))
	}
	mustGet(t, c, "s", "a", nil) // a is now the most recent
	mustPut(t, c, "s", "d", rotated(4, 1), testEntry("d"))
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if _, _, ok := mustGet(t, c, "s", k, nil); ok != want {
			t.Errorf("after eviction %s present = %v, want %v", k, ok, want)
		}
	}
	// The evicted entry is no semantic candidate either: only c, a, d remain.
	mustPut(t, c, "s", "a", rotated(4, 1), testEntry("a2")) // replace in place
	if c.Len() != 3 {
		t.Errorf("replacing grew the cache to %d", c.Len())
	}
	if e, _, _ := mustGet(t, c, "s", "a", nil); e.Content != "a2" {
		t.Errorf("replaced entry = %q", e.Content)
	}
	// Mutating a returned entry does not change the cache.
	e, _, _ := mustGet(t, c, "s", "a", nil)
	e.Experts[0] = "mutated"
	if e2, _, _ := mustGet(t, c, "s", "a", nil); e2.Experts[0] != "banking" {
		t.Error("cache shares memory with callers")
	}
}

func TestRedisCacheShared(t *testing.T) {
	rdb, prefix := testRedis(t)
	rdb2 := redis.NewClient(&redis.Options{Addr: testRedisAddr})
	defer rdb2.Close()
	a, b := NewRedisCache(rdb, prefix, CacheOptions{}), NewRedisCache(rdb2, prefix, CacheOptions{})
	mustPut(t, a, "s", "k", rotated(8, 1), testEntry("from replica a"))
	if e, h, ok := mustGet(t, b, "s", "k", nil); !ok || h.Kind != HitExact || e.Content != "from replica a" {
		t.Errorf("replica b exact: %q %+v %v", e.Content, h, ok)
	}
	if e, h, ok := mustGet(t, b, "s", "q", rotated(8, 0.99)); !ok || h.Kind != HitSemantic || e.Content != "from replica a" {
		t.Errorf("replica b semantic: %q %+v %v", e.Content, h, ok)
	}
}

func TestRedisCacheFailure(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	c := NewRedisCache(rdb, "x", CacheOptions{})
	if _, _, ok, err := c.Get(context.Background(), "s", "k", NewVector(rotated(4, 1))); err == nil || ok {
		t.Errorf("Get with Redis down: ok=%v err=%v, want an error", ok, err)
	}
	if err := c.Put(context.Background(), "s", "k", nil, testEntry("x")); err == nil {
		t.Error("Put with Redis down succeeded")
	}
}

func TestCacheKeys(t *testing.T) {
	s := Resolve(Tenant{Name: "acme"}, OptOut{}, testExperts, "general")
	temp := 0.2
	base := CacheRequest{Model: "m", Temperature: &temp, Messages: []CacheMessage{{"system", "Be brief."}, {"user", "What is  APR?"}}}
	sk, ek := CacheKeys(s, base)
	variant := func(f func(r *CacheRequest)) CacheRequest {
		r := base
		r.Messages = append([]CacheMessage(nil), base.Messages...)
		f(&r)
		return r
	}
	same := variant(func(r *CacheRequest) { r.Messages[1] = CacheMessage{"User", " What is APR?\n"} })
	if sk2, ek2 := CacheKeys(s, same); sk2 != sk || ek2 != ek {
		t.Error("whitespace or role case changed the keys")
	}
	paraphrase := variant(func(r *CacheRequest) { r.Messages[1].Content = "Explain APR" })
	if sk2, ek2 := CacheKeys(s, paraphrase); sk2 != sk || ek2 == ek {
		t.Error("a new last message must keep the scope key and change the exact key")
	}
	t2 := 0.9
	for name, r := range map[string]CacheRequest{
		"system prompt": variant(func(r *CacheRequest) { r.Messages[0].Content = "Be verbose." }),
		"temperature":   variant(func(r *CacheRequest) { r.Temperature = &t2 }),
		"no temp":       variant(func(r *CacheRequest) { r.Temperature = nil }),
		"model":         variant(func(r *CacheRequest) { r.Model = "other" }),
		"max tokens":    variant(func(r *CacheRequest) { r.MaxTokens = 5 }),
		"stop":          variant(func(r *CacheRequest) { r.Stop = []string{"\n"} }),
		"extra":         variant(func(r *CacheRequest) { r.Extra = `{"aggregate":"synthesize"}` }),
	} {
		if sk2, ek2 := CacheKeys(s, r); sk2 == sk || ek2 == ek {
			t.Errorf("%s did not change both keys", name)
		}
	}
	other := Resolve(Tenant{Name: "acme"}, OptOut{ExcludeData: []string{"acme"}}, testExperts, "general")
	if sk2, _ := CacheKeys(other, base); sk2 == sk {
		t.Error("scope did not change the scope key")
	}
}

// benchmarkCacheWorkload replays 1,000 requests drawn from 100 distinct
// queries: half repeat a query word for word, half are paraphrases (new
// wording, embedding at cosine ~0.97 from the original). A miss is answered
// and Put, as the gateway does.
func benchmarkCacheWorkload(b *testing.B, open func() Cache) {
	const (
		dim      = 256
		distinct = 100
		requests = 1000
	)
	rng := rand.New(rand.NewPCG(1, 2))
	bases := make([][]float32, distinct)
	for i := range bases {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		bases[i] = unit(v)
	}
	type request struct {
		base  int
		exact string
		vec   []float32
	}
	reqs := make([]request, requests)
	for i := range reqs {
		q := rng.IntN(distinct)
		r := request{base: q, exact: fmt.Sprint("q", q), vec: bases[q]}
		if rng.IntN(2) == 0 {
			r.exact = fmt.Sprintf("q%d-paraphrase%d", q, i)
			r.vec = make([]float32, dim)
			for j := range r.vec {
				r.vec[j] = bases[q][j] + float32(rng.NormFloat64()*0.25/math.Sqrt(dim))
			}
		}
		reqs[i] = r
	}
	ctx := context.Background()
	var hits, exact, wrong, total int
	b.ResetTimer()
	for b.Loop() {
		c := open()
		scope := fmt.Sprint("bench-", total) // a fresh scope per round: a cold cache
		for _, r := range reqs {
			e, h, ok, err := c.Get(ctx, scope, r.exact, NewVector(r.vec))
			if err != nil {
				b.Fatal(err)
			}
			total++
			if ok {
				hits++
				if h.Kind == HitExact {
					exact++
				}
				if e.Content != fmt.Sprint("answer ", r.base) {
					wrong++
				}
				continue
			}
			if err := c.Put(ctx, scope, r.exact, NewVector(r.vec), Entry{Content: fmt.Sprint("answer ", r.base)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(100*float64(hits)/float64(total), "hit%")
	b.ReportMetric(100*float64(exact)/float64(total), "exact%")
	b.ReportMetric(100*float64(wrong)/float64(total), "wrong%")
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkCacheMemory(b *testing.B) {
	benchmarkCacheWorkload(b, func() Cache { return NewMemoryCache(CacheOptions{}) })
}

func BenchmarkCacheRedis(b *testing.B) {
	rdb, prefix := testRedis(b)
	c := NewRedisCache(rdb, prefix, CacheOptions{TTL: time.Minute})
	benchmarkCacheWorkload(b, func() Cache { return c })
}

// TestCacheKeyer checks that a CacheKeyer gives the keys CacheKeys gives,
// whatever it remembers, and that those keys are the ones earlier versions
// gave (replicas of different versions share Redis entries by them).
func TestCacheKeyer(t *testing.T) {
	acme := Resolve(Tenant{Name: "acme"}, OptOut{}, testExperts, "general")
	noData := Resolve(Tenant{Name: "acme"}, OptOut{ExcludeData: []string{"acme"}}, testExperts, "general")
	temp := 0.2
	q := []CacheMessage{{"user", "What is APR?"}}
	long := []CacheMessage{{"system", strings.Repeat("Be brief. ", 60)}, {"user", "What is APR?"}}
	topP, seed := 0.125, 12345
	// Lengths and numbers of one, two and three digits, a Unicode space
	// and a role to normalize.
	everyField := CacheRequest{Model: "auto", Temperature: &temp, TopP: &topP, MaxTokens: 1024, Seed: &seed,
		Stop: []string{"\n", "END OF ANSWER, THANKS"}, Extra: `aggregate=best routed=["banking" "travel"] passages=[] format= params=`,
		Messages: []CacheMessage{{" System ", strings.Repeat("Be brief. ", 12)}, {"assistant", "Sure."}, {"USER", "What\u00a0is  APR?\t"}}}
	tests := []struct {
		name  string
		s     Scope
		r     CacheRequest
		scope string // golden keys (the code before CacheKeyer)
		exact string
	}{
		{"one message", acme, CacheRequest{Model: "auto", Messages: q},
			"a3ad85c8e54458fb7c326d8a19b690d1", "f3b0474f79d3a31852acaad5b34022f5"},
		{"other scope", noData, CacheRequest{Model: "auto", Messages: q},
			"016fd501a316add580d1e9dd3dea14da", "6e4313fa41c6c2cb9eb150e3c8c20583"},
		{"other model", acme, CacheRequest{Model: "banking", Messages: q},
			"c460352063a48248db1df0a520795af3", "2d6cb2792dd20cac05e7b2578e625801"},
		{"sampling", acme, CacheRequest{Model: "auto", Temperature: &temp, Messages: q},
			"412b05c3c2666ec5c7a234b6870ded0c", "bdf582d3409b6ef425900727c23b74ce"},
		{"other question", acme, CacheRequest{Model: "auto", Messages: []CacheMessage{{"user", "Explain APR"}}},
			"a3ad85c8e54458fb7c326d8a19b690d1", "39e2f8b50c4f63b222816faf47165677"},
		{"history", acme, CacheRequest{Model: "auto", Messages: []CacheMessage{{"system", "Be brief."}, {"user", "What is APR?"}}},
			"78d203b1c58868b4abf2ca52ddb9e26f", "228cad90d4864b928f2b6d0ac0208af7"},
		{"history too long to remember", acme, CacheRequest{Model: "auto", Messages: long},
			"259ff0a570434ef76142a207d0efdd4e", "aeeea6dbb39bbef34e671ea84e443e7e"},
		{"no messages", acme, CacheRequest{Model: "auto"},
			"a3ad85c8e54458fb7c326d8a19b690d1", "905283bac79c630cccf6d5ed903959e8"},
		{"every field", acme, everyField,
			"cd1bb19f389bc27a1c88af36621ced78", "00ec8fd866ec72a3799eabbbeedc3740"},
	}
	var k CacheKeyer
	for round := range 3 {
		if round == 2 {
			// A full memo starts over.
			for i := range keyerEntries {
				k.Keys(acme, CacheRequest{Model: strconv.Itoa(i)})
			}
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/round %d", tt.name, round), func(t *testing.T) {
				sk, ek := k.Keys(tt.s, tt.r)
				if sk != tt.scope || ek != tt.exact {
					t.Errorf("keys %q %q, want %q %q", sk, ek, tt.scope, tt.exact)
				}
				if sk, ek := CacheKeys(tt.s, tt.r); sk != tt.scope || ek != tt.exact {
					t.Errorf("CacheKeys %q %q, want %q %q", sk, ek, tt.scope, tt.exact)
				}
			})
		}
	}
	if n := len(k.memo); n > keyerEntries {
		t.Errorf("memo holds %d inputs, more than %d", n, keyerEntries)
	}
}

// BenchmarkCacheKeyer computes the keys of a routed request whose scope
// is remembered: one user message, ten experts allowed.
func BenchmarkCacheKeyer(b *testing.B) {
	var experts []ExpertInfo
	for i := range 10 {
		experts = append(experts, ExpertInfo{Name: fmt.Sprintf("expert_%d", i), Enabled: true})
	}
	s := Resolve(Tenant{Name: "default"}, OptOut{}, experts, "expert_0")
	r := CacheRequest{Model: "auto", Extra: `aggregate=best routed=["expert_3"] passages=[] format= params=`,
		Messages: []CacheMessage{{"user", "How do I raise the credit limit on my card before travelling abroad next month?"}}}
	var k CacheKeyer
	for b.Loop() {
		k.Keys(s, r)
	}
}

// A CacheKeyer shared by concurrent requests gives each the keys
// CacheKeys gives, while its memo fills and starts over (run with -race).
func TestCacheKeyerConcurrent(t *testing.T) {
	s := Resolve(Tenant{Name: "acme"}, OptOut{}, testExperts, "general")
	var k CacheKeyer
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range keyerEntries {
				r := CacheRequest{Model: strconv.Itoa((i * (g + 1)) % (keyerEntries / 2)), Messages: []CacheMessage{{"user", "hi"}}}
				sk, ek := k.Keys(s, r)
				if wsk, wek := CacheKeys(s, r); sk != wsk || ek != wek {
					errs <- fmt.Errorf("model %s: keys %s %s, want %s %s", r.Model, sk, ek, wsk, wek)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
