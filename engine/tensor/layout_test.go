package tensor

import (
	"encoding/binary"
	"math"
	"testing"
)

// The blocks in these tests are written byte by byte from the ggml layout
// (ggml-common.h), and the expected values come from the layout
// description, not from the decoders under test.

const (
	half1       = 0x3c00 // 1.0 in IEEE half precision
	halfHalf    = 0x3800 // 0.5
	half2       = 0x4000 // 2.0
	halfQuarter = 0x3400 // 0.25
)

type layoutCase struct {
	typ  Type
	data []byte
	want []float32
}

func layoutCases() []layoutCase {
	var cases []layoutCase

	// F32: plain little-endian floats.
	{
		want := []float32{1, -2.5, 0, 3e30}
		var b []byte
		for _, v := range want {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		cases = append(cases, layoutCase{F32, b, want})
	}
	// F16: known half-precision bit patterns.
	cases = append(cases, layoutCase{F16,
		[]byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01, 0x00, 0xff, 0x7b, 0x00, 0x80},
		[]float32{1, -2, 0.5, 1.0 / (1 << 24), 65504, float32(math.Copysign(0, -1))}})
	// BF16: the top half of a float32.
	cases = append(cases, layoutCase{BF16,
		[]byte{0x80, 0x3f, 0x40, 0xc0, 0x49, 0x40},
		[]float32{1, -3, math.Float32frombits(0x40490000)}})

	// Q8_0: d = 0.5, q[i] = i-16, value d*q.
	{
		b := []byte{halfHalf & 0xff, halfHalf >> 8}
		want := make([]float32, 32)
		for i := range 32 {
			b = append(b, byte(int8(i-16)))
			want[i] = 0.5 * float32(i-16)
		}
		cases = append(cases, layoutCase{Q8_0, b, want})
	}

	// Q4_0: d = 2, byte j holds element j in its low nibble (j) and
	// element j+16 in its high nibble (15-j); value (q-8)*d.
	{
		b := []byte{half2 & 0xff, half2 >> 8}
		want := make([]float32, 32)
		for j := range 16 {
			b = append(b, byte(j)|byte(15-j)<<4)
			want[j] = float32(j-8) * 2
			want[j+16] = float32(15-j-8) * 2
		}
		cases = append(cases, layoutCase{Q4_0, b, want})
	}

	// Q4_K: d = 1, dmin = 0.5, eight 6-bit scales and mins packed in 12
	// bytes: bytes 0-3 hold sc[0..3] in their low 6 bits and the top 2
	// bits of sc[4..7]; bytes 4-7 likewise m[0..3] and m[4..7]; bytes 8-11
	// the low 4 bits of sc[4..7] (low nibble) and m[4..7] (high nibble).
	// qs: 32 bytes per 64 elements, low nibbles the first sub-block.
	{
		sc := [8]byte{1, 2, 3, 4, 33, 50, 63, 17}
		m := [8]byte{5, 6, 7, 8, 60, 36, 20, 48}
		var packed [12]byte
		for j := range 4 {
			packed[j] = sc[j] | (sc[j+4]>>4)<<6
			packed[j+4] = m[j] | (m[j+4]>>4)<<6
			packed[j+8] = sc[j+4]&0xf | (m[j+4]&0xf)<<4
		}
		b := []byte{half1 & 0xff, half1 >> 8, halfHalf & 0xff, halfHalf >> 8}
		b = append(b, packed[:]...)
		want := make([]float32, 256)
		for k := range 4 {
			for l := range 32 {
				lo, hi := byte(l%16), byte(15-(l+k)%16)
				b = append(b, lo|hi<<4)
				want[64*k+l] = 1*float32(sc[2*k])*float32(lo) - 0.5*float32(m[2*k])
				want[64*k+32+l] = 1*float32(sc[2*k+1])*float32(hi) - 0.5*float32(m[2*k+1])
			}
		}
		cases = append(cases, layoutCase{Q4_K, b, want})
	}

	// Q6_K: 6-bit q in [0,64), value d*scale*(q-32). Element e sits in
	// half h = e/128 at r = e%128, quarter = r/32, l = r%32. Its low 4 bits
	// are in ql[64h + l (+32 for odd quarters)], low nibble for quarters
	// 0-1 and high nibble for 2-3; its top 2 bits are in qh[32h + l] at
	// bit 2*quarter. Its scale is scales[8h + l/16 + 2*quarter].
	{
		const d = 0.25
		var ql [128]byte
		var qh [64]byte
		var scales [16]int8
		for i := range scales {
			scales[i] = int8((i + 1) * (1 - 2*(i%2)) * 7) // 7, -14, 21, ...
		}
		want := make([]float32, 256)
		for e := range 256 {
			q := byte((e*7 + e/64) % 64)
			h, r := e/128, e%128
			quarter, l := r/32, r%32
			qi := 64*h + l
			if quarter%2 == 1 {
				qi += 32
			}
			if quarter < 2 {
				ql[qi] |= q & 0xf
			} else {
				ql[qi] |= (q & 0xf) << 4
			}
			qh[32*h+l] |= (q >> 4) << (2 * quarter)
			s := scales[8*h+l/16+2*quarter]
			want[e] = d * float32(s) * float32(int(q)-32)
		}
		b := append(ql[:], qh[:]...)
		for _, s := range scales {
			b = append(b, byte(s))
		}
		b = append(b, halfQuarter&0xff, halfQuarter>>8)
		cases = append(cases, layoutCase{Q6_K, b, want})
	}
	// Q4_1: d = 0.5, m = -2, nibbles as in Q4_0; value d*q + m.
	{
		b := []byte{halfHalf & 0xff, halfHalf >> 8, 0x00, 0xc0}
		want := make([]float32, 32)
		for j := range 16 {
			b = append(b, byte(j)|byte(15-j)<<4)
			want[j] = 0.5*float32(j) - 2
			want[j+16] = 0.5*float32(15-j) - 2
		}
		cases = append(cases, layoutCase{Q4_1, b, want})
	}

	// Q5_0 and Q5_1: the fifth bit of element e is bit e of the
	// little-endian uint32 qh; low 4 bits as in Q4_0. Q5_0: d = 0.5,
	// value d*(q-16). Q5_1: d = 0.25, m = 1, value d*q + m.
	{
		var qh uint32
		var q [32]int
		var qs []byte
		for j := range 16 {
			qs = append(qs, byte(j)|byte(15-j)<<4)
			q[j], q[j+16] = j, 15-j
		}
		for e := range 32 {
			if e%3 == 0 {
				qh |= 1 << e
				q[e] += 16
			}
		}
		b0 := []byte{halfHalf & 0xff, halfHalf >> 8}
		b0 = binary.LittleEndian.AppendUint32(b0, qh)
		b0 = append(b0, qs...)
		b1 := []byte{halfQuarter & 0xff, halfQuarter >> 8, half1 & 0xff, half1 >> 8}
		b1 = binary.LittleEndian.AppendUint32(b1, qh)
		b1 = append(b1, qs...)
		w0, w1 := make([]float32, 32), make([]float32, 32)
		for e := range 32 {
			w0[e] = 0.5 * float32(q[e]-16)
			w1[e] = 0.25*float32(q[e]) + 1
		}
		cases = append(cases, layoutCase{Q5_0, b0, w0}, layoutCase{Q5_1, b1, w1})
	}

	// Q5_K: d = 1, dmin = 0.5, scales and mins packed as in Q4_K, then
	// qh[32] (bit 2k of qh[l] is the fifth bit of element 64k+l, bit 2k+1
	// that of element 64k+32+l), then qs[128] as in Q4_K.
	{
		sc := [8]byte{9, 2, 63, 4, 33, 50, 1, 17}
		m := [8]byte{5, 0, 7, 63, 16, 36, 20, 48}
		var packed [12]byte
		for j := range 4 {
			packed[j] = sc[j] | (sc[j+4]>>4)<<6
			packed[j+4] = m[j] | (m[j+4]>>4)<<6
			packed[j+8] = sc[j+4]&0xf | (m[j+4]&0xf)<<4
		}
		var qh [32]byte
		var qs [128]byte
		want := make([]float32, 256)
		for k := range 4 {
			for l := range 32 {
				lo, hi := byte(l%16), byte((l*3+k)%16)
				qs[32*k+l] = lo | hi<<4
				if (64*k+l)*5%7 < 3 {
					qh[l] |= 1 << (2 * k)
					lo += 16
				}
				if (64*k+32+l)*5%7 < 3 {
					qh[l] |= 1 << (2*k + 1)
					hi += 16
				}
				want[64*k+l] = float32(sc[2*k])*float32(lo) - 0.5*float32(m[2*k])
				want[64*k+32+l] = float32(sc[2*k+1])*float32(hi) - 0.5*float32(m[2*k+1])
			}
		}
		b := []byte{half1 & 0xff, half1 >> 8, halfHalf & 0xff, halfHalf >> 8}
		b = append(b, packed[:]...)
		b = append(b, qh[:]...)
		b = append(b, qs[:]...)
		cases = append(cases, layoutCase{Q5_K, b, want})
	}
	return cases
}

func TestLayoutCoversEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, tc := range layoutCases() {
		seen[tc.typ] = true
	}
	for _, typ := range SupportedTypes() {
		if !seen[typ] {
			t.Errorf("no hand-built block for %v", typ)
		}
	}
}

func TestLayoutDequantize(t *testing.T) {
	for _, tc := range layoutCases() {
		t.Run(tc.typ.String(), func(t *testing.T) {
			if tc.typ.BlockSize() > 1 && len(tc.data) != tc.typ.BlockBytes() {
				t.Fatalf("hand-built block is %d bytes, BlockBytes says %d", len(tc.data), tc.typ.BlockBytes())
			}
			got := make([]float32, len(tc.want))
			if err := Dequantize(tc.typ, tc.data, got); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(tc.want[i]) && got[i] != tc.want[i] {
					t.Errorf("element %d = %g, want %g", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestLayoutDot(t *testing.T) {
	for _, tc := range layoutCases() {
		t.Run(tc.typ.String(), func(t *testing.T) {
			n := len(tc.want)
			// Two blocks (the second a copy) so block iteration is covered.
			row := append(append([]byte(nil), tc.data...), tc.data...)
			x := make([]float32, 2*n)
			var want, mag float64
			for i := range x {
				x[i] = float32(math.Cos(float64(i))) * 0.5
				w := float64(tc.want[i%n])
				if math.IsInf(w, 0) || math.Abs(w) > 1e20 {
					x[i] = 0
				}
				want += w * float64(x[i])
				mag += math.Abs(w * float64(x[i]))
			}
			got := Dot(tc.typ, row, x)
			if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-6 {
				t.Errorf("Dot = %g, want %g", got, want)
			}
		})
	}
}

func TestF16Conversion(t *testing.T) {
	// Every half value converts to float32 and back to itself.
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		if f != f {
			if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
	cases := []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},          // halfway between 1 and the next half: to even
		{1 + 3.0/2048, 0x3c02},          // halfway, rounds up to even
		{1 + 1.0/2048 + 1e-7, 0x3c01},   // just above halfway
		{65520, 0x7c00},                 // rounds to infinity
		{1e-8, 0},                       // underflow
		{3.0 / (1 << 25), 0x0002},       // subnormal, 1.5 ulp rounds to even 2
		{float32(math.Inf(-1)), 0xfc00}, // infinity
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

func TestBF16Conversion(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80},
		{-3, 0xc040},
		{math.Float32frombits(0x3f808000), 0x3f80}, // halfway, to even
		{math.Float32frombits(0x3f818000), 0x3f82}, // halfway, to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above halfway
	}
	for _, c := range cases {
		if got := F32ToBF16(c.f); got != c.want {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
		if back := BF16ToF32(c.want); math.Float32bits(back) != uint32(c.want)<<16 {
			t.Errorf("BF16ToF32(%#04x) = %g", c.want, back)
		}
	}
	if nan := F32ToBF16(float32(math.NaN())); BF16ToF32(nan) == BF16ToF32(nan) {
		t.Error("NaN did not stay NaN")
	}
}
