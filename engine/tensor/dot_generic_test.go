//go:build !amd64 || purego

package tensor

// packedVariant is one set of packed kernels, by name (none without the
// assembly).
type packedVariant struct {
	name   string
	rows   func(t Type, packed []byte, nb int, dst []float32, r0 int, xq []byte) int
	rowsX4 func(t Type, packed []byte, nb int, dst []float32, rows, n, r0 int, xq []byte, xstride int, aux []byte) int
	hasX4  func(t Type) bool
}

func packedVariants() []packedVariant { return nil }
