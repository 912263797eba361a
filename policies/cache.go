package policies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Cache stores finished answers for replay. Every entry lives under a scope
// key (see CacheKeys) that includes the tenant and everything the request's
// Scope allows, so a request is never served an answer it could not have
// produced itself. Exact lookups match the whole normalized request;
// semantic lookups match the query embedding within the same scope key.
type Cache interface {
	// Get finds an entry: exactKey first, then (when vec is not nil) the
	// most similar entry of scopeKey at or above the threshold. ok is false
	// on a miss; an error means the cache could not be consulted (callers
	// treat it as a miss).
	Get(ctx context.Context, scopeKey, exactKey string, vec *Vector) (e Entry, hit Hit, ok bool, err error)
	// Put stores e; vec (may be nil) makes it findable by similarity.
	Put(ctx context.Context, scopeKey, exactKey string, vec *Vector, e Entry) error
}

// Hit kinds.
const (
	HitExact    = "exact"
	HitSemantic = "semantic"
)

// Hit says how an entry was found.
type Hit struct {
	Kind       string  `json:"kind"`
	Similarity float64 `json:"similarity,omitempty"`
}

// CacheUsage is the token usage of the original answer.
type CacheUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Entry is what is needed to replay an answer.
type Entry struct {
	Content      string     `json:"content"`
	FinishReason string     `json:"finish_reason"`
	Experts      []string   `json:"experts"`
	Usage        CacheUsage `json:"usage"`
	Model        string     `json:"model"`
	CreatedAt    time.Time  `json:"created_at"`
}

// CacheOptions tune a cache; zero values take the defaults.
type CacheOptions struct {
	TTL        time.Duration // default 1h
	MaxEntries int           // in-process LRU capacity, default 10,000
	// Threshold is the least cosine similarity of a semantic hit, default
	// 0.95. Semantic lookup is off when it is above 1.
	Threshold float64
	// MaxPerScope bounds the vectors kept as semantic candidates per
	// scope key, newest kept, default 256.
	MaxPerScope int
	// MaxBytes bounds the in-process cache's memory, counting each entry's
	// answer, keys and vector, default 64 MiB.
	MaxBytes int64
}

