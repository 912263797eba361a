package tensor

import "fmt"

// Matrix is a row-major weight matrix of Rows rows of Cols elements each
// (ggml's ne0 = Cols, ne1 = Rows). Data is used in place, so it may be a
// slice of a memory-mapped file; only PackIn moves it (Q6_K).
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte

	rowBytes int
	packed   []byte      // rows interleaved for the packed kernels (Pack), nil: none
	gemm     *gemmPanels // rows in panels for MatMulGEMM (PackGEMM), nil: none
}

// NewMatrix wraps data as a rows x cols matrix of type t, checking that
// data holds exactly that many elements.
func NewMatrix(t Type, rows, cols int, data []byte) (*Matrix, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("tensor: no kernels for type %v", t)
	}
	rb, err := RowBytes(t, cols)
	if err != nil {
		return nil, err
	}
	if rows < 0 || cols <= 0 {
		return nil, fmt.Errorf("tensor: bad matrix shape %dx%d", rows, cols)
	}
	if want := rb * rows; rows != 0 && want/rows != rb || len(data) != want {
		return nil, fmt.Errorf("tensor: %dx%d %v matrix needs %d bytes, got %d", rows, cols, t, rb*rows, len(data))
	}
	return &Matrix{Type: t, Rows: rows, Cols: cols, Data: data, rowBytes: rb}, nil
}

// RowBytes is the size in bytes of one row.
func (m *Matrix) RowBytes() int {
	if m.rowBytes != 0 {
		return m.rowBytes
	}
	// A Matrix written as a literal: compute without storing, so that
	// concurrent readers do not race.
	return m.Cols / m.Type.BlockSize() * m.Type.BlockBytes()
}

// Row returns the encoded bytes of row i.
func (m *Matrix) Row(i int) []byte {
	rb := m.RowBytes()
	return m.Data[i*rb : (i+1)*rb : (i+1)*rb]
}

// RowF32 decodes row i into dst, which must have Cols elements.
func (m *Matrix) RowF32(i int, dst []float32) error {
	return Dequantize(m.Type, m.Row(i), dst)
}

// minRowsPerChunk keeps chunks big enough that claiming one costs little
// next to computing it.
const minRowsPerChunk = 16

// MatVec computes dst[r] = row r · x for every row, in parallel over rows.
// len(x) must be Cols and len(dst) Rows.
func (m *Matrix) MatVec(pool *Pool, dst, x []float32) {
	if len(x) != m.Cols || len(dst) != m.Rows {
		panic(fmt.Sprintf("tensor: MatVec of %dx%d matrix with len(x)=%d len(dst)=%d", m.Rows, m.Cols, len(x), len(dst)))
	}
	var sums []float32
	if n := SumsLen(m.Type, m.Cols); n > 0 {
		sums = make([]float32, n)
		BlockSums(sums, x)
	}
	if pool.Threads() == 1 || m.Rows < 2*minRowsPerChunk {
		m.DotRows(dst, x, sums, 0, m.Rows)
		return
	}
	// The closure is made only here: it escapes to the pool, so making it
	// above would allocate on every call, serial ones included.
	groups := (m.Rows + minRowsPerChunk - 1) / minRowsPerChunk
	pool.For(groups, func(lo, hi int) {
		m.DotRows(dst, x, sums, lo*minRowsPerChunk, min(hi*minRowsPerChunk, m.Rows))
	})
}

// matMulBlockBytes is the size of the block of weight rows MatMul keeps in
// cache while all the input vectors pass over it: about an L1 data cache.
const matMulBlockBytes = 32 << 10

