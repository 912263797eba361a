package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/moegate/moegate/internal/vec"
)

// Quantized activations. llama.cpp's CPU backend does not multiply
// quantized weights with float activations: it quantizes the activation
// vector once per product (to Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_1 for
// Q4_1/Q5_1, Q8_K for the K-quants) and multiplies integers block by
// block. Doing the same gives the same rounding, hence the same near-ties
// in greedy decoding, and integer products are cheaper than float ones.
//
// The activation blocks:
//
//	Q8_0: fp16 d, int8 q[32]                      x ≈ d*q
//	Q8_1: fp16 d, fp16 s = d*Σq, int8 q[32]       x ≈ d*q
//	Q8_K: float32 d, int8 q[256], int16 bsums[16] x ≈ d*q, bsums: Σq per 16
const (
	q8_1Size = 2 + 2 + 32
	q8KSize  = 4 + qkK + 2*qkK/16
)

// Q8_1 and Q8_K are ggml's activation-only types.
const (
	Q8_1 Type = 9
	Q8_K Type = 15
)

// ActType returns the format activations are quantized to for a product
// with weights of type t, and false when t is multiplied with float
// activations (the float types).
func ActType(t Type) (Type, bool) {
	switch t {
	case Q8_0, Q4_0, Q5_0:
		return Q8_0, true
	case Q4_1, Q5_1:
		return Q8_1, true
	case Q4_K, Q5_K, Q6_K:
		return Q8_K, true
	}
	return 0, false
}

// ActBytes is the size of n activations quantized for weights of type t.
func ActBytes(t Type, n int) int {
	at, ok := ActType(t)
	if !ok {
		return 0
	}
	switch at {
	case Q8_0:
		return n / qk8_0 * q8_0Size
	case Q8_1:
		return n / 32 * q8_1Size
	}
	return n / qkK * q8KSize
}

// QuantizeAct writes x, quantized for products with weights of type t,
// into dst (ActBytes(t, len(x)) bytes) and returns it. len(x) must be a
// whole number of t's blocks.
func QuantizeAct(t Type, dst []byte, x []float32) []byte {
	at, ok := ActType(t)
	if !ok {
		panic(fmt.Sprintf("tensor: no quantized activations for %v", t))
	}
	n := ActBytes(t, len(x))
	if len(x)%t.BlockSize() != 0 || len(dst) < n {
		panic(fmt.Sprintf("tensor: QuantizeAct of %d elements for %v into %d bytes", len(x), t, len(dst)))
	}
	dst = dst[:n]
	switch at {
	case Q8_0:
		if quantizeQ8_0Arch(dst, x) {
			break
		}
		for i := range len(x) / qk8_0 {
			quantizeActQ8_0(dst[i*q8_0Size:(i+1)*q8_0Size], x[i*qk8_0:(i+1)*qk8_0])
		}
	case Q8_1:
		for i := range len(x) / 32 {
			quantizeActQ8_1(dst[i*q8_1Size:(i+1)*q8_1Size], x[i*32:(i+1)*32])
		}
	case Q8_K:
		if quantizeQ8KArch(dst, x) {
			break
		}
		for i := range len(x) / qkK {
			quantizeActQ8K(dst[i*q8KSize:(i+1)*q8KSize], x[i*qkK:(i+1)*qkK])
		}
	}
	return dst
}

// quantizeActQ8_0 is ggml's x86 quantize_row_q8_0 (the AVX2 one, which the
// CPU backend runs on this hardware): scale 127/amax, round to nearest
// even. It differs from the reference quantizer (1/d, round half away).
func quantizeActQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x[:qk8_0] {
		amax = max(amax, abs32(v))
	}
	putF16(dst, amax/127)
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for j, v := range x[:qk8_0] {
		dst[2+j] = byte(int8(nearestEven(float32(v * id))))
	}
}

