package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttendSeq checks AttendSeq against softmax attention in float64,
// for sequences shorter and longer than a vector of keys, heads the
// assembly takes (multiples of 16) and one it leaves to Go.
func TestAttendSeq(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 5))
	for _, hd := range []int{16, 32, 64, 24} {
		for _, n := range []int{1, 3, 16, 17, 40} {
			t.Run(fmt.Sprintf("hd=%d/n=%d", hd, n), func(t *testing.T) {
				stride := 3*hd + 5
				q, k, v := randVec(r, n*stride), randVec(r, n*stride), randVec(r, n*stride)
				for i := range q {
					q[i] *= 2 // peaked softmaxes too
				}
				out := make([]float32, n*stride)
				scale := float32(1 / math.Sqrt(float64(hd)))
				var buf AttnBuf
				AttendSeq(out, q, k, v, n, hd, stride, scale, &buf)
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
						if got := out[i*stride+d]; math.Abs(float64(got)-want) > 1e-5 {
							t.Fatalf("query %d dim %d: %v, float64 reference %v", i, d, got, want)
						}
					}
				}
			})
		}
	}
}

// TestAttnKernelsMatchTwins holds the attention kernels in use (assembly
// where the CPU has AVX-512) to their Go twins bit for bit.
func TestAttnKernelsMatchTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 6))
	const hd, np, n, stride = 32, 48, 37, 40
	q, kt, v := randVec(r, hd), randVec(r, hd*np), randVec(r, n*stride)
	a, b := make([]float32, np), make([]float32, np)
	attnKernelsArch.scores(a, q, kt, n, np, 0.3)
	attnKernelsGo.scores(b, q, kt, n, np, 0.3)
	for j := range a {
		if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
			t.Fatalf("score %d: %v, Go twin %v", j, a[j], b[j])
		}
	}
	for j := range a[:n] {
		a[j] *= 30 // a wide range of exponents, some below Expf's
	}
	for j := n; j < np; j++ {
		if !math.IsInf(float64(a[j]), -1) {
			t.Fatalf("padding score %d = %v, want -Inf", j, a[j])
		}
	}
	copy(b, a)
	sa, sb := attnKernelsArch.softmax(a), attnKernelsGo.softmax(b)
	if math.Float32bits(sa) != math.Float32bits(sb) {
		t.Errorf("softmax sum %v, Go twin %v", sa, sb)
	}
	zeros := 0
	for j := range a {
		if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
			t.Fatalf("softmax %d: %v, Go twin %v", j, a[j], b[j])
		}
		if a[j] == 0 {
			zeros++
		}
	}
	if zeros < 2 {
		t.Errorf("only %d exponentials underflowed: the test misses Expf's lower cut", zeros)
	}
	oa, ob := make([]float32, hd), make([]float32, hd)
	attnKernelsArch.pv(oa, a, v, n, stride, 1/sa)
	attnKernelsGo.pv(ob, a, v, n, stride, 1/sa)
	for d := range oa {
		if math.Float32bits(oa[d]) != math.Float32bits(ob[d]) {
			t.Fatalf("output %d: %v, Go twin %v", d, oa[d], ob[d])
		}
	}
}
