package requestlog

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// Memory is a Log in this process, bounded by entry count (the oldest
// entry is evicted first) and by age. It is safe for concurrent use.
//
// Records live in one ring of slots, found through a map of their keys'
// hashes: a list element, an entry object and a map slot of two strings
// per record were 300 bytes and three pointers for the garbage collector
// to trace, on the path of every routed request. A record put again
// takes the next slot and frees its old one, which stays empty until the
// ring comes round: a log whose request ids repeat holds fewer than max.
type Memory struct {
	max  int
	ttl  time.Duration
	seed maphash.Seed

	mu    sync.Mutex
	slots []memSlot        // up to max records; once full, next is the oldest
	next  int              // the slot the next record takes
	byKey map[uint64]int32 // hash of tenant and request id → slot
}

type memKey struct{ tenant, request string }

// memSlot is one record; RequestID "" marks a free slot (a record always
// has one).
type memSlot struct {
	r       Record
	hash    uint64
	expires int64 // unix nanoseconds
}

// NewMemory keeps at most max records (0: 10,000) for ttl (0: DefaultTTL).
func NewMemory(max int, ttl time.Duration) *Memory {
	if max <= 0 {
		max = 10000
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Memory{max: max, ttl: ttl, seed: maphash.MakeSeed(), byKey: map[uint64]int32{}}
}

func (m *Memory) hash(tenantID, requestID string) uint64 {
	return maphash.Comparable(m.seed, memKey{tenantID, requestID})
}

// Put implements Log; a record of the same tenant and request id is
// replaced.
func (m *Memory) Put(_ context.Context, r Record) error {
	now := time.Now()
	r, err := prepare(r, now)
	if err != nil {
		return err
	}
	r.History, r.Experts = slices.Clone(r.History), slices.Clone(r.Experts)
	h := m.hash(r.TenantID, r.RequestID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.byKey[h]; ok {
		// The record replaced (or, once in 2^64, one whose key hashes
		// alike) goes.
		m.slots[i] = memSlot{}
	}
	i := m.next
	if i == len(m.slots) {
		if len(m.slots) == cap(m.slots) {
			// Grown by hand so that a full ring holds max slots, not
			// the next power of two.
			m.slots = slices.Grow(m.slots, min(m.max, max(16, 2*len(m.slots)))-len(m.slots))
		}
		m.slots = append(m.slots, memSlot{})
	} else if old := &m.slots[i]; old.r.RequestID != "" {
		delete(m.byKey, old.hash)
	}
	m.slots[i] = memSlot{r: r, hash: h, expires: now.Add(m.ttl).UnixNano()}
	m.byKey[h] = int32(i)
	m.next = (i + 1) % m.max
	return nil
}

// Get implements Log.
func (m *Memory) Get(_ context.Context, tenantID, requestID string) (Record, error) {
	h := m.hash(tenantID, requestID)
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.byKey[h]
	if !ok {
		return Record{}, notFound(tenantID, requestID)
	}
	s := &m.slots[i]
	if s.r.TenantID != tenantID || s.r.RequestID != requestID {
		return Record{}, notFound(tenantID, requestID)
	}
	if time.Now().UnixNano() >= s.expires {
		delete(m.byKey, h)
		*s = memSlot{}
		return Record{}, notFound(tenantID, requestID)
	}
	r := s.r
	r.History, r.Experts = slices.Clone(r.History), slices.Clone(r.Experts)
	return r, nil
}

// held returns the number of records held.
func (m *Memory) held() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byKey)
}