// quantizeActQ8_1 is ggml's x86 quantize_row_q8_1: Q8_0's scale and
// rounding, and s = d*Σq (the sum of the rounded values, in float32, then
// fp16), which the products with Q4_1/Q5_1 use for the weights' offset m.
func quantizeActQ8_1(dst []byte, x []float32) {
	var amax float32
	for _, v := range x[:32] {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	putF16(dst, d)
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	var sum int32
	for j, v := range x[:32] {
		q := nearestEven(float32(v * id))
		dst[4+j] = byte(int8(q))
		sum += q
	}
	putF16(dst[2:], d*float32(sum))
}

// nearestEven rounds f (|f| < 2^22) to the nearest integer, ties to even,
// by ggml's nearest_int trick: adding 1.5*2^23 leaves the integer in the
// low mantissa bits, rounded by the float32 addition.
func nearestEven(f float32) int32 {
	return int32(math.Float32bits(float32(f+12582912))&0x7fffff) - 0x400000
}

// quantizeActQ8K is ggml's quantize_row_q8_K_ref, which x86 builds use: the
// scale comes from the element of largest magnitude with its sign, values
// are rounded by nearest_int (to even) and capped at 127.
func quantizeActQ8K(dst []byte, x []float32) {
	var amax, mx float32
	for _, v := range x[:qkK] {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	clear(dst[:q8KSize])
	if amax == 0 {
		return
	}
	iscale := -127 / mx
	binary.LittleEndian.PutUint32(dst, math.Float32bits(1/iscale))
	q := dst[4 : 4+qkK]
	for j, v := range x[:qkK] {
		q[j] = byte(int8(min(127, nearestEven(float32(iscale*v)))))
	}
	for g := range qkK / 16 {
		var s int16
		for _, b := range q[16*g : 16*g+16] {
			s += int16(int8(b))
		}
		binary.LittleEndian.PutUint16(dst[4+qkK+2*g:], uint16(s))
	}
}

// DequantizeAct decodes n activations quantized for weights of type t
// (QuantizeAct) into dst, exactly: float64 holds every d*q. References in
// tests use it to apply the engine's activation quantization.
func DequantizeAct(t Type, xq []byte, dst []float64) {
	at, ok := ActType(t)
	if !ok || len(xq) < ActBytes(t, len(dst)) || len(dst)%t.BlockSize() != 0 {
		panic(fmt.Sprintf("tensor: DequantizeAct of %d elements for %v from %d bytes", len(dst), t, len(xq)))
	}
	switch at {
	case Q8_0:
		for i := range len(dst) / qk8_0 {
			b := xq[i*q8_0Size:]
			d := float64(f16le(b))
			for j := range qk8_0 {
				dst[qk8_0*i+j] = d * float64(int8(b[2+j]))
			}
		}
	case Q8_1:
		for i := range len(dst) / 32 {
			b := xq[i*q8_1Size:]
			d := float64(f16le(b))
			for j := range 32 {
				dst[32*i+j] = d * float64(int8(b[4+j]))
			}
		}
	case Q8_K:
		for i := range len(dst) / qkK {
			b := xq[i*q8KSize:]
			d := float64(q8Kd(b))
			for j := range qkK {
				dst[qkK*i+j] = d * float64(int8(b[4+j]))
			}
		}
	}
}

// DotAct returns the dot product of row, n elements of type t, with the
// activations xq (QuantizeAct(t, x) of n values).
func DotAct(t Type, row, xq []byte, n int) float32 {
	return dotActFunc(t)(row, xq, n/t.BlockSize())
}

type dotActFn func(row, xq []byte, nb int) float32

func dotActFunc(t Type) dotActFn {
	switch t {
	case Q8_0:
		return dotQ8_0Act
	case Q4_0:
		return dotQ4_0Act
	case Q5_0:
		return dotQ5_0Act
	case Q4_1:
		return dotQ4_1Act
	case Q5_1:
		return dotQ5_1Act
	case Q4_K:
		return dotQ4KAct
	case Q5_K:
		return dotQ5KAct
	case Q6_K:
		return dotQ6KAct
	}
	panic(fmt.Sprintf("tensor: DotAct on %v", t))
}

// The kernels of the 32-element types keep eight float accumulators, one
// per group of four consecutive elements, as the AVX2 kernels keep eight
// lanes, and two sets of them, for even and odd blocks: the group's
// integer sum is exact, and each block adds d_w*d_x*sum to its lane with
// separate multiply and add roundings. The two sets are added and the
// lanes summed in a fixed order (hsum8), so the Go and assembly kernels
// give the same bits.

func hsum8(acc *[2][8]float32) float32 {
	var t [4]float32
	for i := range t {
		t[i] = float32(acc[0][i]+acc[1][i]) + float32(acc[0][i+4]+acc[1][i+4])
	}
	u0 := t[0] + t[2]
	u1 := t[1] + t[3]
	return u0 + u1
}

func checkAct(t Type, row, xq []byte, nb int) {
	if len(row) < nb*t.BlockBytes() || len(xq) < ActBytes(t, nb*t.BlockSize()) {
		panic(fmt.Sprintf("tensor: DotAct of %d %v blocks with a %d-byte row and %d bytes of activations", nb, t, len(row), len(xq)))
	}
}

// Q8_0 follows llama.cpp's ggml_vec_dot_q8_0_q8_0 for AVX2: eight float32
// lanes, lane l taking the exact sum of elements 4l..4l+3 of each block
// as fma(d_w*d_x, sum, lane), then the lanes summed as its hsum_float_8
// does (hsum8 with one set).
func dotQ8_0ActGo(row, xq []byte, nb int) float32 {
	checkAct(Q8_0, row, xq, nb)
	var acc [8]float32
	for i := range nb {
		w := (*[q8_0Size]byte)(row[i*q8_0Size:])
		a := (*[q8_0Size]byte)(xq[i*q8_0Size:])
		d := f16le(w[:]) * f16le(a[:])
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				s += int32(int8(w[2+k])) * int32(int8(a[2+k]))
			}
			acc[l] = vec.FMA32(d, float32(s), acc[l])
		}
	}
	return hsum8(&[2][8]float32{acc})
}