// MatMul computes n matrix-vector products at once: x holds n vectors of
// Cols elements, and dst[j*Rows+r] = row r · x[j*Cols:(j+1)*Cols]. Weight
// rows are taken a cache-sized block at a time and each block is used for
// all n vectors before moving on, so the weights are read from memory once
// rather than n times; the kernels work on the encoded rows, as in MatVec.
func (m *Matrix) MatMul(pool *Pool, dst, x []float32, n int) {
	if n < 0 || len(x) != n*m.Cols || len(dst) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMul of %dx%d matrix with n=%d len(x)=%d len(dst)=%d", m.Rows, m.Cols, n, len(x), len(dst)))
	}
	if n == 1 {
		m.MatVec(pool, dst, x)
		return
	}
	cols, rows := m.Cols, m.Rows
	block := max(1, matMulBlockBytes/m.RowBytes())
	sl := SumsLen(m.Type, cols)
	var sums []float32
	if sl > 0 {
		sums = make([]float32, n*sl)
		for j := range n {
			BlockSums(sums[j*sl:(j+1)*sl], x[j*cols:(j+1)*cols])
		}
	}
	dot4 := dot4Func(m.Type)
	rb := m.RowBytes()
	run := func(lo, hi int) {
		for b0 := lo; b0 < hi; b0 += block {
			b1 := min(b0+block, hi)
			j := 0
			if dot4 != nil {
				for ; j+4 <= n; j += 4 {
					xv := x[j*cols : (j+4)*cols]
					for r := b0; r < b1; r++ {
						dot4(m.Data[r*rb:(r+1)*rb], xv, cols, dst[j*rows+r:], rows)
					}
				}
			}
			for ; j < n; j++ {
				xv := x[j*cols : (j+1)*cols]
				m.DotRows(dst[j*rows:(j+1)*rows], xv, sums[j*sl:(j+1)*sl], b0, b1)
			}
		}
	}
	if pool.Threads() == 1 || rows < 2*minRowsPerChunk {
		run(0, rows)
		return
	}
	groups := (rows + minRowsPerChunk - 1) / minRowsPerChunk
	pool.For(groups, func(lo, hi int) {
		run(lo*minRowsPerChunk, min(hi*minRowsPerChunk, rows))
	})
}

// DotRowsAct sets dst[r] = row r · x for the rows r in [lo, hi), given xq,
// x quantized by QuantizeAct(m.Type, ...): the integer kernels llama.cpp's
// CPU backend uses.
func (m *Matrix) DotRowsAct(dst []float32, xq []byte, lo, hi int) {
	// Q6_K's packed rows, its values unpacked to bytes, are 1.7 times its
	// size: for one vector they cost more reading than they save (tiny
	// model decoding 1000 → 900 tokens per CPU second), so only batches
	// (MatMulAct) use them.
	m.dotRowsAct(dst, xq, lo, hi, m.Type != Q6_K)
}

func (m *Matrix) dotRowsAct(dst []float32, xq []byte, lo, hi int, usePacked bool) {
	rb := m.RowBytes()
	nb := m.Cols / m.Type.BlockSize()
	if usePacked && m.packed != nil && lo%8 == 0 {
		lo += dotRowsPacked(m.Type, m.packed, nb, dst[lo:hi], lo, xq)
		if lo == hi {
			return
		}
	}
	data := m.Data[lo*rb : hi*rb]
	if dotRowsActArch(m.Type, dst[lo:hi], data, rb, xq, nb) {
		return
	}
	dot := dotActFunc(m.Type)
	for i := range dst[lo:hi] {
		dst[lo+i] = dot(data[i*rb:(i+1)*rb], xq, nb)
	}
}

