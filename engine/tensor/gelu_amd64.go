//go:build amd64 && !purego

package tensor

//go:noescape
func geluAVX512(x *float32, n int)

// geluArch runs geluAVX512 over the whole sixteens of x and returns how
// many elements it set.
func geluArch(x []float32) int {
	n := len(x) &^ 15
	if !haveGEMM512 || n == 0 {
		return 0
	}
	geluAVX512(&x[0], n)
	return n
}
