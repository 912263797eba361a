package tensor

import "encoding/binary"

// The fallback formats llama.cpp picks when a row is not a multiple of 256
// (Q4_K becomes Q5_0, Q5_K becomes Q5_1), as in MoE experts with 1408
// columns, and the 5-bit K-quant.

const (
	q4_1Size = 2 + 2 + 16     // fp16 d, fp16 m, qs[16]
	q5_0Size = 2 + 4 + 16     // fp16 d, qh[4], qs[16]
	q5_1Size = 2 + 2 + 4 + 16 // fp16 d, fp16 m, qh[4], qs[16]
	q5KSize  = 2 + 2 + 12 + 32 + 128
)

// Q4_1: x = d*q + m, nibbles as in Q4_0.

func quantizeQ4_1(dst []byte, x []float32) {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	d := (hi - lo) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst[0:], d)
	putF16(dst[2:], lo)
	for j := range 16 {
		x0 := min(15, int8((x[j]-lo)*id+0.5))
		x1 := min(15, int8((x[16+j]-lo)*id+0.5))
		dst[4+j] = byte(x0) | byte(x1)<<4
	}
}

func dequantizeQ4_1(b *[q4_1Size]byte, y *[32]float32) {
	d, m := f16le(b[0:]), f16le(b[2:])
	for j := range 16 {
		q := b[4+j]
		y[j] = float32(q&0xf)*d + m
		y[j+16] = float32(q>>4)*d + m
	}
}

func dotQ4_1Go(row []byte, x []float32) float32 {
	nb := checkBlocks(Q4_1, row, len(x), 32, q4_1Size)
	var sum float32
	for i := range nb {
		b := (*[q4_1Size]byte)(row[i*q4_1Size:])
		xs := (*[32]float32)(x[i*32:])
		var sq, sx float32
		for j := range 16 {
			q := b[4+j]
			sq += float32(q&0xf)*xs[j] + float32(q>>4)*xs[j+16]
			sx += xs[j] + xs[j+16]
		}
		sum += f16le(b[0:])*sq + f16le(b[2:])*sx
	}
	return sum
}

// Q5_0: x = d*(q-16) with q of 5 bits: the low 4 as in Q4_0, the fifth of
// element j in bit j of the little-endian uint32 qh.