// MatMulAct is MatMul with the activations quantized, as llama.cpp does:
// each of the n vectors is quantized once (QuantizeAct), into scratch
// when it is large enough, then every weight row is multiplied with all of
// them while it is in cache, four vectors at a time where the type has
// such a kernel. m.Type must have an ActType. It returns the scratch
// buffer used, for the next call.
func (m *Matrix) MatMulAct(pool *Pool, dst, x []float32, n int, scratch []byte) []byte {
	if n < 0 || len(x) != n*m.Cols || len(dst) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMulAct of %dx%d matrix with n=%d len(x)=%d len(dst)=%d", m.Rows, m.Cols, n, len(x), len(dst)))
	}
	cols, rows := m.Cols, m.Rows
	ab := ActBytes(m.Type, cols)
	if cap(scratch) < n*ab {
		scratch = make([]byte, n*ab)
	}
	xq := scratch[:n*ab]
	for j := range n {
		QuantizeAct(m.Type, xq[j*ab:(j+1)*ab], x[j*cols:(j+1)*cols])
	}
	rb, nb := m.RowBytes(), cols/m.Type.BlockSize()
	x4 := m.packed != nil && n >= 4 && nb > 0 && packedX4(m.Type)
	var aux []byte // Q4_0: q4x4Aux of each four vectors, after xq in scratch
	if x4 && m.Type == Q4_0 {
		need := n*ab + n/4*nb*32
		if cap(scratch) < need {
			scratch = append(scratch[:n*ab], make([]byte, need-n*ab)...)
			xq = scratch[:n*ab]
		}
		aux = scratch[n*ab : need]
		for j := 0; j+4 <= n; j += 4 {
			q4x4Aux(aux[j/4*nb*32:], xq[j*ab:], ab, nb)
		}
	}
	block := max(1, matMulBlockBytes/m.RowBytes())
	dot4 := dotAct4Func(m.Type)
	if m.packed != nil {
		block = max(16, block&^15) // whole calls of the packed kernel
		dot4 = nil                 // one pass per vector over eight rows beats four vectors per row
	}
	run := func(lo, hi int) {
		for b0 := lo; b0 < hi; b0 += block {
			b1 := min(b0+block, hi)
			j := 0
			if dot4 != nil && nb > 0 {
				for ; j+4 <= n; j += 4 {
					for r := b0; r < b1; r++ {
						dot4(m.Data[r*rb:(r+1)*rb], xq[j*ab:(j+4)*ab], ab, nb, dst[j*rows+r:], rows)
					}
				}
			}
			if x4 {
				// Four vectors per pass over eight packed rows, then
				// vector by vector for any rows left out of the packing.
				for ; j+4 <= n; j += 4 {
					var auxj []byte
					if aux != nil {
						auxj = aux[j/4*nb*32:]
					}
					done := dotRowsPackedX4(m.Type, m.packed, nb, dst[j*rows+b0:], rows, b1-b0, b0, xq[j*ab:(j+4)*ab], ab, auxj)
					if b0+done == b1 {
						continue
					}
					for k := j; k < j+4; k++ {
						m.dotRowsAct(dst[k*rows:(k+1)*rows], xq[k*ab:(k+1)*ab], b0+done, b1, true)
					}
				}
			}
			for ; j < n; j++ {
				m.dotRowsAct(dst[j*rows:(j+1)*rows], xq[j*ab:(j+1)*ab], b0, b1, true)
			}
		}
	}
	if pool.Threads() == 1 || rows < 2*minRowsPerChunk {
		run(0, rows)
		return scratch
	}
	groups := (rows + minRowsPerChunk - 1) / minRowsPerChunk
	pool.For(groups, func(lo, hi int) {
		run(lo*minRowsPerChunk, min(hi*minRowsPerChunk, rows))
	})
	return scratch
}

// StackRows returns a new matrix holding the rows of ms one matrix after
// the other (a copy): products with it compute all of theirs in one pass,
// such as a layer's query, key and value projections of the same input.
func StackRows(ms ...*Matrix) (*Matrix, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("tensor: StackRows of no matrices")
	}
	rows, size := 0, 0
	for _, m := range ms {
		if m.Type != ms[0].Type || m.Cols != ms[0].Cols {
			return nil, fmt.Errorf("tensor: StackRows of %v %d-column and %v %d-column matrices", ms[0].Type, ms[0].Cols, m.Type, m.Cols)
		}
		rows += m.Rows
		size += m.Rows * m.RowBytes()
	}
	data := make([]byte, 0, size)
	for _, m := range ms {
		data = append(data, m.Data[:m.Rows*m.RowBytes()]...)
	}
	return NewMatrix(ms[0].Type, rows, ms[0].Cols, data)
}
