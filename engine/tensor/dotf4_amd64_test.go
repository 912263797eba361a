//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotFloatx4 checks the four-vector float kernels against the
// one-vector ones, at lengths with and without a tail beyond the groups
// of 16, and with the results strided as MatMul writes them.
func TestDotFloatx4(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: MatMul uses the one-vector kernels")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, typ := range []Type{F32, F16} {
		for _, n := range []int{8, 16, 40, 384, 1536, 1545} {
			t.Run(fmt.Sprintf("%v/n=%d", typ, n), func(t *testing.T) {
				row, err := Quantize(typ, randVec(r, n))
				if err != nil {
					t.Fatal(err)
				}
				x := randVec(r, 4*n)
				const stride = 3
				dst := make([]float32, 3*stride+1)
				dot4Func(typ)(row, x, n, dst, stride)
				for j := range 4 {
					want := dotFunc(typ)(row, x[j*n:(j+1)*n])
					if d := math.Abs(float64(dst[j*stride] - want)); d > 1e-5*math.Sqrt(float64(n))*(1+math.Abs(float64(want))) {
						t.Errorf("vector %d: %g, one-vector kernel %g", j, dst[j*stride], want)
					}
				}
			})
		}
	}
}
