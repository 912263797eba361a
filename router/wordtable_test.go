package router

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestWordTable(t *testing.T) {
	words := []string{"a", "b", "ab", "ba", "abcdefgh", "abcdefghi", "abcdefghabcdefgh", "abcdefghabcdefghx",
		"abcdefghabcdefghabcdefgh", "abcdefghabcdefghabcdefgg", "salmon", "steak"}
	tab := newWordTable(len(words))
	for i, w := range words {
		tab.put(keyOf(w), uint64(i))
	}
	tab.put(keyOf("steak"), 100) // replaced
	if tab.n != len(words) {
		t.Errorf("%d words, want %d", tab.n, len(words))
	}
	for i, w := range words {
		want := uint64(i)
		if w == "steak" {
			want = 100
		}
		if v, ok := tab.find(keyOf([]byte(w))); !ok || v != want {
			t.Errorf("find(%q) = %d, %v, want %d", w, v, ok, want)
		}
	}
	for _, w := range []string{"c", "aa", "abcdefg", "abcdefghabcdefghabcdefgf", "steaks"} {
		if v, ok := tab.find(keyOf(w)); ok {
			t.Errorf("find(%q) = %d, want none", w, v)
		}
	}
	var empty wordTable
	if _, ok := empty.find(keyOf("a")); ok {
		t.Error("the empty table found a word")
	}
}

// memoWord is the i-th word of letters.
func memoWord(i int) string {
	w := []byte("w")
	for n := i; n > 0; n /= 26 {
		w = append(w, byte('a'+n%26))
	}
	return string(w)
}

// memoValue is the values memoised for the i-th word: i%5 of them, none
// for some words, as stop words have.
func memoValue(i int) []int32 {
	v := make([]int32, i%5)
	for k := range v {
		v[k] = int32(i*10 + k)
	}
	return v
}

// TestWordMemo checks that a memo keeps every word's values through its
// rebuilds, in the table or pending, and no more than its limit of words.
func TestWordMemo(t *testing.T) {
	const limit = 1000
	m := &wordMemo[int32]{limit: limit}
	for i := range limit + 100 {
		k := keyOf(memoWord(i))
		if _, ok := m.get(k); ok {
			t.Fatalf("word %d memoised before it was put", i)
		}
		m.put(k, memoValue(i))
		m.put(k, []int32{-1}) // ignored: memoised already
		for _, j := range []int{i, i / 2, 0} {
			v, ok := m.get(keyOf(memoWord(j)))
			if want := j < limit; ok != want || ok && !slices.Equal(v, memoValue(j)) {
				t.Fatalf("after %d words, word %d: %v, %v; want %v, %v", i+1, j, v, ok, memoValue(j), want)
			}
		}
	}
	if n := m.len(); n != limit {
		t.Errorf("%d words memoised, want %d", n, limit)
	}
	if tab := m.tab.Load(); tab == nil || !tab.full || tab.words.n != limit {
		t.Errorf("the last table is not the full one")
	}
}

// TestWordMemoRecurring checks that a pending word looked up often moves
// to the table before a batch of new words makes one.
func TestWordMemoRecurring(t *testing.T) {
	m := &wordMemo[int32]{limit: 1000}
	k := keyOf("salmon")
	m.put(k, []int32{1, 2})
	for range minMemoBatch {
		if tab := m.tab.Load(); tab != nil {
			t.Fatal("a table before the batch of lookups")
		}
		if v, ok := m.get(k); !ok || !slices.Equal(v, []int32{1, 2}) {
			t.Fatalf("get = %v, %v", v, ok)
		}
	}
	tab := m.tab.Load()
	if tab == nil {
		t.Fatal("no table after a batch of lookups")
	}
	if v, ok := tab.words.find(k); !ok || !slices.Equal(tab.data[v>>32:v>>32+v&(1<<32-1)], []int32{1, 2}) {
		t.Errorf("the table's word: %v, %v", v, ok)
	}
}

// TestWordMemoConcurrent has readers and writers race (go test -race).
func TestWordMemoConcurrent(t *testing.T) {
	m := &wordMemo[int32]{limit: 3000}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 4000 {
				j := (i*7 + g*1000) % 4000
				k := keyOf(memoWord(j))
				v, ok := m.get(k)
				if !ok {
					v = memoValue(j)
					m.put(k, v)
				}
				if !slices.Equal(v, memoValue(j)) {
					errs <- fmt.Errorf("word %d: %v, want %v", j, v, memoValue(j))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := m.len(); n != 3000 {
		t.Errorf("%d words memoised, want 3000", n)
	}
}
