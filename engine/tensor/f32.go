package tensor

// Axpy adds a*x to y; x must be at least as long as y.
func Axpy(y []float32, a float32, x []float32) { axpy(y, a, x) }

// axpyGo is the pure Go Axpy.
func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
