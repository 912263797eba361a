package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/moegate/moegate/internal/cputime"
)

// gemmRef64 is dst = bias + W·x in float64 for the types MatMulGEMM
// takes: float weights times the float vectors, Q8_0 weights times the
// vectors quantized as llama.cpp does (QuantizeAct), block by block. It
// returns the results and the sums of their terms' magnitudes.
func gemmRef64(t *testing.T, m *Matrix, x, bias []float32, n int) (want, mag []float64) {
	t.Helper()
	want, mag = make([]float64, n*m.Rows), make([]float64, n*m.Rows)
	w := make([]float32, m.Cols)
	for j := range n {
		xv := x[j*m.Cols : (j+1)*m.Cols]
		var xq []byte
		if m.Type == Q8_0 {
			xq = QuantizeAct(Q8_0, make([]byte, ActBytes(Q8_0, m.Cols)), xv)
		}
		for r := range m.Rows {
			var s, a float64
			if bias != nil {
				s, a = float64(bias[r]), math.Abs(float64(bias[r]))
			}
			if m.Type == Q8_0 {
				row := m.Row(r)
				for b := range m.Cols / qk8_0 {
					wb, xb := row[b*q8_0Size:], xq[b*q8_0Size:]
					var sum int64
					for k := range qk8_0 {
						sum += int64(int8(wb[2+k])) * int64(int8(xb[2+k]))
					}
					d := float64(F16ToF32(binary.LittleEndian.Uint16(wb))) * float64(F16ToF32(binary.LittleEndian.Uint16(xb)))
					s += d * float64(sum)
					a += math.Abs(d * float64(sum))
				}
			} else {
				if err := m.RowF32(r, w); err != nil {
					t.Fatal(err)
				}
				for k, f := range w {
					s += float64(f) * float64(xv[k])
					a += math.Abs(float64(f) * float64(xv[k]))
				}
			}
			want[j*m.Rows+r], mag[j*m.Rows+r] = s, a
		}
	}
	return want, mag
}

// TestMatMulGEMM checks MatMulGEMM against a float64 reference on every
// shape that takes a different path: rows a whole number of panels or not
// (the last one through the tile), vectors a whole number of kernel
// blocks or not, one or more threads, with and without a bias.
func TestMatMulGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	for _, typ := range []Type{F32, F16, Q8_0} {
		for _, shape := range [][2]int{{32, 32}, {40, 64}, {96, 384}, {7, 96}} {
			rows, cols := shape[0], shape[1]
			data, err := Quantize(typ, randVec(r, rows*cols))
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewMatrix(typ, rows, cols, data)
			if err != nil {
				t.Fatal(err)
			}
			if !m.packGEMM() {
				t.Fatalf("%v: packGEMM refused", typ)
			}
			for _, n := range []int{1, 5, 6, 14, 15, 29} {
				for _, threads := range []int{1, 3} {
					for _, withBias := range []bool{false, true} {
						add := withBias && n%2 == 1 // adding to dst, on some of the shapes
						name := fmt.Sprintf("%v/%dx%d/n=%d/threads=%d/bias=%v/add=%v", typ, rows, cols, n, threads, withBias, add)
						t.Run(name, func(t *testing.T) {
							x := randVec(r, n*cols)
							var bias []float32
							if withBias {
								bias = randVec(r, rows)
							}
							pool := NewPool(threads)
							defer pool.Close()
							var buf GEMMBuf
							dst := make([]float32, n*rows)
							old := randVec(r, n*rows)
							for i := range dst {
								dst[i] = float32(math.NaN()) // every result must be written
								if add {
									dst[i] = old[i]
								}
							}
							m.MatMulGEMM(pool, dst, x, bias, n, add, &buf)
							want, mag := gemmRef64(t, m, x, bias, n)
							if add {
								for i := range want {
									want[i] += float64(old[i])
									mag[i] += math.Abs(float64(old[i]))
								}
							}
							bad := 0
							for i, g := range dst {
								if d := math.Abs(float64(g) - want[i]); !(d <= 2e-6*mag[i]+1e-30) {
									if bad++; bad <= 3 {
										t.Errorf("vector %d row %d: %v, float64 reference %v (Σ|terms| %v)", i/rows, i%rows, g, want[i], mag[i])
									}
								}
							}
						})
					}
				}
			}
		}
	}
	m, _ := NewMatrix(Q4_K, 1, 256, make([]byte, q4KSize))
	if m.packGEMM() {
		t.Error("packGEMM accepted Q4_K, which has no GEMM kernel")
	}
}

