package tensor

import (
	"fmt"
	"math"
)

// LayerNorm writes (x - mean) / sqrt(var + eps) * w + b into dst (which
// may be x), with the mean and variance accumulated in float64 as
// ggml_norm does, in sixteen lanes (two vectors of eight) then halved, so
// that the AVX-512 version, used where the CPU has it and len(x) is a
// multiple of 16, gives the same bits as layerNormGo.
func LayerNorm(dst, x, w, b []float32, eps float32) {
	n := len(x)
	if len(dst) < n || len(w) < n || len(b) < n {
		panic(fmt.Sprintf("tensor: LayerNorm of %d with %d, %d, %d", n, len(dst), len(w), len(b)))
	}
	if n == 0 {
		return
	}
	if layerNormArch(dst, x, w, b, eps) {
		return
	}
	layerNormGo(dst, x, w, b, eps)
}

// sum16 is the sum of v's 16 lanes: the two vectors added lane by lane,
// then lanes l and l+4, l and l+2, l and l+1.
func sum16(v *[16]float64) float64 {
	var a [8]float64
	for l := range a {
		a[l] = v[l] + v[l+8]
	}
	for w := 4; w >= 1; w /= 2 {
		for l := range w {
			a[l] += a[l+w]
		}
	}
	return a[0]
}

func layerNormGo(dst, x, w, b []float32, eps float32) {
	var lanes [16]float64
	for i, v := range x {
		lanes[i%16] += float64(v)
	}
	mean := sum16(&lanes) / float64(len(x))
	lanes = [16]float64{}
	for i, v := range x {
		d := float64(v) - mean
		lanes[i%16] += float64(d * d)
	}
	scale := float32(1 / math.Sqrt(sum16(&lanes)/float64(len(x))+float64(eps)))
	m := float32(mean)
	w, b, dst = w[:len(x)], b[:len(x)], dst[:len(x)]
	for i, v := range x {
		dst[i] = float32(float32((v-m)*scale)*w[i]) + b[i]
	}
}
