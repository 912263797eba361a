package tensor

import "github.com/moegate/moegate/internal/vec"

// Axpy adds a*x to y; x must be at least as long as y.
func Axpy(y []float32, a float32, x []float32) { axpy(y, a, x) }

// axpyGo is the pure Go Axpy, with the assembly's fused multiply-add per
// element, so that every build gives the same bits.
func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] = vec.FMA32(a, x[i], y[i])
	}
}
