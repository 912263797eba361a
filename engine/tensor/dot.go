package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/moegate/moegate/internal/vec"
)

// Dot returns the dot product of row, len(x) elements of type t, with x.
// It works on the encoded blocks directly. It panics if len(x) is not a
// whole number of blocks or row is shorter than len(x) elements.
func Dot(t Type, row []byte, x []float32) float32 {
	return dotFunc(t)(row, x)
}

type dotFn func(row []byte, x []float32) float32

// dot4Fn computes the dot products of row, n elements, with the four
// vectors x[0:n], x[n:2n], x[2n:3n] and x[3n:4n] into dst[0], dst[stride],
// dst[2*stride] and dst[3*stride].
type dot4Fn func(row []byte, x []float32, n int, dst []float32, stride int)

func dotFunc(t Type) dotFn {
	switch t {
	case F32:
		return dotF32
	case F16:
		return dotF16
	case BF16:
		return dotBF16
	case Q8_0:
		return dotQ8_0
	case Q4_0:
		return dotQ4_0
	case Q4_K:
		return dotQ4K
	case Q6_K:
		return dotQ6K
	case Q4_1:
		return dotQ4_1
	case Q5_0:
		return dotQ5_0
	case Q5_1:
		return dotQ5_1
	case Q5_K:
		return dotQ5K
	}
	panic(fmt.Sprintf("tensor: Dot on unsupported type %v", t))
}

func checkBlocks(t Type, row []byte, n, bs, bb int) int {
	if n%bs != 0 || len(row) < n/bs*bb {
		panic(fmt.Sprintf("tensor: Dot of %d %v elements with a %d-byte row", n, t, len(row)))
	}
	return n / bs
}

// dotF32 reads the row's little-endian floats in place where the machine
// is little-endian (and the vector loads need no alignment), a copy
// elsewhere, and gives vec.Dot's bits: every build the same.
func dotF32(row []byte, x []float32) float32 {
	n := len(x)
	row = row[:4*n]
	if n == 0 {
		return 0
	}
	if !littleEndian {
		f := make([]float32, n)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
		}
		return vec.Dot(f, x)
	}
	return vec.Dot(unsafe.Slice((*float32)(unsafe.Pointer(&row[0])), n), x)
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// dot4Go returns the Go four-vector kernel of type t, nil if none: those
// of F32 and F16, with the assembly's bits, for the builds and CPUs
// without it.
func dot4Go(t Type) dot4Fn {
	if t != F32 && t != F16 {
		return nil
	}
	return func(row []byte, x []float32, n int, dst []float32, stride int) {
		dotFloatx4Go(t, row, x, n, dst, stride)
	}
}

// floatAt decodes element i of a row of type t, F32, F16 or BF16.
func floatAt(t Type, row []byte, i int) float32 {
	switch t {
	case F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
	case F16:
		return F16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
	}
	return BF16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
}

// dotFloatx4Go is dotF32x4 and dotF16x4 (the assembly) in Go, in their
// order and roundings: per vector two 8-lane accumulators taking fused
// multiply-adds 16 elements at a time, summed lane-wise and then
// pairwise, plus the one-vector kernel's product of the elements after
// the last 16.
func dotFloatx4Go(t Type, row []byte, x []float32, n int, dst []float32, stride int) {
	size := t.BlockBytes()
	row = row[:size*n]
	_ = x[4*n-1]
	_ = dst[3*stride]
	m := n &^ 15
	var a, b [4][8]float32
	var w [16]float32
	for g := 0; g < m; g += 16 {
		for k := range w {
			w[k] = floatAt(t, row, g+k)
		}
		for j := range 4 {
			xs := (*[16]float32)(x[j*n+g:])
			for l := range 8 {
				a[j][l] = vec.FMA32(w[l], xs[l], a[j][l])
				b[j][l] = vec.FMA32(w[8+l], xs[8+l], b[j][l])
			}
		}
	}
	for j := range 4 {
		var s [4]float32
		for l := range s {
			s[l] = (a[j][l] + b[j][l]) + (a[j][l+4] + b[j][l+4])
		}
		dst[j*stride] = (s[0] + s[1]) + (s[2] + s[3])
		if m < n {
			dst[j*stride] += dotFunc(t)(row[size*m:], x[j*n+m:(j+1)*n])
		}
	}
}

