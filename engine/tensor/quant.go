package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize encodes src as type t, following ggml's quantize_row_*_ref
// (Q4_K and Q6_K use the same layout with a simpler scale search).
// len(src) must be a multiple of t's block size.
func Quantize(t Type, src []float32) ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("tensor: cannot quantize to unsupported type %v", t)
	}
	n, err := RowBytes(t, len(src))
	if err != nil {
		return nil, err
	}
	dst := make([]byte, n)
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		for i := 0; i < len(src)/qk8_0; i++ {
			quantizeQ8_0(dst[i*q8_0Size:(i+1)*q8_0Size], src[i*qk8_0:(i+1)*qk8_0])
		}
	case Q4_0:
		for i := 0; i < len(src)/qk4_0; i++ {
			quantizeQ4_0(dst[i*q4_0Size:(i+1)*q4_0Size], src[i*qk4_0:(i+1)*qk4_0])
		}
	case Q4_K:
		for i := 0; i < len(src)/qkK; i++ {
			quantizeQ4K(dst[i*q4KSize:(i+1)*q4KSize], src[i*qkK:(i+1)*qkK])
		}
	case Q6_K:
		for i := 0; i < len(src)/qkK; i++ {
			quantizeQ6K(dst[i*q6KSize:(i+1)*q6KSize], src[i*qkK:(i+1)*qkK])
		}
	case Q4_1:
		for i := 0; i < len(src)/32; i++ {
			quantizeQ4_1(dst[i*q4_1Size:(i+1)*q4_1Size], src[i*32:(i+1)*32])
		}
	case Q5_0:
		for i := 0; i < len(src)/32; i++ {
			quantizeQ5_0(dst[i*q5_0Size:(i+1)*q5_0Size], src[i*32:(i+1)*32])
		}
	case Q5_1:
		for i := 0; i < len(src)/32; i++ {
			quantizeQ5_1(dst[i*q5_1Size:(i+1)*q5_1Size], src[i*32:(i+1)*32])
		}
	case Q5_K:
		for i := 0; i < len(src)/qkK; i++ {
			quantizeQ5K(dst[i*q5KSize:(i+1)*q5KSize], src[i*qkK:(i+1)*qkK])
		}
	}
	return dst, nil
}

// Dequantize decodes src, which holds exactly len(dst) elements of type t,
// into dst.
func Dequantize(t Type, src []byte, dst []float32) error {
	if !t.Valid() {
		return fmt.Errorf("tensor: cannot dequantize unsupported type %v", t)
	}
	n, err := RowBytes(t, len(dst))
	if err != nil {
		return err
	}
	if len(src) != n {
		return fmt.Errorf("tensor: %d elements of %v take %d bytes, got %d", len(dst), t, n, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for i := 0; i < len(dst)/qk8_0; i++ {
			dequantizeQ8_0((*[q8_0Size]byte)(src[i*q8_0Size:]), (*[qk8_0]float32)(dst[i*qk8_0:]))
		}
	case Q4_0:
		for i := 0; i < len(dst)/qk4_0; i++ {
			dequantizeQ4_0((*[q4_0Size]byte)(src[i*q4_0Size:]), (*[qk4_0]float32)(dst[i*qk4_0:]))
		}
	case Q4_K:
		for i := 0; i < len(dst)/qkK; i++ {
			dequantizeQ4K((*[q4KSize]byte)(src[i*q4KSize:]), (*[qkK]float32)(dst[i*qkK:]))
		}
	case Q6_K:
		for i := 0; i < len(dst)/qkK; i++ {
			dequantizeQ6K((*[q6KSize]byte)(src[i*q6KSize:]), (*[qkK]float32)(dst[i*qkK:]))
		}
	case Q4_1:
		for i := 0; i < len(dst)/32; i++ {
			dequantizeQ4_1((*[q4_1Size]byte)(src[i*q4_1Size:]), (*[32]float32)(dst[i*32:]))
		}
	case Q5_0:
		for i := 0; i < len(dst)/32; i++ {
			dequantizeQ5_0((*[q5_0Size]byte)(src[i*q5_0Size:]), (*[32]float32)(dst[i*32:]))
		}
	case Q5_1:
		for i := 0; i < len(dst)/32; i++ {
			dequantizeQ5_1((*[q5_1Size]byte)(src[i*q5_1Size:]), (*[32]float32)(dst[i*32:]))
		}
	case Q5_K:
		for i := 0; i < len(dst)/qkK; i++ {
			dequantizeQ5K((*[q5KSize]byte)(src[i*q5KSize:]), (*[qkK]float32)(dst[i*qkK:]))
		}
	}
	return nil
}

// roundf rounds half away from zero, like C's roundf.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

func nearestInt(f float32) int { return int(math.Round(float64(f))) }

// Q8_0: fp16 d, then 32 int8 q; x = d*q.

func quantizeQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	for j, v := range x {
		dst[2+j] = byte(int8(roundf(v * id)))
	}
}

