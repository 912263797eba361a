//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAVX2MatchesGo checks the assembly kernels against the pure Go ones
// on lengths that exercise their unrolled loops and tails.
func TestAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Log("CPU lacks AVX2/FMA/F16C: the assembly is not used here")
		return
	}
	r := rand.New(rand.NewPCG(13, 14))
	near := func(what string, n int, got, want float32) {
		t.Helper()
		if math.Abs(float64(got-want)) > 1e-4*math.Sqrt(float64(n))*(1+math.Abs(float64(want))/10) {
			t.Errorf("%s n=%d: asm %g, Go %g", what, n, got, want)
		}
	}
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 64, 100, 257, 4096} {
		a, b := randVec(r, n), randVec(r, n)
		y1, y2 := append([]float32(nil), b...), append([]float32(nil), b...)
		axpy(y1, 0.37, a)
		axpyGo(y2, 0.37, a)
		for i := range y1 {
			// The same bits: the engine's quantized activations turn a last-bit difference into a different rounding.
			if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
				t.Fatalf("axpy n=%d: y[%d] = %v, Go %v", n, i, y1[i], y2[i])
			}
		}
		for _, typ := range []Type{F16, BF16} {
			row, _ := Quantize(typ, a)
			if got, want := dotFunc(typ)(row, b), dotHalfGo(typ, row, b); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%v n=%d: asm %v, Go %v", typ, n, got, want)
			}
		}
	}
	for _, nb := range []int{0, 1, 2, 3, 128} {
		x := randVec(r, 32*nb)
		row, _ := Quantize(Q8_0, randVec(r, 32*nb))
		near("dotQ8_0", 32*nb, dotQ8_0(row, x), dotQ8_0Go(row, x))
		row, _ = Quantize(Q4_0, randVec(r, 32*nb))
		near("dotQ4_0", 32*nb, dotQ4_0(row, x), dotQ4_0Go(row, x))
		row, _ = Quantize(Q5_0, randVec(r, 32*nb))
		near("dotQ5_0", 32*nb, dotQ5_0(row, x), dotQ5_0Go(row, x))
		row, _ = Quantize(Q4_1, randVec(r, 32*nb))
		near("dotQ4_1", 32*nb, dotQ4_1(row, x), dotQ4_1Go(row, x))
		row, _ = Quantize(Q5_1, randVec(r, 32*nb))
		near("dotQ5_1", 32*nb, dotQ5_1(row, x), dotQ5_1Go(row, x))
	}
	for _, nb := range []int{0, 1, 2, 16} {
		x := randVec(r, 256*nb)
		row, _ := Quantize(Q4_K, randVec(r, 256*nb))
		near("dotQ4K", 256*nb, dotQ4K(row, x), dotQ4KGo(row, x))
		row, _ = Quantize(Q6_K, randVec(r, 256*nb))
		near("dotQ6K", 256*nb, dotQ6K(row, x), dotQ6KGo(row, x))
		row, _ = Quantize(Q5_K, randVec(r, 256*nb))
		near("dotQ5K", 256*nb, dotQ5K(row, x), dotQ5KGo(row, x))
	}
}

// TestActAVX2MatchesGo checks that the integer kernels give the Go
// kernels' bits, on random
// weight bytes (any int8, nibbles, scales) with finite scales, and
// activations from the quantizer.
func TestActAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Log("CPU lacks AVX2/FMA/F16C: the assembly is not used here")
		return
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, typ := range actTypes {
		for trial := range 200 {
			nb := 1 + r.IntN(12)
			n := nb * typ.BlockSize()
			row := make([]byte, nb*typ.BlockBytes())
			for i := range row {
				row[i] = byte(r.Uint32())
			}
			// Finite fp16 scales where the type keeps them.
			for b := range nb {
				blk := row[b*typ.BlockBytes():]
				switch typ {
				case Q8_0, Q4_0, Q5_0:
					putF16(blk, float32(r.NormFloat64()))
				case Q4_1, Q5_1:
					putF16(blk, float32(r.NormFloat64()))
					putF16(blk[2:], float32(r.NormFloat64()))
				case Q4_K, Q5_K:
					putF16(blk, float32(r.NormFloat64()))
					putF16(blk[2:], float32(r.NormFloat64()))
				case Q6_K:
					putF16(blk[208:], float32(r.NormFloat64()))
				}
			}
			x := randVec(r, n)
			if trial%10 == 0 {
				clear(x[:typ.BlockSize()]) // an all-zero block
			}
			xq := QuantizeAct(typ, make([]byte, ActBytes(typ, n)), x)
			got, want := DotAct(typ, row, xq, n), dotActGo(typ)(row, xq, nb)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%v nb=%d trial %d: asm %v, Go %v", typ, nb, trial, got, want)
			}
			// Every kernel this CPU runs, not only the one chosen.
			for _, k := range actKernels(typ) {
				if got := k.one(&row[0], &xq[0], nb); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%v %s nb=%d trial %d: asm %v, Go %v", typ, k.name, nb, trial, got, want)
				}
				if k.x4 == nil {
					continue
				}
				ab := ActBytes(typ, n)
				xq4 := make([]byte, 4*ab)
				for v := range 4 {
					QuantizeAct(typ, xq4[v*ab:(v+1)*ab], randVec(r, n))
				}
				dst := make([]float32, 4*3)
				k.x4(&row[0], &xq4[0], ab, nb, &dst[0], 3)
				for v := range 4 {
					if want := dotActGo(typ)(row, xq4[v*ab:(v+1)*ab], nb); math.Float32bits(dst[3*v]) != math.Float32bits(want) {
						t.Fatalf("%v %s x4 nb=%d trial %d vector %d: asm %v, Go %v", typ, k.name, nb, trial, v, dst[3*v], want)
					}
				}
			}
			// The chosen four-vector kernel, where there is one.
			if dot4 := dotAct4Func(typ); dot4 != nil {
				ab := ActBytes(typ, n)
				xq4 := make([]byte, 4*ab)
				for v := range 4 {
					QuantizeAct(typ, xq4[v*ab:(v+1)*ab], randVec(r, n))
				}
				dst := make([]float32, 4*3)
				dot4(row, xq4, ab, nb, dst, 3)
				for v := range 4 {
					if want := dotActGo(typ)(row, xq4[v*ab:(v+1)*ab], nb); math.Float32bits(dst[3*v]) != math.Float32bits(want) {
						t.Fatalf("%v x4 nb=%d trial %d vector %d: asm %v, Go %v", typ, nb, trial, v, dst[3*v], want)
					}
				}
			}
		}
	}
}

