//go:build amd64 && !purego

package tensor

//go:noescape
func swigluAVX2(x, y *float32, n int) int

// swigluArch runs swigluAVX2 over the whole eights of g and returns how
// many elements it set; the eights it leaves (an argument outside its
// range) take the scalar loop.
func swigluArch(g, u []float32) int {
	n := len(g) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	u = u[:n]
	for i := 0; i < n; {
		i += swigluAVX2(&g[i], &u[i], n-i)
		if i < n {
			swigluGo(g[i:i+8], u[i:i+8])
			i += 8
		}
	}
	return n
}