func dequantizeQ8_0(b *[q8_0Size]byte, y *[qk8_0]float32) {
	d := f16le(b[:])
	for j := range y {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// Q4_0: fp16 d, then 16 bytes; element j<16 is the low nibble of byte j,
// element 16+j the high nibble; x = d*(q-8).

func quantizeQ4_0(dst []byte, x []float32) {
	var amax, vmax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, vmax = a, v
		}
	}
	d := vmax / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	for j := range qk4_0 / 2 {
		x0 := min(15, int8(x[j]*id+8.5))
		x1 := min(15, int8(x[qk4_0/2+j]*id+8.5))
		dst[2+j] = byte(x0) | byte(x1)<<4
	}
}

func dequantizeQ4_0(b *[q4_0Size]byte, y *[qk4_0]float32) {
	d := f16le(b[:])
	for j := range qk4_0 / 2 {
		q := b[2+j]
		y[j] = float32(int(q&0xf)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// Q4_K: 256 elements in 8 sub-blocks of 32. fp16 d, fp16 dmin, 12 bytes of
// 6-bit scales and mins, 128 bytes of nibbles. Each 64 elements use 32 bytes
// of qs: low nibbles are the first sub-block, high nibbles the second.
// x = d*sc*q - dmin*m.

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j from the 12 packed bytes.
func scaleMinK4(j int, q *[12]byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// scalesK4 unpacks all 8 scales and mins at once.
func scalesK4(q *[12]byte) (sc, m [8]uint8) {
	for j := range 4 {
		sc[j] = q[j] & 63
		m[j] = q[j+4] & 63
		sc[j+4] = q[j+8]&0xf | (q[j]>>6)<<4
		m[j+4] = q[j+8]>>4 | (q[j+4]>>6)<<4
	}
	return sc, m
}

// packScalesK4 writes d, dmin and the 6-bit packed scales and mins of a
// Q4_K or Q5_K block, and returns d and dmin as stored.
func packScalesK4(dst []byte, scales, mins [8]float32, maxScale, maxMin float32) (d, dmin float32) {
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := (*[12]byte)(dst[4:16])
	clear(sc[:])
	for j := range 8 {
		ls := uint8(min(63, nearestInt(invScale*scales[j])))
		lm := uint8(min(63, nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(dst[0:], maxScale/63)
	putF16(dst[2:], maxMin/63)
	return f16le(dst[0:]), f16le(dst[2:])
}

func dequantizeQ4K(b *[q4KSize]byte, y *[qkK]float32) {
	d := f16le(b[0:])
	dmin := f16le(b[2:])
	sc, m := scalesK4((*[12]byte)(b[4:16]))
	qs := b[16:]
	for k := range 4 {
		d1, m1 := d*float32(sc[2*k]), dmin*float32(m[2*k])
		d2, m2 := d*float32(sc[2*k+1]), dmin*float32(m[2*k+1])
		q := qs[32*k : 32*k+32]
		yy := y[64*k : 64*k+64]
		for l, v := range q {
			yy[l] = d1*float32(v&0xf) - m1
			yy[l+32] = d2*float32(v>>4) - m2
		}
	}
}

// fitMinScale finds scale and min (min <= 0) such that x ≈ scale*l + min
// with integer l in [0, nmax], searching like ggml's make_qkx2_quants.
// It fills l and returns scale and -min.
func fitMinScale(x []float32, nmax int, l []uint8) (scale, negMin float32) {
	n := len(x)
	xmin, xmax := x[0], x[0]
	var sumx2 float32
	for _, v := range x {
		xmin, xmax = min(xmin, v), max(xmax, v)
		sumx2 += v * v
	}
	xmin = min(xmin, 0)
	if xmax == xmin {
		clear(l)
		return 0, -xmin
	}
	avx := float32(math.Sqrt(float64(sumx2 / float32(n))))
	var wbuf [32]float32
	w := wbuf[:n]
	var sumw, sumx float32
	for i, v := range x {
		w[i] = avx + abs32(v)
		sumw += w[i]
		sumx += w[i] * v
	}
	var ltbuf [32]uint8
	lt := ltbuf[:n]
	quant := func(iscale, mn float32, dst []uint8) {
		for i, v := range x {
			dst[i] = uint8(max(0, min(nmax, nearestInt(iscale*(v-mn)))))
		}
	}
	errOf := func(s, mn float32, q []uint8) float32 {
		var e float32
		for i, v := range x {
			d := s*float32(q[i]) + mn - v
			e += w[i] * d * d
		}
		return e
	}
	iscale := float32(nmax) / (xmax - xmin)
	scale = 1 / iscale
	quant(iscale, xmin, l)
	best := errOf(scale, xmin, l)
	bestMin := xmin
	for is := 0; is <= 20; is++ {
		iscale := (-1 + 0.1*float32(is) + float32(nmax)) / (xmax - xmin)
		quant(iscale, xmin, lt)
		var suml, suml2, sumxl float32
		for i, q := range lt {
			fl := float32(q)
			suml += w[i] * fl
			suml2 += w[i] * fl * fl
			sumxl += w[i] * fl * x[i]
		}
		det := sumw*suml2 - suml*suml
		if det <= 0 {
			continue
		}
		s := (sumw*sumxl - sumx*suml) / det
		mn := (suml2*sumx - suml*sumxl) / det
		if mn > 0 {
			mn = 0
			s = sumxl / suml2
		}
		if e := errOf(s, mn, lt); e < best {
			best, scale, bestMin = e, s, mn
			copy(l, lt)
		}
	}
	return scale, -bestMin
}

func quantizeQ4K(dst []byte, x []float32) {
	var scales, mins [8]float32
	var l [qkK]uint8
	var maxScale, maxMin float32
	for j := range 8 {
		scales[j], mins[j] = fitMinScale(x[32*j:32*j+32], 15, l[32*j:32*j+32])
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	d, dmin := packScalesK4(dst, scales, mins, maxScale, maxMin)
	sc := (*[12]byte)(dst[4:16])
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		dd := d * float32(s)
		if dd == 0 {
			clear(l[32*j : 32*j+32])
			continue
		}
		dm := dmin * float32(m)
		for i := 32 * j; i < 32*j+32; i++ {
			l[i] = uint8(max(0, min(15, nearestInt((x[i]+dm)/dd))))
		}
	}
	qs := dst[16:]
	for k := range 4 {
		for i := range 32 {
			qs[32*k+i] = l[64*k+i] | l[64*k+32+i]<<4
		}
	}
}

// Q6_K: 256 elements in 16 groups of 16 with an int8 scale each. ql[128]
// holds the low 4 bits, qh[64] the high 2 bits, then int8 scales[16] and
// fp16 d. x = d*scale*(q-32). See dequantizeQ6K for the bit positions.

// fitScale finds scale such that x ≈ scale*l with integer l in
// [-nmax, nmax-1], like ggml's make_qx_quants with rmse_type 1. It fills l
// with l+nmax.
func fitScale(x []float32, nmax int, l []uint8) float32 {
	var amax, vmax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, vmax = a, v
		}
	}
	if amax < 1e-30 {
		clear(l)
		for i := range l {
			l[i] = uint8(nmax)
		}
		return 0
	}
	try := func(iscale float32, dst []uint8) (sumlx, suml2 float32) {
		for i, v := range x {
			q := max(-nmax, min(nmax-1, nearestInt(iscale*v)))
			dst[i] = uint8(q + nmax)
			w := v * v
			sumlx += w * v * float32(q)
			suml2 += w * float32(q) * float32(q)
		}
		return sumlx, suml2
	}
	sumlx, suml2 := try(-float32(nmax)/vmax, l)
	scale := sumlx / suml2
	best := scale * sumlx
	var lt [16]uint8
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		slx, sl2 := try(-(float32(nmax)+0.1*float32(is))/vmax, lt[:len(x)])
		if sl2 > 0 && slx*slx > best*sl2 {
			scale = slx / sl2
			best = scale * slx
			copy(l, lt[:len(x)])
		}
	}
	return scale
}

func quantizeQ6K(dst []byte, x []float32) {
	var scales [16]float32
	var l [qkK]uint8
	var maxScale, maxAbs float32
	for ib := range 16 {
		s := fitScale(x[16*ib:16*ib+16], 32, l[16*ib:16*ib+16])
		scales[ib] = s
		if a := abs32(s); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	ql, qh := dst[0:128], dst[128:192]
	sc := dst[192:208]
	if maxAbs < 1e-30 {
		clear(dst)
		return
	}
	iscale := -128 / maxScale
	putF16(dst[208:], 1/iscale)
	for ib := range 16 {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d := f16le(dst[208:])
	for j := range 16 {
		dd := d * float32(int8(sc[j]))
		if dd == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			q := max(-32, min(31, nearestInt(x[i]/dd)))
			l[i] = uint8(q + 32)
		}
	}
	for h := range 2 {
		L := l[128*h:]
		qlh, qhh := ql[64*h:], qh[32*h:]
		for i := range 32 {
			q1, q2, q3, q4 := L[i], L[i+32], L[i+64], L[i+96]
			qlh[i] = q1&0xf | (q3&0xf)<<4
			qlh[i+32] = q2&0xf | (q4&0xf)<<4
			qhh[i] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

func dequantizeQ6K(b *[q6KSize]byte, y *[qkK]float32) {
	d := f16le(b[208:])
	sc := b[192:208]
	for h := range 2 {
		ql, qh := b[64*h:64*h+64], b[128+32*h:128+32*h+32]
		s := sc[8*h : 8*h+8]
		yy := y[128*h : 128*h+128]
		for i := range 32 {
			is := i / 16
			q1 := int(ql[i]&0xf|(qh[i]&3)<<4) - 32
			q2 := int(ql[i+32]&0xf|(qh[i]>>2&3)<<4) - 32
			q3 := int(ql[i]>>4|(qh[i]>>4&3)<<4) - 32
			q4 := int(ql[i+32]>>4|(qh[i]>>6)<<4) - 32
			yy[i] = d * float32(int8(s[is])) * float32(q1)
			yy[i+32] = d * float32(int8(s[is+2])) * float32(q2)
			yy[i+64] = d * float32(int8(s[is+4])) * float32(q3)
			yy[i+96] = d * float32(int8(s[is+6])) * float32(q4)
		}
	}
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
