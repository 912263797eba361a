package policies

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// RedisCache is a Cache shared by every replica using the same Redis.
//
// An entry is one JSON string with a TTL. For semantic lookup each scope key
// indexes its newest MaxPerScope vectors as the in-process cache does:
// their items in a hash by exact key, their exact keys in age order (to
// drop the oldest), and each exact key with its 30-bit signature in one
// bucket list per hash table (random hyperplanes, at most bucketCap
// newest per bucket). A lookup reads the buckets of the query's signature
// and their neighbours in one round trip, skips far signatures, and
// compares only the near candidates' vectors, fetched in a second: its
// cost is bounded whatever the scope holds, and no Redis module is
// needed. Redis's own maxmemory policy bounds the total size.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
	opts   CacheOptions
	planes planeSets
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

// The semantic index of a scope: its vectors by exact key, their exact
// keys newest first, and the hash tables' buckets.
func (c *RedisCache) vecsKey(scopeKey string) string  { return c.prefix + "h:" + scopeKey }
func (c *RedisCache) orderKey(scopeKey string) string { return c.prefix + "o:" + scopeKey }
func (c *RedisCache) bucketKey(scopeKey string, table int, bucket uint32) string {
	return c.prefix + "b:" + scopeKey + ":" + strconv.Itoa(table) + ":" + strconv.FormatUint(uint64(bucket), 16)
}

// Get implements Cache.
func (c *RedisCache) Get(ctx context.Context, scopeKey, exactKey string, v *Vector) (Entry, Hit, bool, error) {
	e, ok, err := c.load(ctx, c.entryKey(scopeKey, exactKey))
	if err != nil || ok {
		return e, Hit{Kind: HitExact, Similarity: 1}, ok && err == nil, err
	}
	u := v.unit()
	if u == nil || c.opts.Threshold > 1 {
		return Entry{}, Hit{}, false, nil
	}
	qh, _ := v.signature(&c.planes, u)
	var lists []*redis.StringSliceCmd
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for t := range lshTables {
			for probe := -1; probe < lshBits; probe++ {
				h := qh[t]
				if probe >= 0 {
					h ^= 1 << probe
				}
				lists = append(lists, p.LRange(ctx, c.bucketKey(scopeKey, t, h), 0, -1))
			}
		}
		return nil
	})
	if err != nil {
		return Entry{}, Hit{}, false, fmt.Errorf("policies: redis cache: %w", err)
	}
	var near []string
	for _, l := range lists {
		for _, it := range l.Val() {
			sig, exact, ok := decodeBucketItem(it)
			if ok && hamming(&qh, &sig) <= maxSignatureDistance && !slices.Contains(near, exact) {
				near = append(near, exact)
			}
		}
	}
	if len(near) == 0 {
		return Entry{}, Hit{}, false, nil
	}
	items, err := c.rdb.HMGet(ctx, c.vecsKey(scopeKey), near...).Result()
	if err != nil {
		return Entry{}, Hit{}, false, fmt.Errorf("policies: redis cache: %w", err)
	}
	type cand struct {
		exact string
		sim   float64
	}
	var cands []cand
	q := u.dense() // stored items are compared with it coordinate by coordinate
	for _, it := range items {
		s, ok := it.(string) // nil: dropped from the scope since
		if !ok {
			continue
		}
		exact, sim, ok := vecItemDot(s, q)
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
	// The best candidates' entries may have expired before the index did.
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

// putScript stores an entry and indexes its vector, atomically: KEYS are
// the entry, the scope's vectors, its age order and the entry's bucket in
// each table; ARGV the entry, the TTL in ms, the exact key, the vector
// item, MaxPerScope, bucketCap and the bucket item. The oldest vectors
// beyond MaxPerScope leave the index (their entries stay reachable by
// exact key); bucket items whose vector left are skipped by readers.
var putScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('LREM', KEYS[3], 0, ARGV[3])
redis.call('LPUSH', KEYS[3], ARGV[3])
local max = tonumber(ARGV[5])
while redis.call('LLEN', KEYS[3]) > max do
  redis.call('HDEL', KEYS[2], redis.call('RPOP', KEYS[3]))
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
for i = 4, #KEYS do
  redis.call('LPUSH', KEYS[i], ARGV[7])
  redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[6]) - 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
`)

// Put implements Cache.
func (c *RedisCache) Put(ctx context.Context, scopeKey, exactKey string, v *Vector, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	u := v.unit()
	if u == nil || c.opts.Threshold > 1 {
		err = c.rdb.Set(ctx, c.entryKey(scopeKey, exactKey), b, c.opts.TTL).Err()
	} else {
		sig, _ := v.signature(&c.planes, u)
		keys := []string{c.entryKey(scopeKey, exactKey), c.vecsKey(scopeKey), c.orderKey(scopeKey)}
		for t := range lshTables {
			keys = append(keys, c.bucketKey(scopeKey, t, sig[t]))
		}
		err = putScript.Run(ctx, c.rdb, keys, b, c.opts.TTL.Milliseconds(), exactKey, encodeVecItem(exactKey, u),
			c.opts.MaxPerScope, bucketCap, encodeBucketItem(sig, exactKey)).Err()
	}
	if err != nil {
		return fmt.Errorf("policies: redis cache: %w", err)
	}
	return nil
}

// encodeBucketItem packs a signature (little-endian uint32s) and an exact
// key.
func encodeBucketItem(sig [lshTables]uint32, exact string) []byte {
	b := make([]byte, 0, 4*lshTables+len(exact))
	for _, h := range sig {
		b = binary.LittleEndian.AppendUint32(b, h)
	}
	return append(b, exact...)
}

func decodeBucketItem(s string) (sig [lshTables]uint32, exact string, ok bool) {
	if len(s) < 4*lshTables {
		return sig, "", false
	}
	for t := range sig {
		sig[t] = le32(s[4*t:])
	}
	return sig, s[4*lshTables:], true
}

// encodeVecItem packs an exact key and a unit vector: uvarint key length,
// key, then either 'd' and the vector's float32s, or, when at most one
// coordinate in sparseRatio is non-zero (the local embedder's vectors),
// 's', the uvarint dimension and each non-zero coordinate as a uint32
// index and a float32, so that an item (and a lookup reading a scope's
// list) costs what the vector holds: a fifth of the dense size for the
// default embedder. Numbers are little-endian.
func encodeVecItem(exact string, v *cacheVec) []byte {
	size := 4 * len(v.val)
	if v.idx != nil {
		size = binary.MaxVarintLen64 + 8*len(v.idx)
	}
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(exact)+1+size), uint64(len(exact)))
	b = append(b, exact...)
	if v.idx == nil {
		b = append(b, 'd')
		for _, x := range v.val {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	b = append(b, 's')
	b = binary.AppendUvarint(b, uint64(v.dim))
	for k, i := range v.idx {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v.val[k]))
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