// TestGEMMKernelsMatchTwins holds the kernels in use (assembly where the
// CPU has it) to their Go twins on random panels, for counts of vectors
// within a block, whole blocks and blocks and a part: the same operations
// in the same order give the same bits.
func TestGEMMKernelsMatchTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	const cols, ldd = 96, 37
	bias := randVec(r, gemmRows)
	for _, typ := range []Type{F32, F16} {
		size := 4
		if typ == F16 {
			size = 2
		}
		w, _ := Quantize(typ, randVec(r, gemmRows*cols))
		panel := w[:gemmRows*cols*size]
		const xstride = cols + 5
		x := randVec(r, 3*gemmVF*xstride)
		kernels, twin := gemmFloatKernels(F32), gemmF32Go
		if typ == F16 {
			kernels, twin = gemmFloatKernels(F16), gemmF16Go
		}
		for _, kernel := range kernels {
			for _, nv := range []int{1, 2, 13, 14, 15, 28, 29, 42} {
				for _, add := range []bool{false, true} {
					got := randVec(r, 3*gemmVF*ldd)
					want := append([]float32(nil), got...)
					kernel(panel, x, xstride, cols, bias, got, ldd, nv, add)
					twin(panel, x, xstride, cols, bias, want, ldd, nv, add)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%v nv=%d add=%v: out[%d] = %v, twin %v", typ, nv, add, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	nb := cols / qk8_0
	panel := make([]byte, nb*gemmQ8Block)
	for i := range panel {
		panel[i] = byte(r.IntN(256))
	}
	for b := range nb { // scales: finite floats
		for i := range gemmRows {
			binary.LittleEndian.PutUint32(panel[b*gemmQ8Block+4*i:], math.Float32bits(float32(r.NormFloat64()*0.01)))
		}
	}
	xp := make([]byte, 3*gemmVQ*nb*gemmQ8XBlock)
	for i := range xp {
		xp[i] = byte(r.IntN(256))
	}
	for b := range 3 * gemmVQ * nb {
		binary.LittleEndian.PutUint32(xp[b*gemmQ8XBlock:], math.Float32bits(float32(r.NormFloat64()*0.01)))
		binary.LittleEndian.PutUint32(xp[b*gemmQ8XBlock+4:], uint32(int32(r.IntN(1<<20)-1<<19)))
	}
	for _, nv := range []int{1, 2, 5, 6, 7, 12, 13, 18} {
		for _, add := range []bool{false, true} {
			got := randVec(r, 3*gemmVQ*ldd)
			want := append([]float32(nil), got...)
			gemmQ8Kernel(panel, xp, nb, bias, got, ldd, nv, add)
			gemmQ8Go(panel, xp, nb, bias, want, ldd, nv, add)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("Q8_0 nv=%d add=%v: out[%d] = %v, twin %v", nv, add, i, got[i], want[i])
				}
			}
		}
	}
}

// TestQuantizeQ8GEMM holds the quantizer in use to its Go twin (which is
// QuantizeAct's rounding) byte for byte: random blocks, a block of zeros,
// and blocks of ties, which round to even.
func TestQuantizeQ8GEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 4))
	x := randVec(r, 8*qk8_0)
	clear(x[qk8_0 : 2*qk8_0])
	for k := range qk8_0 {
		x[2*qk8_0+k] = float32(k) - 15.5 // ×127/16.5: some land on .5
		x[3*qk8_0+k] = float32(k%8)*0.5 + 0.25
	}
	x[3*qk8_0] = 127 // scale 1: the halves tie
	got, want := make([]byte, 8*gemmQ8XBlock), make([]byte, 8*gemmQ8XBlock)
	quantizeQ8GEMM(got, x)
	quantizeQ8GEMMGo(want, x)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("block %d byte %d: %d, Go twin %d", i/gemmQ8XBlock, i%gemmQ8XBlock, got[i], want[i])
		}
	}
	// The twin is QuantizeAct's Q8_0, rearranged.
	q := QuantizeAct(Q8_0, make([]byte, 8*q8_0Size), x)
	for b := range 8 {
		blk := want[b*gemmQ8XBlock:]
		var sum int32
		for k := range qk8_0 {
			if blk[8+k] != q[b*q8_0Size+2+k] {
				t.Fatalf("block %d value %d: %d, QuantizeAct %d", b, k, int8(blk[8+k]), int8(q[b*q8_0Size+2+k]))
			}
			sum += int32(int8(blk[8+k]))
		}
		if d := math.Float32frombits(binary.LittleEndian.Uint32(blk)); d != F16ToF32(binary.LittleEndian.Uint16(q[b*q8_0Size:])) {
			t.Errorf("block %d: scale %v, QuantizeAct %v", b, d, F16ToF32(binary.LittleEndian.Uint16(q[b*q8_0Size:])))
		}
		if c := int32(binary.LittleEndian.Uint32(blk[4:])); c != -128*sum {
			t.Errorf("block %d: correction %d, want %d", b, c, -128*sum)
		}
	}
}

// BenchmarkMatMulGEMM measures the encoder's products (256 tokens, the
// MiniLM shapes) in multiply-adds per CPU second of the one thread,
// against MatMul (MatMulAct for Q8_0).
func BenchmarkMatMulGEMM(b *testing.B) {
	r := rand.New(rand.NewPCG(14, 3))
	const n = 256
	for _, typ := range []Type{F32, F16, Q8_0} {
		for _, shape := range [][2]int{{384, 384}, {1536, 384}, {384, 1536}} {
			rows, cols := shape[0], shape[1]
			data, _ := Quantize(typ, randVec(r, rows*cols))
			m, _ := NewMatrix(typ, rows, cols, data)
			x := randVec(r, n*cols)
			dst := make([]float32, n*rows)
			pool := NewPool(1)
			for _, gemm := range []bool{false, true} {
				b.Run(fmt.Sprintf("%v/%dx%d/gemm=%v", typ, rows, cols, gemm), func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					var buf GEMMBuf
					var scratch []byte
					if gemm && !m.PackGEMM() {
						b.Skip("no GEMM kernels on this CPU")
					}
					start := cputime.Thread()
					for b.Loop() {
						switch {
						case gemm:
							m.MatMulGEMM(pool, dst, x, nil, n, false, &buf)
						case typ == Q8_0:
							scratch = m.MatMulAct(pool, dst, x, n, scratch)
						default:
							m.MatMul(pool, dst, x, n)
						}
					}
					if d := cputime.Thread() - start; d > 0 {
						b.ReportMetric(float64(b.N)*n*float64(rows*cols)/d.Seconds()/1e9, "cpu-GMAC/s")
					}
				})
			}
			pool.Close()
		}
	}
}