// Q4_0 follows llama.cpp's repacked Q4_0 kernels (ggml_gemv_q4_0_8x8_q8_0,
// which its CPU backend runs on every AVX2 machine): each block's integer
// sum is exact, and one float32 accumulator per row takes
// fma(sum, d_w*d_x, acc) block by block.
func dotQ4_0ActGo(row, xq []byte, nb int) float32 {
	checkAct(Q4_0, row, xq, nb)
	var acc float32
	for i := range nb {
		w := (*[q4_0Size]byte)(row[i*q4_0Size:])
		a := (*[q8_0Size]byte)(xq[i*q8_0Size:])
		var s int32
		for k := range 16 {
			s += (int32(w[2+k]&0xf) - 8) * int32(int8(a[2+k]))
			s += (int32(w[2+k]>>4) - 8) * int32(int8(a[18+k]))
		}
		acc = vec.FMA32(float32(s), f16le(w[:])*f16le(a[:]), acc)
	}
	return acc
}

func dotQ5_0ActGo(row, xq []byte, nb int) float32 {
	checkAct(Q5_0, row, xq, nb)
	var acc [2][8]float32
	for i := range nb {
		w := (*[q5_0Size]byte)(row[i*q5_0Size:])
		a := (*[q8_0Size]byte)(xq[i*q8_0Size:])
		d := f16le(w[:]) * f16le(a[:])
		qh := binary.LittleEndian.Uint32(w[2:])
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				q := int32(w[6+k&15] & 0xf)
				if k >= 16 {
					q = int32(w[6+k&15] >> 4)
				}
				q |= int32(qh>>k&1) << 4
				s += (q - 16) * int32(int8(a[2+k]))
			}
			acc[i&1][l] = float32(acc[i&1][l] + float32(d*float32(s)))
		}
	}
	return hsum8(&acc)
}

// The Q4_1 and Q5_1 kernels add, besides the lanes, the offsets: m_w*s_a
// per block, summed in block order into one float32 added last.

func dotQ4_1ActGo(row, xq []byte, nb int) float32 {
	checkAct(Q4_1, row, xq, nb)
	var acc [2][8]float32
	var summs float32
	for i := range nb {
		w := (*[q4_1Size]byte)(row[i*q4_1Size:])
		a := (*[q8_1Size]byte)(xq[i*q8_1Size:])
		d := f16le(w[0:]) * f16le(a[0:])
		summs = float32(summs + float32(f16le(w[2:])*f16le(a[2:])))
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				q := int32(w[4+k&15] & 0xf)
				if k >= 16 {
					q = int32(w[4+k&15] >> 4)
				}
				s += q * int32(int8(a[4+k]))
			}
			acc[i&1][l] = float32(acc[i&1][l] + float32(d*float32(s)))
		}
	}
	return hsum8(&acc) + summs
}

func dotQ5_1ActGo(row, xq []byte, nb int) float32 {
	checkAct(Q5_1, row, xq, nb)
	var acc [2][8]float32
	var summs float32
	for i := range nb {
		w := (*[q5_1Size]byte)(row[i*q5_1Size:])
		a := (*[q8_1Size]byte)(xq[i*q8_1Size:])
		d := f16le(w[0:]) * f16le(a[0:])
		summs = float32(summs + float32(f16le(w[2:])*f16le(a[2:])))
		qh := binary.LittleEndian.Uint32(w[4:])
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				q := int32(w[8+k&15] & 0xf)
				if k >= 16 {
					q = int32(w[8+k&15] >> 4)
				}
				q |= int32(qh>>k&1) << 4
				s += q * int32(int8(a[4+k]))
			}
			acc[i&1][l] = float32(acc[i&1][l] + float32(d*float32(s)))
		}
	}
	return hsum8(&acc) + summs
}

// The K-quant kernels sum each 256-element block exactly in integers and
// add it to the result in float32, d*sum then dmin*msum, block by block.

