package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttendSeq checks AttendSeq against softmax attention in float64,
// for sequences shorter and longer than a vector of queries, heads the
// assembly takes (multiples of 16) and one it leaves to attendRows, and
// the Go twin of the assembly's block.
func TestAttendSeq(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 5))
	for _, hd := range []int{16, 32, 48, 64, 24} {
		for _, n := range []int{1, 3, 16, 17, 40} {
			t.Run(fmt.Sprintf("hd=%d/n=%d", hd, n), func(t *testing.T) {
				stride, ostride := 3*hd+5, hd+3
				q, k, v := randVec(r, n*stride), randVec(r, n*stride), randVec(r, n*stride)
				for i := range q {
					q[i] *= 2 // peaked softmaxes too
				}
				scale := float32(1 / math.Sqrt(float64(hd)))
				var buf AttnBuf
				out := make([]float32, n*ostride)
				AttendSeq(out, q, k, v, n, hd, stride, ostride, scale, &buf)
				twin := make([]float32, n*ostride)
				attendBlocks(twin, q, k, v, n, hd, stride, ostride, scale, &buf, attnBlockGo)
				for i := range n {
					s := make([]float64, n)
					m := math.Inf(-1)
					for j := range n {
						s[j] = dot64(q[i*stride:i*stride+hd], k[j*stride:j*stride+hd]) * float64(scale)
						m = max(m, s[j])
					}
					var sum float64
					for j := range s {
						s[j] = math.Exp(s[j] - m)
						sum += s[j]
					}
					for d := range hd {
						var want float64
						for j := range n {
							want += s[j] / sum * float64(v[j*stride+d])
						}
						if got := out[i*ostride+d]; math.Abs(float64(got)-want) > 1e-5 {
							t.Fatalf("query %d dim %d: %v, float64 reference %v", i, d, got, want)
						}
						if got := twin[i*ostride+d]; math.Abs(float64(got)-want) > 1e-5 {
							t.Fatalf("query %d dim %d: Go twin %v, float64 reference %v", i, d, got, want)
						}
					}
				}
			})
		}
	}
}

// TestAttnBlockMatchesTwin holds the attention kernel in use (assembly
// where the CPU has AVX-512) to its Go twin bit for bit: an odd number of
// keys (the last one alone), fewer queries than lanes, scores wide enough
// that some exponentials fall below Expf's range.
func TestAttnBlockMatchesTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 6))
	const hd, n, stride, ostride = 32, 37, 40, 35
	if !useAttnArch(hd) {
		t.Skip("this CPU has no AVX-512: AttendSeq runs the Go kernel, which the other tests check")
	}
	q, k, v := randVec(r, n*stride), randVec(r, n*stride), randVec(r, n*stride)
	for i := range q {
		q[i] *= 6
	}
	for _, nq := range []int{1, 11, 16} {
		var outs, ps, qts [2][]float32
		for c, block := range []attnBlock{attnBlockArch, attnBlockGo} {
			outs[c], ps[c] = make([]float32, nq*ostride), make([]float32, (n+1)*attnLanes)
			qts[c] = randVec(r, hd*attnLanes) // scratch: overwritten
			block(outs[c], q, k, v, qts[c], ps[c], n, nq, hd, stride, ostride, 0.7)
		}
		checkAttnBlock(t, nq, outs, ps, qts)
	}
}

func checkAttnBlock(t *testing.T, nq int, outs, ps, qts [2][]float32) {
	t.Helper()
	for i := range qts[0] {
		if math.Float32bits(qts[0][i]) != math.Float32bits(qts[1][i]) {
			t.Fatalf("nq=%d: qt[%d] = %v, Go twin %v", nq, i, qts[0][i], qts[1][i])
		}
	}
	zeros := 0
	for i := range ps[0] {
		if math.Float32bits(ps[0][i]) != math.Float32bits(ps[1][i]) {
			t.Fatalf("nq=%d: p[%d] = %v, Go twin %v", nq, i, ps[0][i], ps[1][i])
		}
		if ps[0][i] == 0 {
			zeros++
		}
	}
	if nq == attnLanes && zeros < 2 {
		t.Errorf("nq=%d: only %d exponentials underflowed: the test misses Expf's lower cut", nq, zeros)
	}
	for i := range outs[0] {
		if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
			t.Fatalf("nq=%d: out[%d] = %v, Go twin %v", nq, i, outs[0][i], outs[1][i])
		}
	}
}
