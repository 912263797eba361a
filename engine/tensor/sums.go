package tensor

// Some kernels need, besides the vector x, the sums of x over its runs of
// 32 elements: a Q4_K value is d*sc*q - dmin*m, and the dmin*m term of a
// row's dot product is the mins times those sums. They are the same for
// every row, so a matrix-vector product computes them once (BlockSums) and
// passes them to each row's DotSums instead of summing x again per row.

// SumsLen is the number of block sums DotSums uses for vectors of n
// elements and rows of type t, 0 when t's kernel does not use them.
func SumsLen(t Type, n int) int {
	if t == Q4_K && haveSumsKernel {
		return n / 32
	}
	return 0
}

// BlockSums writes the sum of x[32i:32i+32] into sums[i] for each i
// below len(sums) (normally SumsLen of the row type and len(x)).
func BlockSums(sums, x []float32) {
	sums = sums[:min(len(sums), len(x)/32)]
	for i := range sums {
		sums[i] = sum32((*[32]float32)(x[32*i:]))
	}
}

// sum32 adds in the same order as the Go kernel's pairwise running sums, so
// that results do not depend on which path computed them more than float32
// rounding allows.
func sum32(x *[32]float32) float32 {
	var s0, s1 float32
	for j := 0; j < 32; j += 2 {
		s0 += x[j]
		s1 += x[j+1]
	}
	return s0 + s1
}

// DotSums is Dot(t, row, x) given sums, the BlockSums of x (SumsLen(t,
// len(x)) elements; none when SumsLen is 0).
func DotSums(t Type, row []byte, x, sums []float32) float32 {
	if len(sums) > 0 && t == Q4_K {
		return dotQ4KSums(row, x, sums)
	}
	return dotFunc(t)(row, x)
}

// DotRows sets dst[r] = row r · x for the rows r in [lo, hi), given sums,
// the BlockSums of x (SumsLen(m.Type, len(x)) elements). It is DotSums for
// a run of rows, choosing the kernel once rather than per row.
func (m *Matrix) DotRows(dst, x, sums []float32, lo, hi int) {
	rb := m.RowBytes()
	data := m.Data[lo*rb : hi*rb]
	dst = dst[lo:hi]
	if dotRowsArch(m.Type, dst, data, rb, x, sums) {
		return
	}
	if len(sums) > 0 && m.Type == Q4_K {
		for i := range dst {
			dst[i] = dotQ4KSums(data[i*rb:(i+1)*rb], x, sums)
		}
		return
	}
	dot := dotFunc(m.Type)
	for i := range dst {
		dst[i] = dot(data[i*rb:(i+1)*rb], x)
	}
}