func q8Kd(a []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(a)) }

func q8KBsum(a []byte, g int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(a[4+qkK+2*g:])))
}

func dotQ4KActGo(row, xq []byte, nb int) float32 {
	checkAct(Q4_K, row, xq, nb)
	var sum float32
	for i := range nb {
		w := (*[q4KSize]byte)(row[i*q4KSize:])
		a := xq[i*q8KSize : (i+1)*q8KSize]
		q8 := a[4 : 4+qkK]
		sc, m := scalesK4((*[12]byte)(w[4:16]))
		var sumi, summ int32
		for j := range 8 {
			summ += int32(m[j]) * (q8KBsum(a, 2*j) + q8KBsum(a, 2*j+1))
		}
		for k := range 4 {
			q := w[16+32*k : 16+32*k+32]
			var lo, hi int32
			for l := range 32 {
				lo += int32(q[l]&0xf) * int32(int8(q8[64*k+l]))
				hi += int32(q[l]>>4) * int32(int8(q8[64*k+32+l]))
			}
			sumi += int32(sc[2*k])*lo + int32(sc[2*k+1])*hi
		}
		ad := q8Kd(a)
		d := ad * f16le(w[0:])
		dmin := -ad * f16le(w[2:])
		sum = float32(sum + float32(d*float32(sumi)))
		sum = float32(sum + float32(dmin*float32(summ)))
	}
	return sum
}

func dotQ5KActGo(row, xq []byte, nb int) float32 {
	checkAct(Q5_K, row, xq, nb)
	var sum float32
	for i := range nb {
		w := (*[q5KSize]byte)(row[i*q5KSize:])
		a := xq[i*q8KSize : (i+1)*q8KSize]
		q8 := a[4 : 4+qkK]
		sc, m := scalesK4((*[12]byte)(w[4:16]))
		qh, qs := w[16:48], w[48:176]
		var sumi, summ int32
		for j := range 8 {
			summ += int32(m[j]) * (q8KBsum(a, 2*j) + q8KBsum(a, 2*j+1))
		}
		for k := range 4 {
			q := qs[32*k : 32*k+32]
			var lo, hi int32
			for l := range 32 {
				h := qh[l] >> (2 * k)
				lo += int32(q[l]&0xf|(h&1)<<4) * int32(int8(q8[64*k+l]))
				hi += int32(q[l]>>4|(h>>1&1)<<4) * int32(int8(q8[64*k+32+l]))
			}
			sumi += int32(sc[2*k])*lo + int32(sc[2*k+1])*hi
		}
		ad := q8Kd(a)
		d := ad * f16le(w[0:])
		dmin := -ad * f16le(w[2:])
		sum = float32(sum + float32(d*float32(sumi)))
		sum = float32(sum + float32(dmin*float32(summ)))
	}
	return sum
}

func dotQ6KActGo(row, xq []byte, nb int) float32 {
	checkAct(Q6_K, row, xq, nb)
	var sum float32
	for i := range nb {
		w := (*[q6KSize]byte)(row[i*q6KSize:])
		a := xq[i*q8KSize : (i+1)*q8KSize]
		q8 := a[4 : 4+qkK]
		sc := w[192:208]
		var sumi int32
		for h := range 2 {
			ql := w[64*h : 64*h+64]
			qh := w[128+32*h : 128+32*h+32]
			y := q8[128*h : 128*h+128]
			var g [8]int32 // sums per 16 elements, by scale index within the half
			for l := range 32 {
				q1 := int32(ql[l]&0xf | (qh[l]&3)<<4)
				q2 := int32(ql[l+32]&0xf | (qh[l]>>2&3)<<4)
				q3 := int32(ql[l]>>4 | (qh[l]>>4&3)<<4)
				q4 := int32(ql[l+32]>>4 | (qh[l]>>6)<<4)
				g[l/16] += q1 * int32(int8(y[l]))
				g[2+l/16] += q2 * int32(int8(y[l+32]))
				g[4+l/16] += q3 * int32(int8(y[l+64]))
				g[6+l/16] += q4 * int32(int8(y[l+96]))
			}
			for k, s := range g {
				sumi += int32(int8(sc[8*h+k])) * s
			}
		}
		// The values' -32 offset, from the activation group sums (as the
		// AVX2 kernel applies it; equal to subtracting 32 from each value
		// when the sums are those of the block).
		for k := range 16 {
			sumi -= 32 * int32(int8(sc[k])) * q8KBsum(a, k)
		}
		d := q8Kd(a) * f16le(w[208:])
		sum = float32(sum + float32(d*float32(sumi)))
	}
	return sum
}