// actKernel is one assembly implementation of a weight type's product
// with quantized activations.
type actKernel struct {
	name string
	one  func(row, xq *byte, nb int) float32
	x4   func(row, xq *byte, xstride, nb int, out *float32, ostride int) // nil: none
}

// actKernels lists every assembly kernel of type t that this CPU can run,
// so that the AVX2 kernels stay tested where faster ones are chosen.
func actKernels(t Type) []actKernel {
	avx2 := map[Type]actKernel{
		Q8_0: {"AVX2", dotQ8_0ActAVX2, nil},
		Q4_0: {"AVX2", dotQ4_0ActAVX2, nil},
		Q5_0: {"AVX2", dotQ5_0ActAVX2, nil},
		Q4_1: {"AVX2", dotQ4_1ActAVX2, nil},
		Q5_1: {"AVX2", dotQ5_1ActAVX2, nil},
		Q4_K: {"AVX2", dotQ4KActAVX2, dotQ4KActx4AVX2},
		Q5_K: {"AVX2", dotQ5KActAVX2, nil},
		Q6_K: {"AVX2", dotQ6KActAVX2, dotQ6KActx4AVX2},
	}
	vnni := map[Type]actKernel{
		Q6_K: {"VNNI", dotQ6KActVNNI, nil},
	}
	var ks []actKernel
	if k, ok := avx2[t]; ok && haveAVX2 {
		ks = append(ks, k)
	}
	if k, ok := vnni[t]; ok && haveVNNI {
		ks = append(ks, k)
	}
	return ks
}

// BenchmarkActKernels runs each assembly kernel this CPU has on the same
// 64 rows of 1536 columns (in cache), one vector and four.
func BenchmarkActKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const rows, n = 64, 1536
	for _, typ := range []Type{Q8_0, Q4_0, Q4_K, Q6_K} {
		nb := n / typ.BlockSize()
		data, err := Quantize(typ, randVec(r, rows*n))
		if err != nil {
			b.Fatal(err)
		}
		rb, ab := len(data)/rows, ActBytes(typ, n)
		xq := make([]byte, 4*ab)
		for v := range 4 {
			QuantizeAct(typ, xq[v*ab:], randVec(r, n))
		}
		out := make([]float32, 4*rows)
		for _, k := range actKernels(typ) {
			b.Run(fmt.Sprintf("%v/%s/one", typ, k.name), func(b *testing.B) {
				defer cpuRate(b, len(data))()
				for b.Loop() {
					for i := range rows {
						out[i] = k.one(&data[i*rb], &xq[0], nb)
					}
				}
			})
			if k.x4 == nil {
				continue
			}
			b.Run(fmt.Sprintf("%v/%s/x4", typ, k.name), func(b *testing.B) {
				defer cpuRate(b, 4*len(data))()
				for b.Loop() {
					for i := range rows {
						k.x4(&data[i*rb], &xq[0], ab, nb, &out[i], rows)
					}
				}
			})
		}
	}
}