// dotHalfGo is the F16 and BF16 assembly kernels' dot product in Go, in
// their order and roundings: vec.Lanes over the whole eights, then the
// other elements through dotF16Go or dotBF16Go, as dotF16 and dotBF16 add
// them.
func dotHalfGo(t Type, row []byte, x []float32) float32 {
	n := len(x)
	row = row[:2*n]
	rest := dotF16Go
	if t == BF16 {
		rest = dotBF16Go
	}
	if n < 8 {
		return rest(row, x)
	}
	m := n &^ 7
	var l vec.Lanes
	var w [32]float32
	i := 0
	for ; i+32 <= m; i += 32 {
		for k := range w {
			w[k] = floatAt(t, row, i+k)
		}
		l.Add32(&w, (*[32]float32)(x[i:]))
	}
	for ; i < m; i += 8 {
		for k := range 8 {
			w[k] = floatAt(t, row, i+k)
		}
		l.Add8((*[8]float32)(w[:8]), (*[8]float32)(x[i:]))
	}
	s := l.Sum()
	if m < n {
		s += rest(row[2*m:], x[m:])
	}
	return s
}

func dotF16Go(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		r := row[2*i : 2*i+4]
		s0 += F16ToF32(uint16(r[0])|uint16(r[1])<<8) * x[i]
		s1 += F16ToF32(uint16(r[2])|uint16(r[3])<<8) * x[i+1]
	}
	for ; i < len(x); i++ {
		s0 += F16ToF32(binary.LittleEndian.Uint16(row[2*i:])) * x[i]
	}
	return s0 + s1
}

