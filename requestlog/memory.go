package requestlog

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Log in this process, bounded by entry count (the oldest
// entry is evicted first) and by age. It is safe for concurrent use.
type Memory struct {
	max int
	ttl time.Duration

	mu    sync.Mutex
	order *list.List // of *memEntry, newest first
	byKey map[memKey]*list.Element
}

type memKey struct{ tenant, request string }

type memEntry struct {
	key     memKey
	r       Record
	expires time.Time
}

// NewMemory keeps at most max records (0: 10,000) for ttl (0: DefaultTTL).
func NewMemory(max int, ttl time.Duration) *Memory {
	if max <= 0 {
		max = 10000
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Memory{max: max, ttl: ttl, order: list.New(), byKey: map[memKey]*list.Element{}}
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
	k := memKey{r.TenantID, r.RequestID}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byKey[k]; ok {
		m.order.Remove(el)
	}
	m.byKey[k] = m.order.PushFront(&memEntry{key: k, r: r, expires: now.Add(m.ttl)})
	for m.order.Len() > m.max {
		old := m.order.Remove(m.order.Back()).(*memEntry)
		delete(m.byKey, old.key)
	}
	return nil
}

// Get implements Log.
func (m *Memory) Get(_ context.Context, tenantID, requestID string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byKey[memKey{tenantID, requestID}]
	if !ok {
		return Record{}, notFound(tenantID, requestID)
	}
	e := el.Value.(*memEntry)
	if !time.Now().Before(e.expires) {
		m.order.Remove(el)
		delete(m.byKey, e.key)
		return Record{}, notFound(tenantID, requestID)
	}
	r := e.r
	r.History, r.Experts = slices.Clone(r.History), slices.Clone(r.Experts)
	return r, nil
}
