package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/moegate/moegate/internal/cputime"
)

// actTypes are the weight types with integer kernels.
var actTypes = []Type{Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K}

func dequantAct64(t Type, xq []byte, n int) []float64 {
	out := make([]float64, n)
	DequantizeAct(t, xq, out)
	return out
}

// TestQuantizeActRounding checks the quantizers on values whose results
// are known: Q8_0 rounds x*127/amax to even, Q8_K scales by -127/max with
// the sign of the largest-magnitude element and caps at 127.
func TestQuantizeActRounding(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2], x[3], x[4], x[5] = 127, 2.5, 3.5, -2.5, -0.5, 1.5
	b := QuantizeAct(Q8_0, make([]byte, q8_0Size), x)
	if d := f16le(b); d != 1 {
		t.Errorf("Q8_0 d = %v, want 1", d)
	}
	for i, want := range []int8{127, 2, 4, -2, 0, 2} {
		if got := int8(b[2+i]); got != want {
			t.Errorf("Q8_0 q[%d] = %d, want %d (x = %v)", i, got, want, x[i])
		}
	}
	if b := QuantizeAct(Q8_0, make([]byte, q8_0Size), make([]float32, 32)); f16le(b) != 0 || b[2] != 0 {
		t.Errorf("Q8_0 of zeros: %v", b[:4])
	}

	// Q8_1: Q8_0's values, and s = d*Σq in fp16 (here 127+2+4-2+0+2 = 133).
	x = make([]float32, 32)
	x[0], x[1], x[2], x[3], x[4], x[5] = 127, 2.5, 3.5, -2.5, -0.5, 1.5
	b = QuantizeAct(Q4_1, make([]byte, q8_1Size), x)
	if d, s := f16le(b), f16le(b[2:]); d != 1 || s != 133 || int8(b[4+1]) != 2 || int8(b[4+2]) != 4 {
		t.Errorf("Q8_1: d %v s %v q %v", d, s, b[4:10])
	}

	x = make([]float32, qkK)
	x[0], x[1], x[2], x[17] = -4, 1, 4, 0.5 // max -4: iscale 31.75
	b = QuantizeAct(Q4_K, make([]byte, q8KSize), x)
	if d, want := q8Kd(b), float32(1/float32(31.75)); d != want {
		t.Errorf("Q8_K d = %v, want %v", d, want)
	}
	q := func(i int) int8 { return int8(b[4+i]) }
	// 31.75*-4 = -127; 31.75 rounds to 32; 31.75*4 = 127; 15.875 to 16
	if q(0) != -127 || q(1) != 32 || q(2) != 127 || q(17) != 16 {
		t.Errorf("Q8_K q = %d %d %d %d", q(0), q(1), q(2), q(17))
	}
	if s0, s1 := binary.LittleEndian.Uint16(b[4+qkK:]), binary.LittleEndian.Uint16(b[4+qkK+2:]); int16(s0) != 32 || int16(s1) != 16 {
		t.Errorf("Q8_K bsums %d %d, want 32 16", int16(s0), int16(s1))
	}
	x[0] = 4 // max +4: iscale -31.75, -4*... caps: 4 → -127, -4 → 127
	x[2] = -4
	b = QuantizeAct(Q4_K, make([]byte, q8KSize), x)
	if q(0) != -127 || q(2) != 127 || q(1) != -32 {
		t.Errorf("Q8_K with positive max: q = %d %d %d", q(0), q(1), q(2))
	}
}

