package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/moegate/moegate/internal/cputime"
)

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 4096
	x := randVec(r, n)
	for _, typ := range SupportedTypes() {
		row, err := Quantize(typ, randVec(r, n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			var s float32
			for b.Loop() {
				s += Dot(typ, row, x)
			}
			_ = s
		})
	}
}

func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := []struct{ rows, cols int }{{512, 1408}, {1408, 512}}
	for _, typ := range SupportedTypes() {
		for _, sh := range shapes {
			cols := sh.cols
			if cols%typ.BlockSize() != 0 {
				cols = (cols + typ.BlockSize() - 1) / typ.BlockSize() * typ.BlockSize()
			}
			data, err := Quantize(typ, randVec(r, sh.rows*cols))
			if err != nil {
				b.Fatal(err)
			}
			m, err := NewMatrix(typ, sh.rows, cols, data)
			if err != nil {
				b.Fatal(err)
			}
			x, dst := randVec(r, cols), make([]float32, sh.rows)
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%v/%dx%d/threads=%d", typ, sh.rows, cols, threads), func(b *testing.B) {
					pool := NewPool(threads)
					defer pool.Close()
					b.SetBytes(int64(len(data)))
					for b.Loop() {
						m.MatVec(pool, dst, x)
					}
				})
			}
		}
	}
}

func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	const rows, cols, n = 512, 1536, 32
	for _, typ := range []Type{F32, Q8_0, Q4_K} {
		data, _ := Quantize(typ, randVec(r, rows*cols))
		m, _ := NewMatrix(typ, rows, cols, data)
		x, dst := randVec(r, n*cols), make([]float32, n*rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/n=%d/threads=%d", typ, n, threads), func(b *testing.B) {
				pool := NewPool(threads)
				defer pool.Close()
				b.SetBytes(int64(len(data)) * n) // weight bytes as if read once per vector
				for b.Loop() {
					m.MatMul(pool, dst, x, n)
				}
			})
			// The same work as n MatVec calls, for comparison.
			b.Run(fmt.Sprintf("%v/n=%d/threads=%d/MatVecs", typ, n, threads), func(b *testing.B) {
				pool := NewPool(threads)
				defer pool.Close()
				b.SetBytes(int64(len(data)) * n)
				for b.Loop() {
					for j := range n {
						m.MatVec(pool, dst[j*rows:(j+1)*rows], x[j*cols:(j+1)*cols])
					}
				}
			})
		}
	}
}

func BenchmarkPoolFor(b *testing.B) {
	pool := NewPool(2)
	defer pool.Close()
	var sink [64]int
	for b.Loop() {
		pool.For(64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sink[i]++
			}
		})
	}
}

// BenchmarkRows compares, one thread, the float-activation rows (DotRows,
// exact_float) with the integer ones (DotRowsAct, activation quantization
// included) on a matrix in cache (512x512) and one far larger than the
// caches (4096x4096): GB/s is weight bytes read per second.
func BenchmarkRows(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, sh := range []struct{ rows, cols int }{{512, 512}, {4096, 4096}} {
		for _, typ := range actTypes {
			data, err := Quantize(typ, randVec(r, sh.rows*sh.cols))
			if err != nil {
				b.Fatal(err)
			}
			m, _ := NewMatrix(typ, sh.rows, sh.cols, data)
			x, dst := randVec(r, sh.cols), make([]float32, sh.rows)
			name := fmt.Sprintf("%dx%d/%v", sh.rows, sh.cols, typ)
			b.Run(name+"/act=f32", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				sums := make([]float32, SumsLen(typ, sh.cols))
				defer cpuRate(b, len(data))()
				for b.Loop() {
					BlockSums(sums, x)
					m.DotRows(dst, x, sums, 0, sh.rows)
				}
			})
			q8 := func(m *Matrix) func(b *testing.B) {
				return func(b *testing.B) {
					b.SetBytes(int64(len(data)))
					xq := make([]byte, ActBytes(typ, sh.cols))
					defer cpuRate(b, len(data))()
					for b.Loop() {
						QuantizeAct(typ, xq, x)
						m.DotRowsAct(dst, xq, 0, sh.rows)
					}
				}
			}
			b.Run(name+"/act=q8", q8(m))
			// The engine's layout: rows repacked at load where the type
			// has packed kernels (bytes are still the file's).
			if pm, _ := NewMatrix(typ, sh.rows, sh.cols, data); pm.Pack() {
				b.Run(name+"/act=q8/packed", q8(pm))
			}
		}
	}
}

// BenchmarkMatMulAct is prompt processing's product: 32 vectors against
// one matrix on one thread, the four-vector kernels where the type has
// them. Bytes are the weights' as if read once per vector.
func BenchmarkMatMulAct(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	const rows, cols, n = 512, 1536, 32
	for _, typ := range []Type{Q8_0, Q4_0, Q4_K, Q6_K} {
		data, err := Quantize(typ, randVec(r, rows*cols))
		if err != nil {
			b.Fatal(err)
		}
		x, dst := randVec(r, n*cols), make([]float32, n*rows)
		run := func(m *Matrix) func(b *testing.B) {
			return func(b *testing.B) {
				pool := NewPool(1)
				defer pool.Close()
				b.SetBytes(int64(len(data)) * n)
				var scratch []byte
				defer cpuRate(b, len(data)*n)()
				for b.Loop() {
					scratch = m.MatMulAct(pool, dst, x, n, scratch)
				}
			}
		}
		name := fmt.Sprintf("%v/n=%d", typ, n)
		m, _ := NewMatrix(typ, rows, cols, data)
		b.Run(name, run(m))
		// The engine's layout: rows repacked at load where the type has
		// packed kernels.
		if pm, _ := NewMatrix(typ, rows, cols, data); pm.Pack() {
			b.Run(name+"/packed", run(pm))
		}
	}
}

// cpuRate reports, when the returned function is called at the end of a
// one-goroutine benchmark, the bytes per second of the OS thread's CPU
// time ("cpu-MB/s"), which a busy machine does not deflate.
func cpuRate(b *testing.B, bytes int) func() {
	runtime.LockOSThread()
	start := cputime.Thread()
	return func() {
		defer runtime.UnlockOSThread()
		if d := cputime.Thread() - start; d > 0 {
			b.ReportMetric(float64(bytes)*float64(b.N)/d.Seconds()/1e6, "cpu-MB/s")
		}
	}
}
