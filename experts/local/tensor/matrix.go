package tensor

import "fmt"

// Matrix is a row-major weight matrix of Rows rows of Cols elements each
// (ggml's ne0 = Cols, ne1 = Rows). Data is used in place, never copied, so
// it may be a slice of a memory-mapped file.
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte

	rowBytes int
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
	if m.rowBytes == 0 {
		m.rowBytes, _ = RowBytes(m.Type, m.Cols)
	}
	return m.rowBytes
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
	dot := dotFunc(m.Type)
	rb := m.RowBytes()
	data := m.Data
	run := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dst[r] = dot(data[r*rb:(r+1)*rb], x)
		}
	}
	if pool.Threads() == 1 || m.Rows < 2*minRowsPerChunk {
		run(0, m.Rows)
		return
	}
	groups := (m.Rows + minRowsPerChunk - 1) / minRowsPerChunk
	pool.For(groups, func(lo, hi int) {
		run(lo*minRowsPerChunk, min(hi*minRowsPerChunk, m.Rows))
	})
}

// MatMul computes n matrix-vector products at once: x holds n vectors of
// Cols elements, and dst[j*Rows+r] = row r · x[j*Cols:(j+1)*Cols]. Each
// weight row is decoded once and reused for all n vectors, which is what
// makes batched prompt processing cheaper than n MatVec calls: rows are
// decoded minRowsPerChunk at a time and each input vector is read once per
// such block, four rows per pass.
func (m *Matrix) MatMul(pool *Pool, dst, x []float32, n int) {
	if n < 0 || len(x) != n*m.Cols || len(dst) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMul of %dx%d matrix with n=%d len(x)=%d len(dst)=%d", m.Rows, m.Cols, n, len(x), len(dst)))
	}
	if n == 1 {
		m.MatVec(pool, dst, x)
		return
	}
	cols, rows := m.Cols, m.Rows
	run := func(lo, hi int) {
		buf := make([]float32, minRowsPerChunk*cols)
		for b0 := lo; b0 < hi; b0 += minRowsPerChunk {
			nr := min(minRowsPerChunk, hi-b0)
			for t := range nr {
				// Cannot fail: the shape was validated by NewMatrix.
				_ = Dequantize(m.Type, m.Row(b0+t), buf[t*cols:(t+1)*cols])
			}
			for j := range n {
				xv := x[j*cols : (j+1)*cols]
				o := dst[j*rows+b0 : j*rows+b0+nr]
				t := 0
				for ; t+4 <= nr; t += 4 {
					o[t], o[t+1], o[t+2], o[t+3] = dot4F32(buf[t*cols:(t+1)*cols], buf[(t+1)*cols:(t+2)*cols],
						buf[(t+2)*cols:(t+3)*cols], buf[(t+3)*cols:(t+4)*cols], xv)
				}
				for ; t < nr; t++ {
					o[t] = dotF32F32(buf[t*cols:(t+1)*cols], xv)
				}
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