// TestDotActHandBuilt multiplies blocks built by hand, whose products are
// exact in float32.
func TestDotActHandBuilt(t *testing.T) {
	// Q8_0 weights q_w[k] = k-16, d_w = 0.5; activations q_a[k] = 1 for
	// k even, -2 for k odd, d_a = 0.25. Σ(k-16)·a = Σeven(k-16) - 2Σodd(k-16).
	w := make([]byte, q8_0Size)
	putF16(w, 0.5)
	a := make([]byte, q8_0Size)
	putF16(a, 0.25)
	var want int
	for k := range 32 {
		w[2+k] = byte(int8(k - 16))
		qa := 1
		if k%2 == 1 {
			qa = -2
		}
		a[2+k] = byte(int8(qa))
		want += (k - 16) * qa
	}
	if got := DotAct(Q8_0, w, a, 32); got != float32(want)*0.125 {
		t.Errorf("Q8_0: %v, want %v", got, float32(want)*0.125)
	}

	// Q4_0: nibbles 15 (low) and 0 (high) in every byte: weights 7 for
	// elements 0-15, -8 for 16-31, d_w = 2; same activations.
	w4 := make([]byte, q4_0Size)
	putF16(w4, 2)
	for j := range 16 {
		w4[2+j] = 0x0f
	}
	want = 0
	for k := range 32 {
		qw := 7
		if k >= 16 {
			qw = -8
		}
		want += qw * int(int8(a[2+k]))
	}
	if got := DotAct(Q4_0, w4, a, 32); got != float32(want)*0.5 {
		t.Errorf("Q4_0: %v, want %v", got, float32(want)*0.5)
	}

	// Q6_K: every 6-bit value 33 (q = 1), scales 1..16, d = 1; activations
	// all 1 with d = 1: Σ scales*16 = 16*136.
	w6 := make([]byte, q6KSize)
	for i := range 128 {
		w6[i] = 0x11 // low and high nibble 1
	}
	for i := range 64 {
		w6[128+i] = 0xaa // high bits 2 for all four: 1 | 2<<4 = 33
	}
	for k := range 16 {
		w6[192+k] = byte(k + 1)
	}
	putF16(w6[208:], 1)
	a8 := make([]byte, q8KSize)
	binary.LittleEndian.PutUint32(a8, math.Float32bits(1))
	for j := range qkK {
		a8[4+j] = 1
	}
	for g := range 16 {
		binary.LittleEndian.PutUint16(a8[4+qkK+2*g:], 16)
	}
	if got := DotAct(Q6_K, w6, a8, qkK); got != 16*136 {
		t.Errorf("Q6_K: %v, want %v", got, 16*136)
	}

	// Q4_K: d = 1, dmin = 1, scales 1..8, mins 1 (packed as ggml does for
	// values below 64), every nibble 2; activations 1, bsums 16.
	// Σ = Σ_j sc_j*32*2 - Σ_j m_j*32 = 64*36 - 8*32.
	wk := make([]byte, q4KSize)
	putF16(wk[0:], 1)
	putF16(wk[2:], 1)
	sc := wk[4:16]
	for j := range 4 {
		sc[j] = byte(j + 1)        // scale j
		sc[j+4] = 1                // min j
		sc[j+8] = byte(j+5) | 1<<4 // scale j+4 low bits, min j+4 low bits
	}
	for i := range 128 {
		wk[16+i] = 0x22
	}
	if got := DotAct(Q4_K, wk, a8, qkK); got != 64*36-8*32 {
		t.Errorf("Q4_K: %v, want %v", got, 64*36-8*32)
	}
}

// TestDotActMatchesFloat64 compares the integer kernels with a float64
// dot product of the dequantized weights and dequantized activations: the
// same activation quantization, exact arithmetic.
func TestDotActMatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, typ := range actTypes {
		for _, n := range []int{256, 512, 2048} {
			w, err := Quantize(typ, randVec(r, n))
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(r, n)
			for i := range x { // activations with a few outliers, as real ones
				if r.IntN(50) == 0 {
					x[i] *= 20
				}
			}
			xq := QuantizeAct(typ, make([]byte, ActBytes(typ, n)), x)
			wf := make([]float32, n)
			if err := Dequantize(typ, w, wf); err != nil {
				t.Fatal(err)
			}
			xa := dequantAct64(typ, xq, n)
			var want, mag float64
			for i := range n {
				want += float64(wf[i]) * xa[i]
				mag += math.Abs(float64(wf[i]) * xa[i])
			}
			if at, _ := ActType(typ); at == Q8_1 {
				// x = d*q + m: the m term uses the activations' stored sum
				// s (fp16 of d*Σq), as llama.cpp's, not Σ of their values.
				for b := range n / 32 {
					m := float64(f16le(w[b*typ.BlockBytes()+2:]))
					s := float64(f16le(xq[b*q8_1Size+2:]))
					for j := range 32 {
						want -= m * xa[32*b+j]
					}
					want += m * s
				}
			}
			got := DotAct(typ, w, xq, n)
			if math.Abs(float64(got)-want) > 2e-6*mag {
				t.Errorf("%v n=%d: %v, float64 reference %v (Σ|wx| %v)", typ, n, got, want, mag)
			}
			if gotGo := dotActGo(typ)(w, xq, n/typ.BlockSize()); gotGo != got {
				t.Errorf("%v n=%d: Go kernel %v, kernel in use %v", typ, n, gotGo, got)
			}
			// The float-activation path differs only by the activation
			// rounding: within 1% of the magnitude.
			if f := Dot(typ, w, x); math.Abs(float64(f)-float64(got)) > 0.01*mag {
				t.Errorf("%v n=%d: float activations %v, quantized %v", typ, n, f, got)
			}
		}
	}
}

