// Package series keeps Prometheus metric vectors' children once looked up.
// A vector's WithLabelValues hashes the label values and takes a lock on
// every call, and a request counts itself in several vectors; a child kept
// here is found with one read of an immutable map.
package series

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Memo holds the children made by make, by key. Keys are few (experts,
// statuses, results), each added once, so the map is copied on write and
// read without a lock.
type Memo[K comparable, M any] struct {
	m    atomic.Pointer[map[K]M]
	mu   sync.Mutex // serialises additions
	make func(K) M
}

// New returns a Memo whose children make makes, typically a vector's
// WithLabelValues.
func New[K comparable, M any](make func(K) M) *Memo[K, M] {
	return &Memo[K, M]{make: make}
}

// Get returns k's child, made on first use.
func (s *Memo[K, M]) Get(k K) M {
	if p := s.m.Load(); p != nil {
		if c, ok := (*p)[k]; ok {
			return c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var next map[K]M
	if p := s.m.Load(); p != nil {
		if c, ok := (*p)[k]; ok {
			return c
		}
		next = maps.Clone(*p)
	} else {
		next = map[K]M{}
	}
	c := s.make(k)
	next[k] = c
	s.m.Store(&next)
	return c
}
