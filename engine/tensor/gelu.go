package tensor

// GELU sets x[i] = gelu(x[i]): the tanh approximation ggml_gelu computes
// (and BERT checkpoints converted for llama.cpp run with),
// 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))), sixteen at a time where the CPU
// has AVX-512, with the same float32 operations in the same order as
// gelu, so the same bits.
func GELU(x []float32) {
	for i := geluArch(x); i < len(x); i++ {
		x[i] = gelu(x[i])
	}
}

// gelu is GELU of one value. The products are converted to float32 before
// each sum, so that no build fuses them (GOAMD64=v3 may) and the assembly,
// which does not, gives the same bits.
func gelu(x float32) float32 {
	const c = 0.7978845608028654 // √(2/π)
	u := float32(c*x) * (1 + float32(float32(0.044715*x)*x))
	return float32(0.5*x) * (1 + tanhf(u))
}

// tanhf is tanh in float32 by Eigen's rational approximation (a 13/6
// minimax fit on [-7.9, 7.9], beyond which tanh is ±1 in float32): no
// exponential and no branch but the clamp.
func tanhf(x float32) float32 {
	const clamp = 7.90531110763549805
	x = min(max(x, -clamp), clamp)
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = float32(p*x2) + 2.00018790482477e-13
	p = float32(p*x2) - 8.60467152213735e-11
	p = float32(p*x2) + 5.12229709037114e-08
	p = float32(p*x2) + 1.48572235717979e-05
	p = float32(p*x2) + 6.37261928875436e-04
	p = float32(p*x2) + 4.89352455891786e-03
	q := float32(1.19825839466702e-06)
	q = float32(q*x2) + 1.18534705686654e-04
	q = float32(q*x2) + 2.26843463243900e-03
	q = float32(q*x2) + 4.89352518554385e-03
	return float32(x*p) / q
}
