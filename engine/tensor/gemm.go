package tensor

// gemm_amd64.s is written by gemm_gen.py (TestGEMMGenerated checks it).
//go:generate python3 gemm_gen.py

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Matrix-matrix products for batches of many vectors (an encoder's every
// product: all the tokens of a batch of sentences). MatMul's kernels take
// one weight row and four vectors at a time and sum each product across
// the row, so every multiply-add needs a load and every result a
// horizontal sum. Here the weights are repacked once into panels of
// gemmRows rows, stored column by column (for each input element, the
// panel's 32 weights), and a kernel keeps a tile of 32 rows × several
// vectors in registers: per input element it loads 32 weights once and
// multiplies them with each vector's element broadcast, an outer product,
// as BLAS kernels do. The vectors are repacked the same way, per call.
//
// Float weights (F32, F16) multiply float activations: 32 rows × 14
// vectors in 28 AVX-512 accumulators. Q8_0 weights multiply the
// activations quantized to Q8_0 (QuantizeAct, llama.cpp's rounding) with
// VPDPBUSD: 32 rows × 6 vectors, integer sums per 32-element block scaled
// into float accumulators.
const (
	gemmRows = 32 // rows per panel
	gemmVF   = 14 // vectors per float kernel call
	gemmVQ   = 6  // vectors per Q8_0 kernel call

	// A Q8_0 panel block: the 32 rows' scales (float32), then for each
	// group of four elements the 32 rows' four values, as unsigned bytes
	// (q+128), row by row.
	gemmQ8Block = gemmRows*4 + qk8_0*gemmRows
	// A block of a quantized vector (quantizeQ8GEMM): its scale
	// (float32), the sum of its values times -128 (int32, undoing the
	// +128 of the weights), its 32 values.
	gemmQ8XBlock = 4 + 4 + qk8_0
)

// gemmPanels is a matrix repacked for the GEMM kernels.
type gemmPanels struct {
	data       []byte
	panelBytes int
}

// PackGEMM repacks m's rows into panels for MatMulGEMM, keeping the
// original rows too, and reports whether it did: only F32, F16 and Q8_0
// matrices have GEMM kernels, the float ones on CPUs with AVX-512 or AVX2
// and FMA, Q8_0's with AVX-512 VNNI (elsewhere MatMul's kernels are
// faster than the Go twins).
func (m *Matrix) PackGEMM() bool {
	switch m.Type {
	case F32, F16:
		return haveGEMMFloat && m.packGEMM()
	}
	return haveGEMM512 && m.packGEMM()
}

// packGEMM is PackGEMM on any CPU (the tests hold the Go twins to the
// float64 references through it).
func (m *Matrix) packGEMM() bool {
	if m.gemm != nil {
		return true
	}
	var pb int
	switch m.Type {
	case F32:
		pb = gemmRows * 4 * m.Cols
	case F16:
		pb = gemmRows * 2 * m.Cols
	case Q8_0:
		pb = m.Cols / qk8_0 * gemmQ8Block
	default:
		return false
	}
	np := (m.Rows + gemmRows - 1) / gemmRows
	g := &gemmPanels{data: make([]byte, np*pb), panelBytes: pb}
	rb := m.RowBytes()
	for r := range m.Rows {
		p, pr := r/gemmRows, r%gemmRows
		panel := g.data[p*pb : (p+1)*pb]
		row := m.Data[r*rb : (r+1)*rb]
		switch m.Type {
		case F32:
			for k := range m.Cols {
				copy(panel[(k*gemmRows+pr)*4:][:4], row[4*k:4*k+4])
			}
		case F16:
			for k := range m.Cols {
				copy(panel[(k*gemmRows+pr)*2:][:2], row[2*k:2*k+2])
			}
		case Q8_0:
			for b := range m.Cols / qk8_0 {
				blk := panel[b*gemmQ8Block:][:gemmQ8Block]
				src := row[b*q8_0Size:][:q8_0Size]
				d := F16ToF32(binary.LittleEndian.Uint16(src))
				binary.LittleEndian.PutUint32(blk[4*pr:], math.Float32bits(d))
				for j, q := range src[2:] {
					blk[gemmRows*4+(j/4)*gemmRows*4+4*pr+j%4] = q ^ 0x80
				}
			}
		}
	}
	m.gemm = g
	return true
}

// HasGEMM reports whether m was packed with PackGEMM.
func (m *Matrix) HasGEMM() bool { return m.gemm != nil }

// GEMMBuf holds the scratch memory of MatMulGEMM calls; the zero value is
// ready, and one must not be used by two calls at once.
type GEMMBuf struct {
	xf   []float32 // the last, partial block of float vectors, zero-padded
	xq   []byte
	act  []byte
	zero []float32
	tile [gemmRows * gemmVF]float32 // the results of a last, partial panel
}

// MatMulGEMM is MatMul (or MatMulAct for Q8_0) plus a bias, for a matrix
// packed with PackGEMM: dst[j*Rows+r] = bias[r] + row r · x[j*Cols:(j+1)*Cols]
// for the n vectors in x, or with add, dst[j*Rows+r] += that (a residual
// connection, in the same pass). bias may be nil. The sums run in another
// order than MatMul's, so the results differ from it by rounding.
func (m *Matrix) MatMulGEMM(pool *Pool, dst, x, bias []float32, n int, add bool, buf *GEMMBuf) {
	g := m.gemm
	if g == nil {
		panic("tensor: MatMulGEMM of a matrix not packed with PackGEMM")
	}
	if n < 0 || len(x) != n*m.Cols || len(dst) != n*m.Rows || bias != nil && len(bias) != m.Rows {
		panic(fmt.Sprintf("tensor: MatMulGEMM of %dx%d matrix with n=%d len(x)=%d len(dst)=%d len(bias)=%d",
			m.Rows, m.Cols, n, len(x), len(dst), len(bias)))
	}
	if n == 0 {
		return
	}
	cols, rows := m.Cols, m.Rows
	np := (rows + gemmRows - 1) / gemmRows
	if cap(buf.zero) < np*gemmRows {
		buf.zero = make([]float32, np*gemmRows)
	}
	pbias := buf.zero[:np*gemmRows]
	if bias != nil {
		copy(pbias, bias) // padded to whole panels, the rest zeros
	}
	vb := gemmVF
	if m.Type == Q8_0 {
		vb = gemmVQ
	}
	nvb := (n + vb - 1) / vb
	// kernel(p, j0, out, ldd, nv, add) multiplies panel p with the nv
	// vectors from j0 (j0 a multiple of vb; nv up to the end, or a
	// block).
	var kernel func(p, j0 int, out []float32, ldd, nv int, add bool)
	nmain := n // vectors the first call of a whole panel takes
	switch m.Type {
	case F32, F16:
		// The kernels read x in place, 14 rows at a time; the rows of a
		// last, partial block are copied into a zero-padded block.
		nmain = n / gemmVF * gemmVF
		var tail []float32
		if nmain < n {
			if cap(buf.xf) < gemmVF*cols {
				buf.xf = make([]float32, gemmVF*cols)
			}
			tail = buf.xf[:gemmVF*cols]
			copy(tail, x[nmain*cols:])
			clear(tail[(n-nmain)*cols:])
		}
		kern := gemmF32Kernel
		if m.Type == F16 {
			kern = gemmF16Kernel
		}
		kernel = func(p, j0 int, out []float32, ldd, nv int, add bool) {
			xr := x[j0*cols:]
			if j0 >= nmain {
				xr = tail
			}
			kern(g.data[p*g.panelBytes:(p+1)*g.panelBytes], xr, cols, cols,
				pbias[p*gemmRows:(p+1)*gemmRows], out, ldd, nv, add)
		}
	case Q8_0:
		// Vectors quantized one after the other, nvb*gemmVQ of them:
		// those past n are zeros, which add nothing.
		nb := cols / qk8_0
		xb := nb * gemmQ8XBlock
		need := nvb * gemmVQ * xb
		if cap(buf.xq) < need {
			buf.xq = make([]byte, need)
		}
		xp := buf.xq[:need]
		pool.For(n, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				quantizeQ8GEMM(xp[j*xb:(j+1)*xb], x[j*cols:(j+1)*cols])
			}
		})
		clear(xp[n*xb:])
		kernel = func(p, j0 int, out []float32, ldd, nv int, add bool) {
			gemmQ8Kernel(g.data[p*g.panelBytes:(p+1)*g.panelBytes], xp[j0*xb:], nb,
				pbias[p*gemmRows:(p+1)*gemmRows], out, ldd, nv, add)
		}
	}
	// Only the last panel can be partial, and only one chunk of a
	// parallel run holds it: one tile is enough.
	tile := buf.tile[:]
	run := func(lo, hi int) {
		for p := lo; p < hi; p++ {
			r0 := p * gemmRows
			if r0+gemmRows <= rows {
				// All the vectors in one call or two, block after block.
				if nmain > 0 {
					kernel(p, 0, dst[r0:], rows, nmain, add)
				}
				if nmain < n {
					kernel(p, nmain, dst[nmain*rows+r0:], rows, n-nmain, add)
				}
				continue
			}
			for v := range nvb {
				j0 := v * vb
				nv := min(vb, n-j0)
				kernel(p, j0, tile, gemmRows, nv, false)
				for j := range nv {
					d := dst[(j0+j)*rows+r0 : (j0+j+1)*rows]
					if !add {
						copy(d, tile[j*gemmRows:])
						continue
					}
					for i := range d {
						d[i] += tile[j*gemmRows+i]
					}
				}
			}
		}
	}
	if pool.Threads() == 1 || np == 1 {
		run(0, np)
		return
	}
	pool.For(np, run)
}