// packedVariant is one set of packed kernels, by name.
type packedVariant struct {
	name   string
	rows   func(t Type, packed []byte, nb int, dst []float32, r0 int, xq []byte) int
	rowsX4 func(t Type, packed []byte, nb int, dst []float32, rows, n, r0 int, xq []byte, xstride int, aux []byte) int
	hasX4  func(t Type) bool
}

// packedVariants lists every set of packed kernels this CPU runs, so that
// the AVX2 ones stay tested where the VNNI ones are chosen.
func packedVariants() []packedVariant {
	var vs []packedVariant
	for _, k := range packedSets {
		vs = append(vs, packedVariant{k.name, k.rows, k.rowsX4, k.hasX4})
	}
	return vs
}

// BenchmarkPackedKernels runs each set of packed kernels this CPU has on
// the same packed rows, in cache (512×1536) and far larger than the
// caches (4096×4096): one vector (decoding), and for Q4_0 four at once
// (prompts). cpu-MB/s is weight bytes read per second of thread CPU time.
func BenchmarkPackedKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range []struct{ rows, cols int }{{512, 1536}, {4096, 4096}} {
		for _, typ := range []Type{Q8_0, Q4_0, Q4_K, Q6_K} {
			data, err := Quantize(typ, randVec(r, sh.rows*sh.cols))
			if err != nil {
				b.Fatal(err)
			}
			m, _ := NewMatrix(typ, sh.rows, sh.cols, data)
			m.Pack()
			nb, ab := sh.cols/typ.BlockSize(), ActBytes(typ, sh.cols)
			xq := make([]byte, 4*ab)
			for v := range 4 {
				QuantizeAct(typ, xq[v*ab:], randVec(r, sh.cols))
			}
			aux := make([]byte, nb*32)
			q4x4Aux(aux, xq, ab, nb)
			dst := make([]float32, 4*sh.rows)
			for _, k := range packedVariants() {
				name := fmt.Sprintf("%dx%d/%v/%s", sh.rows, sh.cols, typ, k.name)
				b.Run(name+"/one", func(b *testing.B) {
					defer cpuRate(b, len(data))()
					for b.Loop() {
						k.rows(typ, m.packed, nb, dst[:sh.rows], 0, xq)
					}
				})
				if !k.hasX4(typ) {
					continue
				}
				b.Run(name+"/x4", func(b *testing.B) {
					defer cpuRate(b, 4*len(data))()
					for b.Loop() {
						k.rowsX4(typ, m.packed, nb, dst, sh.rows, sh.rows, 0, xq, ab, aux)
					}
				})
			}
		}
	}
}

// TestBatchGoMatchesAssembly runs the batch products with the kernels this
// CPU runs (packed rows, four-vector kernels) and with the pure Go
// dispatch of the purego build and of a CPU without AVX2, and wants the
// same bits: MatMulAct for every type with quantized activations and
// MatMul for the float types, which the default mode also runs (MoE
// routers, F16 and BF16 weights), at odd row counts (rows left out of the
// packing) and 1 to 9 vectors.
func TestBatchGoMatchesAssembly(t *testing.T) {
	if !haveAVX2 {
		t.Log("CPU lacks AVX2/FMA/F16C: the assembly is not used here")
		return
	}
	r := rand.New(rand.NewPCG(41, 42))
	const maxN = 9
	products := func(m *Matrix, x []float32, n int) []float32 {
		dst := make([]float32, n*m.Rows)
		if _, ok := ActType(m.Type); ok {
			m.MatMulAct(nil, dst, x[:n*m.Cols], n, nil)
		} else {
			m.MatMul(nil, dst, x[:n*m.Cols], n)
		}
		return dst
	}
	for _, typ := range append([]Type{F32, F16, BF16}, actTypes...) {
		for _, rows := range []int{1, 7, 19, 75} {
			cols := 2 * max(typ.BlockSize(), 160)
			data, err := Quantize(typ, randVec(r, rows*cols))
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(r, maxN*cols)
			m, _ := NewMatrix(typ, rows, cols, data)
			m.Pack()
			var want [maxN + 1][]float32
			for n := 1; n <= maxN; n++ {
				want[n] = products(m, x, n)
			}
			pureGo(t, func() {
				m, _ := NewMatrix(typ, rows, cols, data)
				m.Pack()
				for n := 1; n <= maxN; n++ {
					got := products(m, x, n)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[n][i]) {
							t.Fatalf("%v %dx%d n=%d: vector %d row %d: Go %v, assembly %v", typ, rows, cols, n, i/rows, i%rows, got[i], want[n][i])
						}
					}
				}
			})
		}
	}
}

// pureGo runs f with the kernel choices of a CPU without AVX2.
func pureGo(t *testing.T, f func()) {
	avx2, sums, packed, sets := haveAVX2, haveSumsKernel, havePacked, packedSets
	defer func() { haveAVX2, haveSumsKernel, havePacked, packedSets = avx2, sums, packed, sets }()
	haveAVX2, haveSumsKernel, havePacked, packedSets = false, false, false, nil
	f()
}
