package tensor

import (
	"fmt"
	"math"

	"github.com/moegate/moegate/internal/vec"
)

// AttnBuf holds the scratch memory of AttendSeq calls; the zero value is
// ready, and one must not be used by two calls at once.
type AttnBuf struct {
	qt, p []float32
}

// attnLanes is the number of queries AttendSeq takes at once, one per
// lane of a vector.
const attnLanes = 16

// AttendSeq is one head's softmax attention within a sequence of n
// tokens, every token attending to every other (an encoder's): for each
// query i, out_i = Σ_j p_j v_j with p = softmax(scale · q_i·k_j) over the
// n keys. Row i of q, k and v starts at i*stride, row i of out at
// i*ostride; each is hd floats long. Sixteen queries go at once, one per lane: their transposed rows
// times each key's elements broadcast give their sixteen scores for that
// key, so the softmax is lane by lane, with no horizontal sums. Where the
// CPU has AVX-512 the kernel is assembly with the same float32 operations,
// in the same order, as attnBlockGo; elsewhere (or for heads not a
// multiple of 16) the scalar twin would be slow, and each query takes the
// vector dot products and axpys instead (attendRows).
func AttendSeq(out, q, k, v []float32, n, hd, stride, ostride int, scale float32, buf *AttnBuf) {
	if n <= 0 || hd <= 0 || stride < hd || ostride < hd || len(q) < (n-1)*stride+hd || len(k) < (n-1)*stride+hd ||
		len(v) < (n-1)*stride+hd || len(out) < (n-1)*ostride+hd {
		panic(fmt.Sprintf("tensor: AttendSeq of %d rows of %d, strides %d and %d, with %d, %d, %d, %d floats",
			n, hd, stride, ostride, len(q), len(k), len(v), len(out)))
	}
	if !useAttnArch(hd) {
		attendRows(out, q, k, v, n, hd, stride, ostride, scale, buf)
		return
	}
	attendBlocks(out, q, k, v, n, hd, stride, ostride, scale, buf, attnBlockArch)
}

// attnBlock is attnBlockGo's signature.
type attnBlock func(out, q, k, v, qt, p []float32, n, nq, hd, stride, ostride int, scale float32)

// attendBlocks runs block on the queries sixteen at a time; hd is even.
func attendBlocks(out, q, k, v []float32, n, hd, stride, ostride int, scale float32, buf *AttnBuf, block attnBlock) {
	if cap(buf.qt) < hd*attnLanes {
		buf.qt = make([]float32, hd*attnLanes)
	}
	if cap(buf.p) < (n+1)*attnLanes {
		buf.p = make([]float32, (n+1)*attnLanes)
	}
	qt, p := buf.qt[:hd*attnLanes], buf.p[:(n+1)*attnLanes]
	for i0 := 0; i0 < n; i0 += attnLanes {
		nq := min(attnLanes, n-i0)
		block(out[i0*ostride:], q[i0*stride:], k, v, qt, p, n, nq, hd, stride, ostride, scale)
	}
}

// attnBlockGo computes the attention of the nq <= 16 queries of q (rows
// stride apart), first transposed into qt (element d of query i at
// qt[d*16+i], zeros past nq), over the n keys and values of k and v (rows
// stride apart), into out (rows ostride apart), with p ((n+1)*16 floats)
// as scratch. For each key j the sixteen scores are
// two chains of fused multiply-adds from 0, over the even d and the odd
// d, added, times scale; then lane by
// lane m = the scores' max, p_j = Expf(s_j - m), their sum added in key
// order, inv = 1/sum; then out_i = (Σ_j p_j v_j)·inv_i, each element a
// chain of fused multiply-adds over j from 0.
func attnBlockGo(out, q, k, v, qt, p []float32, n, nq, hd, stride, ostride int, scale float32) {
	clear(qt[:hd*attnLanes])
	for i := range nq {
		for d, f := range q[i*stride : i*stride+hd] {
			qt[d*attnLanes+i] = f
		}
	}
	for j := range n {
		kj := k[j*stride : j*stride+hd]
		for l := range attnLanes {
			var even, odd float32
			for d := 0; d < hd; d += 2 {
				even = fma32(qt[d*attnLanes+l], kj[d], even)
				odd = fma32(qt[(d+1)*attnLanes+l], kj[d+1], odd)
			}
			p[j*attnLanes+l] = (even + odd) * scale
		}
	}
	inv := p[n*attnLanes : (n+1)*attnLanes]
	for l := range attnLanes {
		m := float32(math.Inf(-1))
		for j := range n {
			m = max(m, p[j*attnLanes+l])
		}
		var sum float32
		for j := range n {
			e := Expf(p[j*attnLanes+l] - m)
			p[j*attnLanes+l] = e
			sum += e
		}
		inv[l] = 1 / sum
	}
	for i := range nq {
		o := out[i*ostride : i*ostride+hd]
		for d := range o {
			var acc float32
			for j := range n {
				acc = fma32(p[j*attnLanes+i], v[j*stride+d], acc)
			}
			o[d] = acc * inv[i]
		}
	}
}

// attendRows is AttendSeq query by query: the scores by vec.Dot, Expf,
// the values summed by axpy (AVX2 kernels where the CPU has them).
func attendRows(out, q, k, v []float32, n, hd, stride, ostride int, scale float32, buf *AttnBuf) {
	if cap(buf.p) < n {
		buf.p = make([]float32, n)
	}
	sc := buf.p[:n]
	for i := range n {
		qi := q[i*stride : i*stride+hd]
		m := float32(math.Inf(-1))
		for j := range n {
			sc[j] = vec.Dot(qi, k[j*stride:j*stride+hd]) * scale
			m = max(m, sc[j])
		}
		o := out[i*ostride : i*ostride+hd]
		clear(o)
		var sum float32
		for j, s := range sc {
			w := Expf(s - m)
			sum += w
			axpy(o, w, v[j*stride:j*stride+hd])
		}
		inv := 1 / sum
		for d := range o {
			o[d] *= inv
		}
	}
}
