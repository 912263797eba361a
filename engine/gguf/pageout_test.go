package gguf_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// TestPageOut checks that a tensor's bytes read the same after PageOut
// (the pages come back from the file), that slices outside the mapping
// are left alone, and that a packed matrix over them still multiplies.
func TestPageOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	w := gguf.NewWriter(3)
	const rows, cols = 64, 1024 // 68 KiB of Q8_0: whole pages inside
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i%13) - 6
	}
	if err := w.AddTensorF32("w", tensor.Q8_0, []uint64{cols, rows}, vals); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Matrix("w")
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(m.Data)
	x := make([]float32, cols)
	x[5] = 1
	before := make([]float32, rows)
	m.MatMulAct(nil, before, x, 1, nil)

	heap := bytes.Clone(want)
	f.PageOut(heap) // not the mapping's: must stay as it is
	m.Pack()
	f.PageOut(m.Data)
	if !bytes.Equal(m.Data, want) || !bytes.Equal(heap, want) {
		t.Fatal("bytes changed by PageOut")
	}
	after := make([]float32, rows)
	m.MatMulAct(nil, after, x, 1, nil)
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("row %d: %v after PageOut and Pack, %v before", i, after[i], before[i])
		}
	}
}
