package tensor

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestArena checks that Alloc hands out zeroed, 64-byte aligned,
// disjoint buffers, each chunk starting on a huge-page boundary, and that
// a nil Arena allocates too.
func TestArena(t *testing.T) {
	a := Arena{chunk: 8 << 20}
	sizes := []int{1, 63, 64, 100, 1 << 20, 5 << 20, 9 << 20, 10}
	bufs := make([][]byte, len(sizes))
	var pads [][]byte
	for i, n := range sizes {
		// Go's heap, left to itself, may place a chunk on a 2 MiB boundary
		// by chance: an odd-sized allocation in between makes that
		// unlikely.
		pads = append(pads, make([]byte, 1<<20+8192*(i+1)))
		b := a.Alloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Alloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		if addr(b)%64 != 0 {
			t.Fatalf("Alloc(%d) at %#x, not 64-byte aligned", n, addr(b))
		}
		if bytes.IndexFunc(b, func(r rune) bool { return r != 0 }) >= 0 {
			t.Fatalf("Alloc(%d) not zeroed", n)
		}
		for j := range b {
			b[j] = byte(i + 1)
		}
		bufs[i] = b
	}
	// Sizes 0 and 6 start chunks (6 does not fit in what 0..5 left).
	for _, i := range []int{0, 6} {
		if p := addr(bufs[i]); p%hugePage != 0 {
			t.Errorf("chunk of Alloc(%d) at %#x, not on a %d-byte boundary", sizes[i], p, hugePage)
		}
	}
	for i, b := range bufs {
		if bytes.IndexFunc(b, func(r rune) bool { return r != rune(i+1) }) >= 0 {
			t.Fatalf("Alloc(%d) overwritten by a later buffer", sizes[i])
		}
	}
	runtime.KeepAlive(pads)
	var nilArena *Arena
	if b := nilArena.Alloc(5); len(b) != 5 {
		t.Fatalf("nil Arena: Alloc(5) len %d", len(b))
	}
}

// TestArenaHugePages checks, where the kernel offers transparent huge
// pages on request, that an Arena's chunk is backed by them.
func TestArenaHugePages(t *testing.T) {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if runtime.GOOS != "linux" || err != nil || strings.Contains(string(thp), "[never]") {
		t.Skip("no transparent huge pages here")
	}
	var a Arena
	b := a.Alloc(16 << 20)
	for i := range b {
		b[i] = byte(i | 1)
	}
	if kb := anonHugeKB(t, addr(b)); kb < 8<<10 {
		t.Errorf("16 MB buffer: %d kB of its mapping in huge pages, want at least 8 MB", kb)
	}
	runtime.KeepAlive(b)
}

// anonHugeKB is the AnonHugePages figure of the mapping holding p in
// /proc/self/smaps.
func anonHugeKB(t *testing.T, p uintptr) int {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(p) >= l && uint64(p) < h
			continue
		}
		if in && f[0] == "AnonHugePages:" && len(f) > 1 {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return 0
}

// TestPackIn checks that packing into an Arena gives the packed rows Pack
// gives, that Q6_K's Data moves to the Arena with its bytes (the products
// keep their bits after the old Data is overwritten), and that PackIn
// reports whether the old Data is still read.
func TestPackIn(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	var a Arena
	for _, typ := range []Type{Q4_0, Q8_0, Q4_K, Q6_K} {
		const rows, nb = 24, 3
		cols := typ.BlockSize() * nb
		data := make([]byte, rows*nb*typ.BlockBytes())
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		for i := 0; i < len(data); i += typ.BlockBytes() {
			off := 0
			if typ == Q6_K {
				off = 208
			}
			putF16(data[i+off:], float32(r.NormFloat64()))
			if typ == Q4_K {
				putF16(data[i+2:], float32(r.NormFloat64()))
			}
		}
		ref, _ := NewMatrix(typ, rows, cols, bytes.Clone(data))
		refOK := ref.Pack()
		m, _ := NewMatrix(typ, rows, cols, data)
		ok := m.PackIn(&a)
		if want := havePacked; ok != want {
			t.Fatalf("%v: PackIn %v, want %v", typ, ok, want)
		}
		if refOK != (havePacked && typ != Q6_K) {
			t.Fatalf("%v: Pack %v", typ, refOK)
		}
		if !bytes.Equal(m.packed, ref.packed) || !bytes.Equal(m.Data, ref.Data) {
			t.Fatalf("%v: packed rows or Data differ from Pack's", typ)
		}
		if moved := unsafe.SliceData(m.Data) != unsafe.SliceData(data); moved != (havePacked && typ == Q6_K) {
			t.Fatalf("%v: Data moved %v", typ, moved)
		}
		if ok {
			for i := range data {
				data[i] = 0xAA // the old Data is not read again
			}
		}
		xq := QuantizeAct(typ, make([]byte, ActBytes(typ, cols)), randVec(r, cols))
		got, want := make([]float32, rows), make([]float32, rows)
		m.DotRowsAct(got, xq, 0, rows)
		ref.DotRowsAct(want, xq, 0, rows)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v row %d: %v, want %v", typ, i, got[i], want[i])
			}
		}
	}
}
