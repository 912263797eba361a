package tensor

import (
	"encoding/binary"
	"math"
)

// q4PackedBlock and q8PackedBlock are the sizes of one block of eight
// packed rows: their eight fp16 scales, then their values (8×16 bytes of
// nibbles, 8×32 bytes).
const (
	q4PackedBlock = 8 * q4_0Size
	q8PackedBlock = 8 * q8_0Size
)

// packQ4_0 returns the rows of a Q4_0 matrix (rows whole groups of eight
// first, any remaining rows left out) interleaved eight by eight as the
// packed kernels read them, like llama.cpp's CPU backend repacks Q4_0
// (block_q4_0x8): for each group of eight rows and each block, the eight
// scales, then for k = 0..3 bytes 4k..4k+3 of each row's nibbles, row by
// row.
func packQ4_0(a *Arena, data []byte, rows, nb int) []byte {
	return pack8x4(a, data, rows, nb, q4_0Size)
}

// packQ8_0 is packQ4_0 for Q8_0: for each group of eight rows and each
// block, the eight scales, then for k = 0..7 bytes 4k..4k+3 of each row's
// values, row by row.
func packQ8_0(a *Arena, data []byte, rows, nb int) []byte {
	return pack8x4(a, data, rows, nb, q8_0Size)
}

// pack8x4 interleaves blocks of size bytes (an fp16 scale, then values)
// of eight rows: their eight scales, then the values four bytes at a time,
// row by row.
func pack8x4(a *Arena, data []byte, rows, nb, size int) []byte {
	rb, packed := nb*size, 8*size
	groups := rows / 8
	out := a.Alloc(groups * nb * packed)
	for g := range groups {
		for b := range nb {
			dst := out[(g*nb+b)*packed:][:packed]
			for r := range 8 {
				src := data[(8*g+r)*rb+b*size:][:size]
				copy(dst[2*r:2*r+2], src[:2])
				for k := range (size - 2) / 4 {
					copy(dst[16+32*k+4*r:16+32*k+4*r+4], src[2+4*k:2+4*k+4])
				}
			}
		}
	}
	return out
}

// q4KPackedBlock is the size of one block of eight packed Q4_K rows (see
// packQ4K): 2.8 % more than the eight rows, so that decoding, which reads
// every weight once per token, reads hardly more than the file's bytes.
const q4KPackedBlock = 16 + 16 + 8*8 + 8*8 + 8*128

// packQ4K interleaves Q4_K rows eight by eight with their 6-bit scales
// and mins unpacked to bytes for the packed kernel: for each group of
// eight rows and each block, the eight d, the eight dmin (fp16), for each
// sub-block j the eight rows' scales (one byte each), for i = 0..3 their
// mins as byte pairs (m_2i, m_2i+1) row by row, then for k = 0..3 and
// s = 0..7 bytes 32k+4s..32k+4s+3 of each row's nibbles, row by row.
func packQ4K(a *Arena, data []byte, rows, nb int) []byte {
	rb := nb * q4KSize
	groups := rows / 8
	out := a.Alloc(groups * nb * q4KPackedBlock)
	for g := range groups {
		for b := range nb {
			dst := out[(g*nb+b)*q4KPackedBlock:][:q4KPackedBlock]
			for r := range 8 {
				src := data[(8*g+r)*rb+b*q4KSize:][:q4KSize]
				copy(dst[2*r:2*r+2], src[0:2])
				copy(dst[16+2*r:16+2*r+2], src[2:4])
				sc, m := scalesK4((*[12]byte)(src[4:16]))
				for j := range 8 {
					dst[32+8*j+r] = sc[j]
				}
				for i := range 4 {
					dst[96+16*i+2*r] = m[2*i]
					dst[96+16*i+2*r+1] = m[2*i+1]
				}
				for k := range 4 {
					for st := range 8 {
						o := 160 + 32*(8*k+st) + 4*r
						copy(dst[o:o+4], src[16+32*k+4*st:16+32*k+4*st+4])
					}
				}
			}
		}
	}
	return out
}

// q6KPackedBlock is the size of one block of eight packed Q6_K rows (see
// packQ6K).
const q6KPackedBlock = 16 + 16*32 + 8*32 + 8*qkK

