package policies

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// MemoryCache is an in-process Cache: LRU bounded by MaxEntries, entries
// expiring after TTL, semantic lookup by a linear scan of the newest
// MaxPerScope vectors of the scope.
type MemoryCache struct {
	opts CacheOptions
	now  func() time.Time

	mu     sync.Mutex
	lru    *list.List               // of *memEntry, most recently used first
	items  map[string]*list.Element // by scopeKey + "\x00" + exactKey
	scopes map[string][]*list.Element
}

type memEntry struct {
	key     string
	scope   string
	vec     []float32 // unit length; nil: not semantically findable
	e       Entry
	expires time.Time
}

// NewMemoryCache returns an empty in-process cache.
func NewMemoryCache(opts CacheOptions) *MemoryCache {
	return &MemoryCache{
		opts:   opts.withDefaults(),
		now:    time.Now,
		lru:    list.New(),
		items:  map[string]*list.Element{},
		scopes: map[string][]*list.Element{},
	}
}

// Len returns the number of entries held, expired ones included until they
// are noticed.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, scopeKey, exactKey string, vec []float32) (Entry, Hit, bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[scopeKey+"\x00"+exactKey]; ok {
		me := el.Value.(*memEntry)
		if now.Before(me.expires) {
			c.lru.MoveToFront(el)
			return cloneEntry(me.e), Hit{Kind: HitExact, Similarity: 1}, true, nil
		}
		c.remove(el)
	}
	q := unit(vec)
	if q == nil || c.opts.Threshold > 1 {
		return Entry{}, Hit{}, false, nil
	}
	var best *list.Element
	bestSim := c.opts.Threshold
	for _, el := range slices.Clone(c.scopes[scopeKey]) {
		me := el.Value.(*memEntry)
		if !now.Before(me.expires) {
			c.remove(el)
			continue
		}
		if len(me.vec) != len(q) {
			continue
		}
		if sim := dot(q, me.vec); sim >= bestSim {
			best, bestSim = el, sim
		}
	}
	if best == nil {
		return Entry{}, Hit{}, false, nil
	}
	c.lru.MoveToFront(best)
	return cloneEntry(best.Value.(*memEntry).e), Hit{Kind: HitSemantic, Similarity: min(bestSim, 1)}, true, nil
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, scopeKey, exactKey string, vec []float32, e Entry) error {
	me := &memEntry{
		key:     scopeKey + "\x00" + exactKey,
		scope:   scopeKey,
		vec:     unit(vec),
		e:       cloneEntry(e),
		expires: c.now().Add(c.opts.TTL),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[me.key]; ok {
		c.remove(old)
	}
	el := c.lru.PushFront(me)
	c.items[me.key] = el
	if me.vec != nil {
		s := append(c.scopes[scopeKey], el)
		if len(s) > c.opts.MaxPerScope {
			// The oldest vectors stop being candidates; their entries stay
			// reachable by exact key.
			for _, old := range s[:len(s)-c.opts.MaxPerScope] {
				old.Value.(*memEntry).vec = nil
			}
			s = slices.Clone(s[len(s)-c.opts.MaxPerScope:])
		}
		c.scopes[scopeKey] = s
	}
	for c.lru.Len() > c.opts.MaxEntries {
		c.remove(c.lru.Back())
	}
	return nil
}

// remove drops el from every index. c.mu is held.
func (c *MemoryCache) remove(el *list.Element) {
	me := el.Value.(*memEntry)
	c.lru.Remove(el)
	delete(c.items, me.key)
	if me.vec == nil {
		return
	}
	s := slices.DeleteFunc(c.scopes[me.scope], func(x *list.Element) bool { return x == el })
	if len(s) == 0 {
		delete(c.scopes, me.scope)
	} else {
		c.scopes[me.scope] = s
	}
}
