//go:build amd64 && !purego

package tensor

//go:noescape
func dotF32x4AVX2(row *byte, x *float32, stride, ng int, out *float32, ostride int)

//go:noescape
func dotF16x4AVX2(row *byte, x *float32, stride, ng int, out *float32, ostride int)

// dotF32x4 and dotF16x4 are dot4Fn kernels: row · the four vectors of n
// floats in x, into dst[0], dst[stride], dst[2*stride], dst[3*stride]. The
// assembly takes groups of 16; the rest of a row goes through the
// one-vector kernels.
func dotF32x4(row []byte, x []float32, n int, dst []float32, stride int) {
	dotFloatx4(F32, 4, dotF32x4AVX2, row, x, n, dst, stride)
}

func dotF16x4(row []byte, x []float32, n int, dst []float32, stride int) {
	dotFloatx4(F16, 2, dotF16x4AVX2, row, x, n, dst, stride)
}

func dotFloatx4(t Type, size int, kernel func(*byte, *float32, int, int, *float32, int),
	row []byte, x []float32, n int, dst []float32, stride int) {
	_ = x[4*n-1]
	_ = dst[3*stride]
	row = row[:size*n]
	ng := n / 16
	m := 16 * ng
	if ng > 0 {
		kernel(&row[0], &x[0], 4*n, ng, &dst[0], stride)
	} else {
		dst[0], dst[stride], dst[2*stride], dst[3*stride] = 0, 0, 0, 0
	}
	if m < n {
		dot := dotFunc(t)
		for j := range 4 {
			dst[j*stride] += dot(row[size*m:], x[j*n+m:(j+1)*n])
		}
	}
}
