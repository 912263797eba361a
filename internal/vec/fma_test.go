package vec

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestFMA32 checks FMA32 against a*b+c computed exactly and rounded once
// to float32, on random operands and on sums that fall exactly half-way
// between two float32s in float64 (where rounding twice would be wrong).
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	exact := func(a, b, c float32) float32 {
		v := new(big.Float).SetPrec(200).SetFloat64(float64(a))
		v.Mul(v, new(big.Float).SetPrec(200).SetFloat64(float64(b)))
		v.Add(v, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
		f, _ := v.Float32()
		return f
	}
	type op struct{ a, b, c float32 }
	ops := []op{
		{1, 1, 0},
		{0, 5, -3},
		// (1 + 2^-23) + 2^-24 - 2^-70: float64 rounds it to the half-way
		// 1 + 3·2^-24, which rounds to even 1 + 2^-22; the exact sum is
		// below half-way, 1 + 2^-23.
		{float32(math.Ldexp(1+1.0/(1<<23), -12)), float32(math.Ldexp(1-1.0/(1<<23), -12)), 1 + 1.0/(1<<23)},
		// The same in float32's subnormal range, where the midpoints sit a
		// bit higher: 2^-127 + 2^-149 + 2^-150 - 2^-190 rounds in float64
		// to the midpoint 2^-127 + 1.5·2^-149, then to even 2^-127 + 2^-148.
		{float32(math.Ldexp(1-1.0/(1<<20), -75)), float32(math.Ldexp(1+1.0/(1<<20), -75)), float32(math.Ldexp(1, -127) + math.Ldexp(1, -149))},
	}
	for range 100000 {
		ops = append(ops, op{float32(r.NormFloat64()), float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20)), float32(r.NormFloat64())})
	}
	// Results near and in float32's subnormal range.
	for range 100000 {
		ops = append(ops, op{float32(math.Ldexp(r.NormFloat64(), -60-r.IntN(20))), float32(math.Ldexp(r.NormFloat64(), -60-r.IntN(20))), float32(math.Ldexp(r.NormFloat64(), -120-r.IntN(30)))})
	}
	for _, o := range ops {
		if got, want := FMA32(o.a, o.b, o.c), exact(o.a, o.b, o.c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA32(%v, %v, %v) = %v, want %v", o.a, o.b, o.c, got, want)
		}
	}
}
