package tensor

import "math"

// Expf is e^x in float32 (within 2 ulp of math.Exp rounded to float32;
// results below the smallest normal are flushed to 0). It is several times
// faster than math.Exp and is called once per attention score.
// Range reduction x = n·ln2 + r, |r| <= ln2/2, then the minimax polynomial
// of Cephes' expf for e^r.
func Expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	case x != x:
		return x
	}
	fn := x * log2e
	if fn < 0 {
		fn -= 0.5
	} else {
		fn += 0.5
	}
	n := int32(fn)
	r := x - float32(float32(n)*ln2hi) - float32(float32(n)*ln2lo)
	p := float32(1.9875691500e-4)
	p = float32(p*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	y := float32(float32(p*r)*r) + r + 1
	// Near the ends of the range 2^n is not a normal float32: scale in two steps.
	if n < -126 {
		return y * math.Float32frombits(uint32(n+127+64)<<23) * math.Float32frombits(uint32(127-64)<<23)
	}
	if n > 127 {
		return y * 2 * math.Float32frombits(uint32(n+127-1)<<23)
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// The products above are converted to float32 before each sum so that
// no build (GOAMD64=v3 lets the compiler fuse a*b+c) rounds them
// differently from the assembly (swigluAVX2).

// Silu is x·sigmoid(x) = x / (1 + e^-x).
func Silu(x float32) float32 { return x / (1 + Expf(-x)) }

// SwiGLU writes Silu(g)*u into g, eight at a time with AVX2 where it can:
// the same bits as the scalar loop.
func SwiGLU(g, u []float32) {
	u = u[:len(g)]
	i := swigluArch(g, u)
	swigluGo(g[i:], u[i:])
}

func swigluGo(g, u []float32) {
	u = u[:len(g)]
	for i, v := range g {
		g[i] = Silu(v) * u[i]
	}
}