// packQ6K interleaves Q6_K rows eight by eight with their values unpacked
// to bytes for the packed kernel: for each group of eight rows and each
// block, the eight d (fp16), for each group g of 16 elements the rows'
// scales as int16 pairs (sc_g, sc_g), for i = 0..7 their scales as int16
// pairs (sc_2i, sc_2i+1), then for each t = 0..63 the values 4t..4t+3 of
// each row (0..63, the -32 offset left to the kernel), row by row.
func packQ6K(a *Arena, data []byte, rows, nb int) []byte {
	rb := nb * q6KSize
	groups := rows / 8
	out := a.Alloc(groups * nb * q6KPackedBlock)
	put16 := func(b []byte, v byte) { b[0], b[1] = v, byte(int8(v)>>7) } // sign-extended
	var q [qkK]byte
	for g := range groups {
		for b := range nb {
			dst := out[(g*nb+b)*q6KPackedBlock:][:q6KPackedBlock]
			for r := range 8 {
				src := data[(8*g+r)*rb+b*q6KSize:][:q6KSize]
				copy(dst[2*r:2*r+2], src[208:210])
				sc := src[192:208]
				for k := range 16 {
					put16(dst[16+32*k+4*r:], sc[k])
					put16(dst[16+32*k+4*r+2:], sc[k])
				}
				for i := range 8 {
					put16(dst[528+32*i+4*r:], sc[2*i])
					put16(dst[528+32*i+4*r+2:], sc[2*i+1])
				}
				for h := range 2 {
					ql, qh := src[64*h:64*h+64], src[128+32*h:128+32*h+32]
					y := q[128*h : 128*h+128]
					for l := range 32 {
						y[l] = ql[l]&0xf | (qh[l]&3)<<4
						y[l+32] = ql[l+32]&0xf | (qh[l]>>2&3)<<4
						y[l+64] = ql[l]>>4 | (qh[l]>>4&3)<<4
						y[l+96] = ql[l+32]>>4 | (qh[l]>>6)<<4
					}
				}
				for t := range qkK / 4 {
					copy(dst[784+32*t+4*r:784+32*t+4*r+4], q[4*t:4*t+4])
				}
			}
		}
	}
	return out
}

// Pack prepares the layout the fastest kernels read, where this CPU has
// them: Q4_0, Q8_0, Q4_K and Q6_K rows interleaved eight by eight (see
// packQ4_0; Q6_K's values unpacked to bytes, 1.7 times its size), a copy
// of the weights, as llama.cpp's CPU backend repacks Q4_0 and Q4_K at
// load. Products give the same bits either way. It must be called before
// the matrix is shared between goroutines. It reports whether the packed
// rows replace Data for every product with quantized activations (Data is
// then read only for the rows after the last whole group of eight), so
// that a caller can release Data's memory.
func (m *Matrix) Pack() bool { return m.PackIn(nil) }

// PackIn is Pack with the packed rows allocated from a (see Arena),
// except Q6_K's: with an Arena, Q6_K's Data, which decoding reads instead
// of its packed rows (see DotRowsAct), is moved to a instead, and PackIn
// reports true for it: the memory Data pointed to is then not read again.
func (m *Matrix) PackIn(a *Arena) bool {
	if !havePacked || m.Rows < 8 {
		return false
	}
	if m.packed == nil {
		pa := a
		if m.Type == Q6_K {
			// Only batches read Q6_K's packed rows, and they are bound
			// by arithmetic, not by memory: huge pages would only add
			// to the load time (faulting huge pages in cost up to 2 s
			// of system time for this and Data's 1.2 GB on the large
			// MoE, against 0.5 s on small pages).
			pa = nil
		}
		m.packed = pack(pa, m.Type, m.Data, m.Rows, m.Cols)
	}
	if m.packed != nil && m.Type == Q6_K && a != nil {
		data := a.Alloc(len(m.Data))
		copy(data, m.Data)
		m.Data = data
		return true
	}
	return m.packed != nil && m.Type != Q6_K // see DotRowsAct
}

func pack(a *Arena, t Type, data []byte, rows, cols int) []byte {
	switch t {
	case Q4_0:
		return packQ4_0(a, data, rows, cols/qk4_0)
	case Q8_0:
		return packQ8_0(a, data, rows, cols/qk8_0)
	case Q4_K:
		return packQ4K(a, data, rows, cols/qkK)
	case Q6_K:
		return packQ6K(a, data, rows, cols/qkK)
	}
	return nil
}

// q4x4Aux fills aux (nb*32 bytes) with what the four-vector packed Q4_0
// kernel needs of each block of the four activation vectors in xq
// (xstride bytes apart) besides their values, block by block and vector
// by vector: 8·Σa as an int32 and d_x as a float32. Computed once per
// product instead of once per block of eight rows.
func q4x4Aux(aux, xq []byte, xstride, nb int) {
	aux = aux[:nb*32]
	for b := range nb {
		for j := range 4 {
			a := (*[q8_0Size]byte)(xq[j*xstride+b*q8_0Size:])
			var s int32
			for _, v := range a[2:] {
				s += int32(int8(v))
			}
			binary.LittleEndian.PutUint32(aux[32*b+8*j:], uint32(8*s))
			binary.LittleEndian.PutUint32(aux[32*b+8*j+4:], math.Float32bits(f16le(a[:])))
		}
	}
}
