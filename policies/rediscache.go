package policies

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/redis/go-redis/v9"
)

// RedisCache is a Cache shared by every replica using the same Redis.
//
// An entry is one JSON string with a TTL. For semantic lookup each scope key
// has a list of its newest MaxPerScope (exact key, vector) pairs, trimmed on
// every Put and expiring with its newest entry; Get reads the list and
// compares in Go. That costs one LRANGE of at most MaxPerScope vectors per
// exact miss, but needs no Redis module, and scopes are narrow (one tenant,
// one set of allowed experts, one conversation prefix), so lists stay short.
// Redis's own maxmemory policy bounds the total size.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
	opts   CacheOptions
}

// NewRedisCache returns a cache on rdb whose keys start with prefix
// (default "moegate") followed by ":cache:".
func NewRedisCache(rdb redis.UniversalClient, prefix string, opts CacheOptions) *RedisCache {
	if prefix == "" {
		prefix = "moegate"
	}
	return &RedisCache{rdb: rdb, prefix: prefix + ":cache:", opts: opts.withDefaults()}
}

func (c *RedisCache) entryKey(scopeKey, exactKey string) string {
	return c.prefix + "e:" + scopeKey + ":" + exactKey
}

// vecKey is a scope's list of vectors. Lists of the earlier, dense-only
// item encoding (under "v:") are not read and expire.
func (c *RedisCache) vecKey(scopeKey string) string { return c.prefix + "v2:" + scopeKey }

// Get implements Cache.
func (c *RedisCache) Get(ctx context.Context, scopeKey, exactKey string, vec []float32) (Entry, Hit, bool, error) {
	e, ok, err := c.load(ctx, c.entryKey(scopeKey, exactKey))
	if err != nil || ok {
		return e, Hit{Kind: HitExact, Similarity: 1}, ok && err == nil, err
	}
	q := unit(vec)
	if q == nil || c.opts.Threshold > 1 {
		return Entry{}, Hit{}, false, nil
	}
	items, err := c.rdb.LRange(ctx, c.vecKey(scopeKey), 0, int64(c.opts.MaxPerScope)-1).Result()
	if err != nil {
		return Entry{}, Hit{}, false, fmt.Errorf("policies: redis cache: %w", err)
	}
	type cand struct {
		exact string
		sim   float64
	}
	var cands []cand
	for _, it := range items {
		exact, sim, ok := vecItemDot(it, q)
		if ok && sim >= c.opts.Threshold {
			cands = append(cands, cand{exact, sim})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return 0
	})
	// The best candidates' entries may have expired before the list did.
	for i, cd := range cands {
		if i == 3 {
			break
		}
		e, ok, err := c.load(ctx, c.entryKey(scopeKey, cd.exact))
		if err != nil {
			return Entry{}, Hit{}, false, err
		}
		if ok {
			return e, Hit{Kind: HitSemantic, Similarity: min(cd.sim, 1)}, true, nil
		}
	}
	return Entry{}, Hit{}, false, nil
}

func (c *RedisCache) load(ctx context.Context, key string) (Entry, bool, error) {
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("policies: redis cache: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, false, fmt.Errorf("policies: redis cache: decoding entry: %w", err)
	}
	return e, true, nil
}

// Put implements Cache.
func (c *RedisCache) Put(ctx context.Context, scopeKey, exactKey string, vec []float32, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	u := unit(vec)
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.entryKey(scopeKey, exactKey), b, c.opts.TTL)
		if u != nil && c.opts.Threshold <= 1 {
			vk := c.vecKey(scopeKey)
			p.LPush(ctx, vk, encodeVecItem(exactKey, u))
			p.LTrim(ctx, vk, 0, int64(c.opts.MaxPerScope)-1)
			p.PExpire(ctx, vk, c.opts.TTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("policies: redis cache: %w", err)
	}
	return nil
}

// encodeVecItem packs an exact key and a unit vector: uvarint key length,
// key, then either 'd' and the vector's float32s, or, when at most one
// coordinate in sparseRatio is non-zero (the local embedder's vectors),
// 's', the uvarint dimension and each non-zero coordinate as a uint32
// index and a float32, so that an item (and a lookup reading a scope's
// list) costs what the vector holds: a fifth of the dense size for the
// default embedder. Numbers are little-endian.
func encodeVecItem(exact string, v []float32) []byte {
	nnz := 0
	for _, x := range v {
		if x != 0 {
			nnz++
		}
	}
	sparse := nnz*sparseRatio <= len(v)
	size := 4 * len(v)
	if sparse {
		size = binary.MaxVarintLen64 + 8*nnz
	}
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(exact)+1+size), uint64(len(exact)))
	b = append(b, exact...)
	if !sparse {
		b = append(b, 'd')
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	b = append(b, 's')
	b = binary.AppendUvarint(b, uint64(len(v)))
	for i, x := range v {
		if x != 0 {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

// vecItemDot parses an item made by encodeVecItem and returns its exact key
// and its dot product with q, without allocating: this loop is the cost of
// a semantic lookup. ok is false for a malformed item or another dimension.
func vecItemDot(s string, q []float32) (exact string, sim float64, ok bool) {
	n, k := uvarint(s)
	if k <= 0 || n >= uint64(len(s)-k) { // the key and a kind byte
		return "", 0, false
	}
	exact = s[k : k+int(n)]
	kind, b := s[k+int(n)], s[k+int(n)+1:]
	var sum float32
	switch kind {
	case 'd':
		if len(b) != 4*len(q) {
			return "", 0, false
		}
		for i, x := range q {
			sum += x * math.Float32frombits(le32(b[4*i:]))
		}
	case 's':
		dim, k := uvarint(b)
		if k <= 0 || dim != uint64(len(q)) || (len(b)-k)%8 != 0 {
			return "", 0, false
		}
		for b = b[k:]; len(b) > 0; b = b[8:] {
			i := le32(b)
			if uint64(i) >= dim {
				return "", 0, false
			}
			sum += q[i] * math.Float32frombits(le32(b[4:]))
		}
	default:
		return "", 0, false
	}
	return exact, float64(sum), true
}

// uvarint decodes a uvarint at the start of s; k is the bytes it took, 0
// or less when s does not start with one.
func uvarint(s string) (v uint64, k int) {
	for shift := 0; k < len(s) && shift <= 63; shift += 7 {
		c := s[k]
		k++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, k
		}
	}
	return 0, 0
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
