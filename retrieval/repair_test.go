package retrieval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestWALCorruptionAtEveryPosition flips each byte of a 10-record log in
// turn. Damage in any record but the last must stop the open, naming the
// file and the damaged record's offset, and change nothing; repair then
// salvages the 9 intact records. Damage in the last record is a torn
// tail: cut off, the rest kept.
func TestWALCorruptionAtEveryPosition(t *testing.T) {
	const n = 10
	src := t.TempDir()
	g := NewSynthetic(contractDim, 3, 0, 10)
	e, err := OpenEmbedded(src, contractDim, EmbeddedOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	starts := make([]int64, n+1)
	for i := range n {
		starts[i] = e.walSize
		mustUpsert(t, e, Document{ID: fmt.Sprint("d", i)}, testChunks(g, fmt.Sprint("d", i), 1))
	}
	starts[n] = e.walSize
	// Not Close: it would fold the log into a snapshot.
	e.wal.Close()
	e.lock.Close()
	wal, err := os.ReadFile(src + "/wal")
	if err != nil || int64(len(wal)) != starts[n] {
		t.Fatalf("log of %d bytes, want %d: %v", len(wal), starts[n], err)
	}
	meta, _ := os.ReadFile(src + "/meta.json")
	record := func(off int) int {
		for i := range n {
			if int64(off) < starts[i+1] {
				return i
			}
		}
		return -1
	}

	dir := t.TempDir()
	checked, refused, repaired := 0, 0, 0
	for off := range wal {
		k := record(off)
		damaged := append([]byte(nil), wal...)
		damaged[off] ^= 0x5a
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(dir+"/meta.json", meta, 0o644)
		os.WriteFile(dir+"/wal", damaged, 0o644)

		e, err := OpenEmbedded(dir, contractDim, EmbeddedOptions{NoSync: true})
		if k == n-1 {
			// The tail: cut off, the other nine kept.
			if err != nil {
				t.Fatalf("byte %d (last record): %v", off, err)
			}
			wantCount(t, e, n-1, n-1)
			e.Close()
			checked++
			continue
		}
		var ce *CorruptError
		if !errors.As(err, &ce) {
			if err == nil {
				e.Close()
			}
			t.Fatalf("byte %d (record %d): open = %v, want a CorruptError", off, k, err)
		}
		if ce.Offset != starts[k] || ce.File != dir+"/wal" || !strings.Contains(err.Error(), "gateway repair") {
			t.Fatalf("byte %d (record %d at %d): %v", off, k, starts[k], err)
		}
		if after, _ := os.ReadFile(dir + "/wal"); string(after) != string(damaged) {
			t.Fatalf("byte %d: a refused open changed the log", off)
		}
		refused++
		// Repair (which fsyncs) at every header byte, the last byte and a
		// sample of the payload of each record, to keep the test quick.
		if rel := int64(off) - starts[k]; rel >= 8 && int64(off) != starts[k+1]-1 && off%31 != 0 {
			checked++
			continue
		}
		repaired++

		rep, err := RepairEmbedded(dir)
		if err != nil || !rep.Changed || rep.Kept != n-1 || len(rep.Lost) != 1 || rep.Lost[0].Offset != starts[k] {
			t.Fatalf("byte %d (record %d): repair %+v, %v", off, k, rep, err)
		}
		e, err = OpenEmbedded(dir, contractDim, EmbeddedOptions{NoSync: true})
		if err != nil {
			t.Fatalf("byte %d: open after repair: %v", off, err)
		}
		wantCount(t, e, n-1, n-1)
		for i := range n {
			_, err := e.Document(context.Background(), fmt.Sprint("d", i))
			if (i == k) != errors.Is(err, ErrNotFound) {
				t.Fatalf("byte %d: after repair d%d: %v (damaged record %d)", off, i, err, k)
			}
		}
		e.Close()
		checked++
	}
	t.Logf("%d positions: %d refused (%d of them repaired), %d torn tails cut", checked, refused, repaired, checked-refused)
	// An intact log needs no repair.
	os.Remove(src + "/snapshot")
	rep, err := RepairEmbedded(src)
	if err != nil || rep.Changed || rep.Kept != n {
		t.Fatalf("repair of an intact log: %+v %v", rep, err)
	}
}
