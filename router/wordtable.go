package router

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The per-word lookups of routing (the speller's vocabulary and verdicts,
// the lexical features' word memo) were Go maps under RWMutexes: a hash,
// a control group, the key string through a pointer, then the value's
// slice, about three random cache lines a word once other work evicted
// them, and RLock's atomic add writing a line shared by every core. A
// wordTable holds the word inline in a 32-byte slot of an open-addressing
// table, so a word costs one line and its value; a wordMemo publishes
// immutable tables through an atomic pointer, so readers write nothing.

// maxKeyBytes is the longest word a wordKey holds: maxLexWord-1 and
// maxSpellerWord both fit.
const maxKeyBytes = 24

// wordKey is a word of 1 to maxKeyBytes non-zero bytes, zero-padded, as
// three little-endian words: compared and hashed without a loop or a
// pointer. The zero key is no word, and marks an empty slot.
type wordKey [3]uint64

// keyOf is w's key; w has 1 to maxKeyBytes non-zero bytes.
func keyOf[W ~string | ~[]byte](w W) wordKey {
	var b [maxKeyBytes]byte
	copy(b[:], w)
	return wordKey{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])}
}

// hash mixes the key's words; its top bits index a table.
func (k wordKey) hash() uint64 {
	h := k[0]*0x9e3779b97f4a7c15 ^ k[1]*0xc2b2ae3d27d4eb4f ^ k[2]*0x165667b19e3779f9
	h ^= h >> 29
	return h * 0xbf58476d1ce4e5b9
}

// wordSlot is a word and its value: two to a cache line.
type wordSlot struct {
	key wordKey
	v   uint64
}

// wordTable maps words to uint64 values by linear probing in a power of
// two slots at most half full. It is not safe for concurrent writes;
// once built, it is read concurrently.
type wordTable struct {
	slots []wordSlot
	shift uint // 64 - log2(len(slots))
	n     int  // words held
}

// newWordTable returns a table with room for n words.
func newWordTable(n int) wordTable {
	size, shift := 1, uint(64)
	for size < 2*n {
		size, shift = size*2, shift-1
	}
	return wordTable{slots: make([]wordSlot, size), shift: shift}
}

// find returns k's value.
func (t *wordTable) find(k wordKey) (uint64, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := int(k.hash() >> t.shift); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			return s.v, true
		}
		if s.key[0] == 0 {
			return 0, false
		}
	}
}

// put sets k's value; the table must have room for another word.
func (t *wordTable) put(k wordKey, v uint64) {
	mask := len(t.slots) - 1
	for i := int(k.hash() >> t.shift); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			s.v = v
			return
		}
		if s.key[0] == 0 {
			s.key, s.v = k, v
			t.n++
			return
		}
	}
}

// wordMemo memoises a run of values of type E for each of up to limit
// words. Readers load an immutable memoTable and write nothing; words
// memoised since it was built wait in pending, under mu, until a batch of
// them, or of lookups of them, makes a new table (the vocabulary
// saturates: rebuilds stop, and no word that recurs stays pending). It
// is safe for concurrent use.
type wordMemo[E any] struct {
	tab atomic.Pointer[memoTable[E]]

	mu      sync.Mutex
	pending map[wordKey][]E
	hits    int // lookups of pending words
	limit   int
}

// memoTable is a wordMemo's words, each one's value a run of data
// (offset<<32 | length).
type memoTable[E any] struct {
	words wordTable
	data  []E
	full  bool // limit words: no pending words to look at
}

// minMemoBatch is the fewest pending words, or lookups of them, that
// make a new table. Past 32 times as many words, a 32nd of them does, so
// that rebuilds cost a constant time per word memoised; and lookups of
// half as many as the table holds, which cost about what a rebuild costs
// (a pending lookup's mutex and map lines; a rebuild's one or two slot
// lines a word): rent, then buy. With lookups of 64, the rebuilds of
// BenchmarkRouteCold's second 300 queries missed the cache more than the
// lookups saved (cachegrind).
const minMemoBatch = 64

// get returns k's memoised values.
func (m *wordMemo[E]) get(k wordKey) ([]E, bool) {
	t := m.tab.Load()
	if t != nil {
		if v, ok := t.words.find(k); ok {
			return t.data[v>>32 : v>>32+v&(1<<32-1)], true
		}
		if t.full {
			return nil, false
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.pending[k]
	if m.hits += btoi(ok); m.hits >= max(minMemoBatch, m.held()/2) {
		m.rebuild()
	}
	return f, ok
}

// put memoises f as k's values while there is room; m keeps f.
func (m *wordMemo[E]) put(k wordKey, f []E) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tab.Load()
	if t != nil {
		if _, ok := t.words.find(k); ok {
			return // put by another reader since its get
		}
	}
	n := m.held()
	if _, ok := m.pending[k]; ok || n+len(m.pending) >= m.limit {
		return
	}
	if m.pending == nil {
		m.pending = make(map[wordKey][]E)
	}
	m.pending[k] = f
	if len(m.pending) >= max(minMemoBatch, n/32) || n+len(m.pending) == m.limit {
		m.rebuild()
	}
}

// rebuild publishes a table of the current one's words and the pending
// ones; m.mu is held. The data is appended to the current table's:
// readers of that read only below its length.
func (m *wordMemo[E]) rebuild() {
	t := m.tab.Load()
	total := len(m.pending)
	if t != nil {
		total += t.words.n
	}
	nt := &memoTable[E]{words: newWordTable(total), full: total == m.limit}
	if t != nil {
		nt.data = t.data
		if len(nt.words.slots) == len(t.words.slots) {
			copy(nt.words.slots, t.words.slots) // the same places
			nt.words.n = t.words.n
		} else {
			for _, s := range t.words.slots {
				if s.key[0] != 0 {
					nt.words.put(s.key, s.v)
				}
			}
		}
	}
	for k, f := range m.pending {
		nt.words.put(k, uint64(len(nt.data))<<32|uint64(len(f)))
		nt.data = append(nt.data, f...)
	}
	clear(m.pending)
	m.hits = 0
	m.tab.Store(nt)
}

// held returns the number of words in the table.
func (m *wordMemo[E]) held() int {
	if t := m.tab.Load(); t != nil {
		return t.words.n
	}
	return 0
}

// len returns the number of words memoised.
func (m *wordMemo[E]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held() + len(m.pending)
}
