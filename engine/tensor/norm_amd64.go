//go:build amd64 && !purego

package tensor

//go:noescape
func layerNormAVX512(dst, x, w, b *float32, n int, eps float32)

func layerNormArch(dst, x, w, b []float32, eps float32) bool {
	n := len(x)
	if !haveGEMM512 || n%16 != 0 {
		return false
	}
	layerNormAVX512(&dst[0], &x[0], &w[0], &b[0], n, eps)
	return true
}