// quantizeQ8GEMMGo quantizes x to Q8_0 as QuantizeAct does (llama.cpp's
// rounding) and writes its blocks as the Q8_0 GEMM kernel reads them
// (gemmQ8XBlock).
func quantizeQ8GEMMGo(dst []byte, x []float32) {
	var q [q8_0Size]byte
	for b := range len(x) / qk8_0 {
		quantizeActQ8_0(q[:], x[b*qk8_0:(b+1)*qk8_0])
		blk := dst[b*gemmQ8XBlock:][:gemmQ8XBlock]
		var sum int32
		for _, c := range q[2:] {
			sum += int32(int8(c))
		}
		binary.LittleEndian.PutUint32(blk, math.Float32bits(F16ToF32(binary.LittleEndian.Uint16(q[:]))))
		binary.LittleEndian.PutUint32(blk[4:], uint32(-128*sum))
		copy(blk[8:], q[2:])
	}
}

// fma32 is float32 a*b+c rounded once, as VFMADD231PS computes it (but
// for double rounding, through float64, on a tie: about never).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// gemmFloatKernel is the float kernels' signature.
type gemmFloatKernel func(panel []byte, x []float32, xstride, cols int, bias, out []float32, ldd, nv int, add bool)

// gemmFloatGo is the float kernels' twin: the nv vectors of x (rows
// xstride apart) times the panel's 32 rows (F32 or F16), plus bias, into
// out (vector j at out[j*ldd:]), or added to it, each sum accumulated
// element by element from the bias with fused multiply-adds, as the
// assembly does.
func gemmFloatGo(t Type, panel []byte, x []float32, xstride, cols int, bias, out []float32, ldd, nv int, add bool) {
	for j := range nv {
		var acc [gemmRows]float32
		o := acc[:]
		copy(o, bias[:gemmRows])
		for k, xv := range x[j*xstride : j*xstride+cols] {
			for r := range o {
				var w float32
				if t == F32 {
					w = math.Float32frombits(binary.LittleEndian.Uint32(panel[(k*gemmRows+r)*4:]))
				} else {
					w = F16ToF32(binary.LittleEndian.Uint16(panel[(k*gemmRows+r)*2:]))
				}
				o[r] = fma32(xv, w, o[r])
			}
		}
		storeGEMM(out[j*ldd:j*ldd+gemmRows], o, add)
	}
}