func dotActGo(t Type) dotActFn {
	switch t {
	case Q8_0:
		return dotQ8_0ActGo
	case Q4_0:
		return dotQ4_0ActGo
	case Q5_0:
		return dotQ5_0ActGo
	case Q4_1:
		return dotQ4_1ActGo
	case Q5_1:
		return dotQ5_1ActGo
	case Q4_K:
		return dotQ4KActGo
	case Q5_K:
		return dotQ5KActGo
	case Q6_K:
		return dotQ6KActGo
	}
	return nil
}

// TestMatMulAct checks the batched product against row-by-row DotAct, and
// with several threads.
func TestMatMulAct(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	pool := NewPool(3)
	defer pool.Close()
	for _, typ := range actTypes {
		rows, cols, n := 70, 512, 5
		data, err := Quantize(typ, randVec(r, rows*cols))
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatrix(typ, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		x := randVec(r, n*cols)
		for _, p := range []*Pool{nil, pool, pool} {
			if p != nil && m.packed == nil {
				m.Pack() // the second pass with the packed rows, where the type has them
			}
			dst := make([]float32, n*rows)
			m.MatMulAct(p, dst, x, n, nil)
			for j := range n {
				xq := QuantizeAct(typ, make([]byte, ActBytes(typ, cols)), x[j*cols:(j+1)*cols])
				for i := range rows {
					if want := DotAct(typ, m.Row(i), xq, cols); dst[j*rows+i] != want {
						t.Fatalf("%v vector %d row %d: %v, want %v", typ, j, i, dst[j*rows+i], want)
					}
				}
			}
		}
	}
}

// TestQuantizeActKernels holds QuantizeAct (the assembly where the CPU has
// it) to the per-block Go quantizers, byte for byte, on blocks of random
// values, zeros, exact ties, tiny and huge scales, and a largest magnitude
// present with both signs (Q8_K takes the first one's sign).
func TestQuantizeActKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 4 * qkK
	fills := []struct {
		name string
		fill func(x []float32)
	}{
		{"normal", func(x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
		}},
		{"zeros", func(x []float32) { clear(x) }},
		{"ties", func(x []float32) { // amax 127: x·127/amax = x, halves tie
			for i := range x {
				x[i] = float32(r.IntN(254)-127) + 0.5
			}
			for i := 0; i < len(x); i += 32 {
				x[i] = 127
			}
		}},
		{"both signs", func(x []float32) {
			for i := range x {
				x[i] = float32(r.Float64()*6 - 3)
			}
			for i := 0; i < len(x); i += 64 {
				x[i+5], x[i+40] = -4, 4
			}
			for i := 128; i < len(x); i += 256 {
				x[i], x[i+1] = 4, -4
			}
		}},
		{"tiny", func(x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64() * 1e-7)
			}
		}},
		{"huge", func(x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64() * 1e30)
			}
		}},
		{"sparse", func(x []float32) {
			clear(x)
			for range 20 {
				x[r.IntN(len(x))] = float32(r.NormFloat64())
			}
			clear(x[qkK : qkK+64])
		}},
	}
	x := make([]float32, n)
	for _, f := range fills {
		for _, typ := range []Type{Q8_0, Q4_K} {
			f.fill(x)
			got := QuantizeAct(typ, make([]byte, ActBytes(typ, n)), x)
			want := make([]byte, len(got))
			if typ == Q8_0 {
				for i := range n / qk8_0 {
					quantizeActQ8_0(want[i*q8_0Size:], x[i*qk8_0:])
				}
			} else {
				for i := range n / qkK {
					quantizeActQ8K(want[i*q8KSize:], x[i*qkK:])
				}
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s %v: byte %d = %#x, want %#x", f.name, typ, i, got[i], want[i])
					break
				}
			}
		}
	}
}

// BenchmarkQuantizeAct quantizes a decoder's 2048-wide activation row for
// Q8_0 and Q8_K products (kernel = QuantizeAct, go = the per-block Go
// quantizers), in CPU ns per row.
func BenchmarkQuantizeAct(b *testing.B) {
	const n = 2048
	x := make([]float32, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range []Type{Q8_0, Q4_K} {
		dst := make([]byte, ActBytes(typ, n))
		for _, impl := range []string{"kernel", "go"} {
			b.Run(typ.String()+"/"+impl, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := cputime.Thread()
				for b.Loop() {
					switch {
					case impl == "kernel":
						QuantizeAct(typ, dst, x)
					case typ == Q8_0:
						for i := range n / qk8_0 {
							quantizeActQ8_0(dst[i*q8_0Size:], x[i*qk8_0:])
						}
					default:
						for i := range n / qkK {
							quantizeActQ8K(dst[i*q8KSize:], x[i*qkK:])
						}
					}
				}
				if d := cputime.Thread() - start; d > 0 {
					b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/row")
				}
			})
		}
	}
}