func (o CacheOptions) withDefaults() CacheOptions {
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
	if o.Threshold == 0 {
		o.Threshold = 0.95
	}
	if o.MaxPerScope <= 0 {
		o.MaxPerScope = 256
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	return o
}

// CacheMessage is one chat message as the cache key sees it.
type CacheMessage struct {
	Role    string
	Content string
}

// CacheRequest is everything about a request that can change its answer,
// apart from the scope.
type CacheRequest struct {
	Model       string
	Messages    []CacheMessage
	Temperature *float64
	TopP        *float64
	MaxTokens   int
	Stop        []string
	Seed        *int
	// Extra holds anything else that changes the answer, already encoded
	// (tools, response_format, aggregate mode, top_k, retrieval mode...).
	Extra string
}

// CacheKeys returns the keys to use with a Cache for request r in scope s.
//
// scopeKey covers the scope, the model, the sampling parameters and every
// message but the last: semantic matches are only made between requests
// that agree on all of these and differ only in the wording of the last
// message (whose embedding is the vec passed to Get and Put). exactKey
// covers the whole request, whitespace-normalized.
func CacheKeys(s Scope, r CacheRequest) (scopeKey, exactKey string) {
	return (*CacheKeyer)(nil).Keys(s, r)
}

// CacheKeyer computes CacheKeys, remembering the scope keys of recent
// scopes. Requests repeat a few scopes (tenant, model, parameters, routed
// experts, a short or no history) while their last message is new, so
// most of them need one SHA-256 (the exact key) instead of three (the
// scope's, the scope key's and the exact key's: 16k instructions of the
// 590k of a routed request). The keys are the same bytes CacheKeys
// gives, so replicas sharing Redis agree on them. The zero value is ready;
// a nil CacheKeyer remembers nothing.
type CacheKeyer struct {
	mu   sync.Mutex
	memo map[string]string // scope and request fields (keyerInput) → scope key
}

const (
	// keyerMaxInput is the longest input remembered: a long conversation's
	// history grows with each turn and would not be asked for again.
	keyerMaxInput = 512
	// keyerEntries bounds the memo (under 1 MB); when full it starts over.
	keyerEntries = 2048
)

// Keys returns CacheKeys(s, r).
func (k *CacheKeyer) Keys(s Scope, r CacheRequest) (scopeKey, exactKey string) {
	// Fields are appended to one buffer and hashed at once: a hash.Hash
	// written field by field costs an allocation per write.
	var arr [1024]byte
	b := s.appendKeyFields(arr[:0])
	scopeEnd := len(b)
	b = appendRequestFields(b, r)
	scopeKey, ok := k.lookup(b)
	if !ok {
		var arr2 [1024]byte
		sb := appendField(arr2[:0], "scope", keyDigest(b[:scopeEnd]))
		scopeKey = keyDigest(append(sb, b[scopeEnd:]...))
		k.remember(b, scopeKey)
	}

	b = appendField(b[:0], "scope_key", scopeKey)
	if n := len(r.Messages); n > 0 {
		b = appendMessage(b, "last", r.Messages[n-1])
	}
	return scopeKey, keyDigest(b)
}

// keyDigest is the hex of the first 16 bytes of b's SHA-256: every cache
// key (and Scope.Key) is one, so replicas sharing Redis compute the same.
func keyDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (k *CacheKeyer) lookup(in []byte) (string, bool) {
	if k == nil || len(in) > keyerMaxInput {
		return "", false
	}
	k.mu.Lock()
	key, ok := k.memo[string(in)]
	k.mu.Unlock()
	return key, ok
}

func (k *CacheKeyer) remember(in []byte, scopeKey string) {
	if k == nil || len(in) > keyerMaxInput {
		return
	}
	k.mu.Lock()
	if k.memo == nil || len(k.memo) >= keyerEntries {
		k.memo = make(map[string]string, 64)
	}
	k.memo[string(in)] = scopeKey
	k.mu.Unlock()
}

// appendRequestFields appends what the scope key covers of r after the
// scope: the model, the sampling parameters, Extra and every message but
// the last.
func appendRequestFields(b []byte, r CacheRequest) []byte {
	b = appendField(b, "model", r.Model)
	b = appendField(b, "temperature", optFloat(r.Temperature))
	b = appendField(b, "top_p", optFloat(r.TopP))
	b = appendField(b, "max_tokens", strconv.Itoa(r.MaxTokens))
	b = appendField(b, "stop", r.Stop...)
	seed := "-"
	if r.Seed != nil {
		seed = strconv.Itoa(*r.Seed)
	}
	b = appendField(b, "seed", seed)
	b = appendField(b, "extra", r.Extra)
	for i, m := range r.Messages {
		if i == len(r.Messages)-1 {
			break
		}
		b = appendMessage(b, "message", m)
	}
	return b
}

// appendField appends tag, the count of items and each item with its
// length, so that no two different field lists encode alike.
func appendField(b []byte, tag string, items ...string) []byte {
	b = append(b, tag...)
	b = append(b, ':')
	b = appendCount(b, len(items))
	for _, it := range items {
		b = appendCount(b, len(it))
		b = append(b, it...)
	}
	return b
}

// appendCount appends n in decimal and ':'. Counts and lengths are mostly
// below 100, which it writes without strconv's calls (half the cost of
// the scope's fields).
func appendCount(b []byte, n int) []byte {
	switch {
	case uint(n) < 10:
		return append(b, byte('0'+n), ':')
	case uint(n) < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10), ':')
	}
	return append(strconv.AppendInt(b, int64(n), 10), ':')
}

// appendMessage appends a message as the field tag of its normalized role
// and text.
func appendMessage(b []byte, tag string, m CacheMessage) []byte {
	b = append(b, tag...)
	b = append(b, ":2:"...) // two items: role and text
	role := normalizeRole(m.Role)
	b = strconv.AppendInt(b, int64(len(role)), 10)
	b = append(b, ':')
	b = append(b, role...)
	// The text's length precedes it but is known only once it is
	// normalized: normalize in place, then slide it after its length.
	at := len(b)
	b = appendNormalized(b, m.Content)
	var num [20]byte
	prefix := append(strconv.AppendInt(num[:0], int64(len(b)-at), 10), ':')
	return slices.Insert(b, at, prefix...)
}

func optFloat(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func normalizeRole(r string) string { return strings.ToLower(strings.TrimSpace(r)) }

// appendNormalized appends s with runs of white space collapsed to one
// space and none at the ends (strings.Join(strings.Fields(s), " ")):
// spacing never changes an answer worth caching separately.
func appendNormalized(b []byte, s string) []byte {
	// The text is written in place of the append calls' per-byte
	// capacity checks (20 instructions a byte): it never grows, each
	// space written standing for at least one byte of white space.
	start := len(b)
	b = slices.Grow(b, len(s))
	out := b[start : start+len(s)]
	w := 0
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace[c] {
				space = true
				i++
				continue
			}
			if space && w > 0 {
				out[w] = ' '
				w++
			}
			space = false
			out[w] = c
			w++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = true
		} else {
			if space && w > 0 {
				out[w] = ' '
				w++
			}
			space = false
			w += copy(out[w:], s[i:i+size])
		}
		i += size
	}
	return b[:start+w]
}

var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

func cloneEntry(e Entry) Entry {
	e.Experts = slices.Clone(e.Experts)
	return e
}