func dotBF16Go(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		r := row[2*i : 2*i+8]
		xx := x[i : i+4]
		s0 += math.Float32frombits(uint32(r[0])<<16|uint32(r[1])<<24) * xx[0]
		s1 += math.Float32frombits(uint32(r[2])<<16|uint32(r[3])<<24) * xx[1]
		s2 += math.Float32frombits(uint32(r[4])<<16|uint32(r[5])<<24) * xx[2]
		s3 += math.Float32frombits(uint32(r[6])<<16|uint32(r[7])<<24) * xx[3]
	}
	for ; i < len(x); i++ {
		s0 += BF16ToF32(binary.LittleEndian.Uint16(row[2*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotQ8_0Go(row []byte, x []float32) float32 {
	nb := checkBlocks(Q8_0, row, len(x), qk8_0, q8_0Size)
	var sum float32
	for i := range nb {
		b := (*[q8_0Size]byte)(row[i*q8_0Size:])
		xs := (*[qk8_0]float32)(x[i*qk8_0:])
		q := (*[qk8_0]byte)(b[2:])
		var s0, s1, s2, s3 float32
		for j := 0; j < qk8_0; j += 4 {
			q4 := (*[4]byte)(q[j:])
			x4 := (*[4]float32)(xs[j:])
			s0 += float32(int8(q4[0])) * x4[0]
			s1 += float32(int8(q4[1])) * x4[1]
			s2 += float32(int8(q4[2])) * x4[2]
			s3 += float32(int8(q4[3])) * x4[3]
		}
		sum += f16le(b[:]) * ((s0 + s1) + (s2 + s3))
	}
	return sum
}

func dotQ4_0Go(row []byte, x []float32) float32 {
	nb := checkBlocks(Q4_0, row, len(x), qk4_0, q4_0Size)
	var sum float32
	for i := range nb {
		b := (*[q4_0Size]byte)(row[i*q4_0Size:])
		xs := (*[qk4_0]float32)(x[i*qk4_0:])
		q := (*[16]byte)(b[2:])
		lo := (*[16]float32)(xs[0:16])
		hi := (*[16]float32)(xs[16:32])
		var s0, s1, s2, s3, sx float32
		for j := 0; j < 16; j += 2 {
			q2 := (*[2]byte)(q[j:])
			l2 := (*[2]float32)(lo[j:])
			h2 := (*[2]float32)(hi[j:])
			s0 += float32(q2[0]&0xf) * l2[0]
			s1 += float32(q2[0]>>4) * h2[0]
			s2 += float32(q2[1]&0xf) * l2[1]
			s3 += float32(q2[1]>>4) * h2[1]
			sx += (l2[0] + h2[0]) + (l2[1] + h2[1])
		}
		// Σ(q-8)x = Σqx - 8Σx
		sum += f16le(b[:]) * ((s0 + s1) + (s2 + s3) - 8*sx)
	}
	return sum
}

func dotQ4KGo(row []byte, x []float32) float32 {
	nb := checkBlocks(Q4_K, row, len(x), qkK, q4KSize)
	var sum float32
	for i := range nb {
		b := (*[q4KSize]byte)(row[i*q4KSize:])
		xs := (*[qkK]float32)(x[i*qkK:])
		sc, m := scalesK4((*[12]byte)(b[4:16]))
		var sumq, summ float32
		for k := range 4 {
			q := (*[32]byte)(b[16+32*k:])
			lo := (*[32]float32)(xs[64*k:])
			hi := (*[32]float32)(xs[64*k+32:])
			var a0, a1, b0, b1, xl, xh float32
			for j := 0; j < 32; j += 2 {
				q2 := (*[2]byte)(q[j:])
				l2 := (*[2]float32)(lo[j:])
				h2 := (*[2]float32)(hi[j:])
				a0 += float32(q2[0]&0xf) * l2[0]
				a1 += float32(q2[1]&0xf) * l2[1]
				b0 += float32(q2[0]>>4) * h2[0]
				b1 += float32(q2[1]>>4) * h2[1]
				xl += l2[0] + l2[1]
				xh += h2[0] + h2[1]
			}
			sumq += float32(sc[2*k])*(a0+a1) + float32(sc[2*k+1])*(b0+b1)
			summ += float32(m[2*k])*xl + float32(m[2*k+1])*xh
		}
		sum += f16le(b[0:])*sumq - f16le(b[2:])*summ
	}
	return sum
}

func dotQ6KGo(row []byte, x []float32) float32 {
	nb := checkBlocks(Q6_K, row, len(x), qkK, q6KSize)
	var sum float32
	for i := range nb {
		b := (*[q6KSize]byte)(row[i*q6KSize:])
		xs := (*[qkK]float32)(x[i*qkK:])
		sc := (*[16]byte)(b[192:])
		var acc float32
		for h := range 2 {
			ql := (*[64]byte)(b[64*h:])
			qh := (*[32]byte)(b[128+32*h:])
			y := (*[128]float32)(xs[128*h:])
			for g := range 2 { // l in [16g, 16g+16) shares scales is = g
				var s1, s2, s3, s4 float32
				for l := 16 * g; l < 16*g+16; l++ {
					lb, hb, h := ql[l&31], ql[(l&31)+32], qh[l&31]
					s1 += float32(int(lb&0xf|(h&3)<<4)-32) * y[l&127]
					s2 += float32(int(hb&0xf|(h>>2&3)<<4)-32) * y[(l+32)&127]
					s3 += float32(int(lb>>4|(h>>4&3)<<4)-32) * y[(l+64)&127]
					s4 += float32(int(hb>>4|(h>>6)<<4)-32) * y[(l+96)&127]
				}
				s := sc[8*h+g : 8*h+g+7]
				acc += float32(int8(s[0]))*s1 + float32(int8(s[2]))*s2 +
					float32(int8(s[4]))*s3 + float32(int8(s[6]))*s4
			}
		}
		sum += f16le(b[208:]) * acc
	}
	return sum
}
