package model

import (
	"math"

	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/internal/vec"
)

// rmsNorm writes x / sqrt(mean(x²) + eps) * w into dst (which may be x)
// with ggml_rms_norm's roundings: each square in float32, summed in
// float64, the mean, the sqrt and the reciprocal in float32. A scale one
// ulp off flips roundings of the quantized activations downstream: with
// float64 throughout, greedy output left llama.cpp's after 1-13 tokens on
// Q4_K/Q6_K files.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v * v)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// softmax replaces x by its softmax, subtracting the maximum first.
func softmax(x []float32) {
	maxV := float32(math.Inf(-1))
	for _, v := range x {
		maxV = max(maxV, v)
	}
	var sum float32
	for i, v := range x {
		e := tensor.Expf(v - maxV)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

func silu(x float32) float32 { return tensor.Silu(x) }

func sigmoid(x float32) float32 { return 1 / (1 + tensor.Expf(-x)) }

// swiglu writes silu(g)*u into g.
func swiglu(g, u []float32) { tensor.SwiGLU(g, u) }

// dot and axpy use the package tensor vector kernels: attention spends
// most of its time in them.
func dot(a, b []float32) float32 { return vec.Dot(a, b[:len(a)]) }

// axpy adds a*x to y.
func axpy(y []float32, a float32, x []float32) { tensor.Axpy(y, a, x) }

func scaleVec(y []float32, a float32) {
	for i := range y {
		y[i] *= a
	}
}

func add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// addBias adds b to each of the len(y)/len(b) rows of y.
func addBias(y, b []float32) {
	if b == nil {
		return
	}
	for off := 0; off < len(y); off += len(b) {
		add(y[off:off+len(b)], b)
	}
}

// rope rotates the first 2*len(cos) dimensions of one head vector. With neox
// the pairs are (i, i+n/2) (LLAMA_ROPE_TYPE_NEOX), otherwise (2i, 2i+1)
// (LLAMA_ROPE_TYPE_NORM).
func rope(v, cos, sin []float32, neox bool) {
	half := len(cos)
	if neox {
		a, b := v[:half], v[half:2*half]
		for i := range half {
			x0, x1 := a[i], b[i]
			a[i] = x0*cos[i] - x1*sin[i]
			b[i] = x0*sin[i] + x1*cos[i]
		}
		return
	}
	for i := range half {
		x0, x1 := v[2*i], v[2*i+1]
		v[2*i] = x0*cos[i] - x1*sin[i]
		v[2*i+1] = x0*sin[i] + x1*cos[i]
	}
}

// attnBlock is the number of scores computed before the running softmax is
// rescaled; it lives on the stack.
const attnBlock = 128

// attend computes one head's attention output for one query over npos cached
// positions: softmax(q·k_j * scale) weighted sum of v_j, in float32 with the
// running maximum subtracted (an online softmax, so no score buffer per
// sequence length is needed). Keys and values of the head start at off in
// rows of stride floats.
func attend(out, q, kc, vc []float32, off, stride, npos int, scale float32) {
	hd := len(q)
	clear(out)
	var sc [attnBlock]float32
	maxS := float32(math.Inf(-1))
	var sum float32
	for j0 := 0; j0 < npos; j0 += attnBlock {
		n := min(attnBlock, npos-j0)
		bm := float32(math.Inf(-1))
		for j := range n {
			r := (j0+j)*stride + off
			s := dot(q, kc[r:r+hd]) * scale
			sc[j] = s
			bm = max(bm, s)
		}
		if bm > maxS {
			if sum > 0 {
				r := tensor.Expf(maxS - bm)
				sum *= r
				scaleVec(out, r)
			}
			maxS = bm
		}
		for j := range n {
			w := tensor.Expf(sc[j] - maxS)
			sum += w
			r := (j0+j)*stride + off
			axpy(out, w, vc[r:r+hd])
		}
	}
	scaleVec(out, 1/sum)
}