func quantizeQ5_0(dst []byte, x []float32) {
	var amax, vmax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, vmax = a, v
		}
	}
	d := vmax / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	var qh uint32
	for j := range 16 {
		x0 := uint8(min(31, int8(x[j]*id+16.5)))
		x1 := uint8(min(31, int8(x[16+j]*id+16.5)))
		dst[6+j] = x0&0xf | (x1&0xf)<<4
		qh |= uint32(x0>>4) << j
		qh |= uint32(x1>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(dst[2:], qh)
}

func dequantizeQ5_0(b *[q5_0Size]byte, y *[32]float32) {
	d := f16le(b[0:])
	qh := binary.LittleEndian.Uint32(b[2:])
	for j := range 16 {
		q := b[6+j]
		y[j] = float32(int(q&0xf|uint8(qh>>j&1)<<4)-16) * d
		y[j+16] = float32(int(q>>4|uint8(qh>>(j+16)&1)<<4)-16) * d
	}
}

func dotQ5_0Go(row []byte, x []float32) float32 {
	nb := checkBlocks(Q5_0, row, len(x), 32, q5_0Size)
	var sum float32
	for i := range nb {
		b := (*[q5_0Size]byte)(row[i*q5_0Size:])
		xs := (*[32]float32)(x[i*32:])
		qh := binary.LittleEndian.Uint32(b[2:])
		var s0, s1, sx float32
		for j := range 16 {
			q := b[6+j]
			s0 += float32(q&0xf|uint8(qh>>j&1)<<4) * xs[j]
			s1 += float32(q>>4|uint8(qh>>(j+16)&1)<<4) * xs[j+16]
			sx += xs[j] + xs[j+16]
		}
		sum += f16le(b[0:]) * (s0 + s1 - 16*sx)
	}
	return sum
}

// Q5_1: x = d*q + m with q of 5 bits laid out as in Q5_0.

func quantizeQ5_1(dst []byte, x []float32) {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	d := (hi - lo) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst[0:], d)
	putF16(dst[2:], lo)
	var qh uint32
	for j := range 16 {
		x0 := uint8(min(31, int8((x[j]-lo)*id+0.5)))
		x1 := uint8(min(31, int8((x[16+j]-lo)*id+0.5)))
		dst[8+j] = x0&0xf | (x1&0xf)<<4
		qh |= uint32(x0>>4) << j
		qh |= uint32(x1>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(dst[4:], qh)
}

func dequantizeQ5_1(b *[q5_1Size]byte, y *[32]float32) {
	d, m := f16le(b[0:]), f16le(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	for j := range 16 {
		q := b[8+j]
		y[j] = float32(q&0xf|uint8(qh>>j&1)<<4)*d + m
		y[j+16] = float32(q>>4|uint8(qh>>(j+16)&1)<<4)*d + m
	}
}

func dotQ5_1Go(row []byte, x []float32) float32 {
	nb := checkBlocks(Q5_1, row, len(x), 32, q5_1Size)
	var sum float32
	for i := range nb {
		b := (*[q5_1Size]byte)(row[i*q5_1Size:])
		xs := (*[32]float32)(x[i*32:])
		qh := binary.LittleEndian.Uint32(b[4:])
		var s0, s1, sx float32
		for j := range 16 {
			q := b[8+j]
			s0 += float32(q&0xf|uint8(qh>>j&1)<<4) * xs[j]
			s1 += float32(q>>4|uint8(qh>>(j+16)&1)<<4) * xs[j+16]
			sx += xs[j] + xs[j+16]
		}
		sum += f16le(b[0:])*(s0+s1) + f16le(b[2:])*sx
	}
	return sum
}

// Q5_K: like Q4_K (d, dmin, the same 12 bytes of scales and mins, 128
// bytes of low nibbles) plus qh[32] after the scales: bit 2k of qh[l] is
// the fifth bit of element 64k+l, bit 2k+1 that of element 64k+32+l.

func quantizeQ5K(dst []byte, x []float32) {
	var scales, mins [8]float32
	var l [qkK]uint8
	var maxScale, maxMin float32
	for j := range 8 {
		scales[j], mins[j] = fitMinScale(x[32*j:32*j+32], 31, l[32*j:32*j+32])
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
			l[i] = uint8(max(0, min(31, nearestInt((x[i]+dm)/dd))))
		}
	}
	qh, qs := dst[16:48], dst[48:176]
	clear(qh)
	for k := range 4 {
		for i := range 32 {
			lo, hi := l[64*k+i], l[64*k+32+i]
			qs[32*k+i] = lo&0xf | (hi&0xf)<<4
			qh[i] |= (lo>>4)<<(2*k) | (hi>>4)<<(2*k+1)
		}
	}
}

func dequantizeQ5K(b *[q5KSize]byte, y *[qkK]float32) {
	d := f16le(b[0:])
	dmin := f16le(b[2:])
	sc, m := scalesK4((*[12]byte)(b[4:16]))
	qh, qs := b[16:48], b[48:176]
	for k := range 4 {
		d1, m1 := d*float32(sc[2*k]), dmin*float32(m[2*k])
		d2, m2 := d*float32(sc[2*k+1]), dmin*float32(m[2*k+1])
		q := qs[32*k : 32*k+32]
		yy := y[64*k : 64*k+64]
		for l, v := range q {
			h := qh[l] >> (2 * k)
			yy[l] = d1*float32(v&0xf|(h&1)<<4) - m1
			yy[l+32] = d2*float32(v>>4|(h>>1&1)<<4) - m2
		}
	}
}

func dotQ5KGo(row []byte, x []float32) float32 {
	nb := checkBlocks(Q5_K, row, len(x), qkK, q5KSize)
	var sum float32
	for i := range nb {
		b := (*[q5KSize]byte)(row[i*q5KSize:])
		xs := (*[qkK]float32)(x[i*qkK:])
		sc, m := scalesK4((*[12]byte)(b[4:16]))
		qh := (*[32]byte)(b[16:48])
		var sumq, summ float32
		for k := range 4 {
			q := (*[32]byte)(b[48+32*k:])
			lo := (*[32]float32)(xs[64*k:])
			hi := (*[32]float32)(xs[64*k+32:])
			var a, c, xl, xh float32
			for j := range 32 {
				h := qh[j] >> (2 * k)
				a += float32(q[j]&0xf|(h&1)<<4) * lo[j]
				c += float32(q[j]>>4|(h>>1&1)<<4) * hi[j]
				xl += lo[j]
				xh += hi[j]
			}
			sumq += float32(sc[2*k])*a + float32(sc[2*k+1])*c
			summ += float32(m[2*k])*xl + float32(m[2*k+1])*xh
		}
		sum += f16le(b[0:])*sumq - f16le(b[2:])*summ
	}
	return sum
}
