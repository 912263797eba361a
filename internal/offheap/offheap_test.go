//go:build unix

package offheap

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
)

func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestCloneLeavesTheHeap(t *testing.T) {
	const n = 1 << 18 // 1 MB of uint32
	src := make([]uint32, n)
	for i := range src {
		src[i] = uint32(i * 7)
	}
	str := strings.Repeat("lexicon ", n/8)

	before := heapAllocs()
	got, gotStr := Clone(src), CloneString(str)
	if grew := heapAllocs() - before; grew > 64<<10 {
		t.Errorf("the heap grew by %d bytes for %d bytes cloned", grew, 4*n+len(str))
	}
	clear(src)
	runtime.GC()
	for i, v := range got {
		if v != uint32(i*7) {
			t.Fatalf("clone[%d] = %d after the source was cleared and a collection, want %d", i, v, i*7)
		}
	}
	if gotStr != str {
		t.Error("the string's clone differs from it")
	}
}

func TestCloneIsReadOnly(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	got := Clone([]int32{1, 2, 3})
	defer func() {
		if recover() == nil {
			t.Error("a write to a clone did not fault")
		}
		if !slices.Equal(got, []int32{1, 2, 3}) {
			t.Errorf("clone = %v after a write was refused", got)
		}
	}()
	got[1] = 5
}

func TestCloneEmpty(t *testing.T) {
	if got := Clone([]uint16{}); got != nil {
		t.Errorf("Clone of an empty slice = %v, want nil", got)
	}
	if got := CloneString(""); got != "" {
		t.Errorf("CloneString(\"\") = %q", got)
	}
}