// storeGEMM sets (or with add, adds to) dst the 32 sums of a vector.
func storeGEMM(dst, acc []float32, add bool) {
	if !add {
		copy(dst, acc)
		return
	}
	for r, a := range acc {
		dst[r] += a
	}
}

func gemmF32Go(panel []byte, x []float32, xstride, cols int, bias, out []float32, ldd, nv int, add bool) {
	gemmFloatGo(F32, panel, x, xstride, cols, bias, out, ldd, nv, add)
}

func gemmF16Go(panel []byte, x []float32, xstride, cols int, bias, out []float32, ldd, nv int, add bool) {
	gemmFloatGo(F16, panel, x, xstride, cols, bias, out, ldd, nv, add)
}

// gemmQ8Go is the Q8_0 kernel's twin: per block, the integer sum of
// (w+128)·x minus 128·Σx, converted to float, times the row's scale
// (rounded), then added times the vector's scale (fused), from the bias.
// The vectors are nb blocks apart in xp.
func gemmQ8Go(panel, xp []byte, nb int, bias, out []float32, ldd, nv int, add bool) {
	for j := range nv {
		var acc [gemmRows]float32
		o := acc[:]
		copy(o, bias[:gemmRows])
		for b := range nb {
			wb := panel[b*gemmQ8Block:][:gemmQ8Block]
			xb := xp[(j*nb+b)*gemmQ8XBlock:][:gemmQ8XBlock]
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
			corr := int32(binary.LittleEndian.Uint32(xb[4:]))
			for r := range o {
				sum := corr
				for k, c := range xb[8:] {
					w := int32(wb[gemmRows*4+(k/4)*gemmRows*4+4*r+k%4])
					sum += w * int32(int8(c))
				}
				dw := math.Float32frombits(binary.LittleEndian.Uint32(wb[4*r:]))
				s := float32(float32(sum) * dw)
				o[r] = fma32(s, dx, o[r])
			}
		}
		storeGEMM(out[j*ldd:j*ldd+gemmRows], o, add)
	}
}
