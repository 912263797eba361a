package tensor

// DotF32 is the dot product of two float32 vectors; b must be at least as
// long as a. It uses the same vector kernels as the F32 weight type.
func DotF32(a, b []float32) float32 { return dotF32F32(a, b) }

// dotF32F32Go is the pure Go DotF32.
func dotF32F32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa := (*[4]float32)(a[i:])
		bb := (*[4]float32)(b[i:])
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy adds a*x to y; x must be at least as long as y.
func Axpy(y []float32, a float32, x []float32) { axpy(y, a, x) }

// axpyGo is the pure Go Axpy.
func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
