package tensor

import (
	"fmt"
	"math"
)

// AttnBuf holds the scratch memory of AttendSeq calls; the zero value is
// ready, and one must not be used by two calls at once.
type AttnBuf struct {
	kt, sc []float32
}

// AttendSeq is one head's softmax attention within a sequence of n
// tokens, every token attending to every other (an encoder's): for each
// query i, out_i = Σ_j p_j v_j with p = softmax(scale · q_i·k_j) over the
// n keys. Row i of q, k, v and out starts at i*stride and is hd floats
// long. The keys are transposed first so that a query's scores come
// sixteen keys at a time; where the CPU has AVX-512 the kernels are
// assembly with the same float32 operations, in the same order, as their
// Go twins (scores summed with fused multiply-adds over the head's
// dimensions, Expf, the exponentials' sum in sixteen lanes).
func AttendSeq(out, q, k, v []float32, n, hd, stride int, scale float32, buf *AttnBuf) {
	if n <= 0 || hd <= 0 || stride < hd || len(q) < (n-1)*stride+hd || len(k) < (n-1)*stride+hd ||
		len(v) < (n-1)*stride+hd || len(out) < (n-1)*stride+hd {
		panic(fmt.Sprintf("tensor: AttendSeq of %d rows of %d, stride %d, with %d, %d, %d, %d floats",
			n, hd, stride, len(q), len(k), len(v), len(out)))
	}
	np := (n + 15) &^ 15
	if cap(buf.kt) < hd*np {
		buf.kt = make([]float32, hd*np)
	}
	if cap(buf.sc) < np {
		buf.sc = make([]float32, np)
	}
	kt, sc := buf.kt[:hd*np], buf.sc[:np]
	for j := range n {
		for d, f := range k[j*stride : j*stride+hd] {
			kt[d*np+j] = f
		}
	}
	for d := range hd {
		clear(kt[d*np+n : (d+1)*np])
	}
	ker := attnKernelsGo
	if useAttnArch(hd) {
		ker = attnKernelsArch
	}
	for i := range n {
		ker.scores(sc, q[i*stride:i*stride+hd], kt, n, np, scale)
		sum := ker.softmax(sc)
		ker.pv(out[i*stride:i*stride+hd], sc, v, n, stride, 1/sum)
	}
}

// attnKernels are AttendSeq's three steps for one query.
type attnKernels struct {
	// scores sets sc[j] = (q·k_j)·scale for the n keys of kt (hd rows
	// of np), each dot a chain of fused multiply-adds from 0, and -Inf
	// for the padding keys up to np, which weigh nothing.
	scores func(sc, q, kt []float32, n, np int, scale float32)
	// softmax sets sc[j] = Expf(sc[j] - max) (len(sc) a multiple of 16)
	// and returns their sum, added in sixteen lanes then halved
	// (lanes l and l+8, l and l+4, l and l+2, l and l+1).
	softmax func(sc []float32) float32
	// pv sets out = (Σ_j p_j v_j)·inv over the n rows of v, each
	// element a chain of fused multiply-adds from 0.
	pv func(out, p, v []float32, n, stride int, inv float32)
}

var attnKernelsGo = attnKernels{attnScoresGo, softmaxGo, attnPVGo}

func attnScoresGo(sc, q, kt []float32, n, np int, scale float32) {
	for j := range sc {
		if j >= n {
			sc[j] = float32(math.Inf(-1))
			continue
		}
		var acc float32
		for d, qd := range q {
			acc = fma32(qd, kt[d*np+j], acc)
		}
		sc[j] = acc * scale
	}
}

func softmaxGo(sc []float32) float32 {
	m := float32(math.Inf(-1))
	for _, s := range sc {
		m = max(m, s)
	}
	var lanes [16]float32
	for j, s := range sc {
		p := Expf(s - m)
		sc[j] = p
		lanes[j%16] += p
	}
	for w := 8; w >= 1; w /= 2 {
		for l := range w {
			lanes[l] += lanes[l+w]
		}
	}
	return lanes[0]
}

func attnPVGo(out, p, v []float32, n, stride int, inv float32) {
	for d := range out {
		var acc float32
		for j := range n {
			acc = fma32(p[j], v[j*stride+d], acc)
		}
		out[d] = acc * inv
	}
}
