package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPacked checks the packed Q4_0, Q8_0, Q4_K and Q6_K rows against the one-row Go
// kernels bit for bit, on row counts with and without a last group of
// eight or a remainder, on ranges that start inside a group, and on
// hand-built blocks at the integer sums' extremes (every weight byte the
// same, activations of one magnitude): the chosen kernels and every other
// set of packed kernels this CPU runs.
func TestPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, typ := range []Type{Q4_0, Q8_0, Q4_K, Q6_K} {
		testPacked(t, r, typ)
	}
}

func testPacked(t *testing.T, r *rand.Rand, typ Type) {
	cases := []struct {
		rows, nb, lo, hi int
		fill             byte    // every weight byte, 0: random
		x                float32 // every activation (alternating in sign if negative), 0: random
	}{
		{8, 1, 0, 8, 0, 0},
		{16, 3, 0, 16, 0, 0},
		{24, 16, 0, 24, 0, 0},
		{24, 16, 8, 24, 0, 0},
		{40, 2, 16, 40, 0, 0},
		{70, 5, 0, 70, 0, 0},
		{70, 5, 3, 69, 0, 0},
		{13, 4, 0, 13, 0, 0},
		{16, 2, 0, 16, 0xff, 1},
		{16, 2, 0, 16, 0xff, -1},
		{24, 3, 0, 24, 0x80, -1},
		{8, 1, 0, 8, 0x88, 1},
		{8, 1, 0, 8, 0x77, -1},
	}
	for _, c := range cases {
		cols := typ.BlockSize() * c.nb
		data := make([]byte, c.rows*c.nb*typ.BlockBytes())
		for i := range data {
			data[i] = byte(r.Uint32())
			if c.fill != 0 {
				data[i] = c.fill
			}
		}
		for i := 0; i < len(data); i += typ.BlockBytes() {
			switch typ {
			case Q6_K:
				putF16(data[i+208:], float32(r.NormFloat64()))
			case Q4_K:
				putF16(data[i+2:], float32(r.NormFloat64())) // dmin
				fallthrough
			default:
				putF16(data[i:], float32(r.NormFloat64()))
			}
		}
		m, err := NewMatrix(typ, c.rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		m.Pack()
		if havePacked && (m.packed == nil) != (c.rows < 8) {
			t.Fatalf("%v rows=%d: packed %v", typ, c.rows, m.packed != nil)
		}
		x := randVec(r, cols)
		switch {
		case c.x > 0:
			for i := range x {
				x[i] = c.x
			}
		case c.x < 0:
			for i := range x {
				x[i] = c.x * float32(1-2*(i&1))
			}
		case c.nb > 1:
			clear(x[:typ.BlockSize()]) // an all-zero block
		}
		xq := QuantizeAct(typ, make([]byte, ActBytes(typ, cols)), x)
		check := func(kernels string, dst []float32, lo, hi int) {
			t.Helper()
			for i := lo; i < hi; i++ {
				if want := dotActGo(typ)(m.Row(i), xq, c.nb); math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("%v %s rows=%d nb=%d [%d,%d) row %d: %v, want %v", typ, kernels, c.rows, c.nb, c.lo, c.hi, i, dst[i], want)
				}
			}
		}
		dst := make([]float32, c.rows)
		m.dotRowsAct(dst, xq, c.lo, c.hi, true) // the packed rows, also where DotRowsAct leaves them to batches
		check("chosen", dst, c.lo, c.hi)
		r0 := (c.lo + 7) &^ 7
		for _, k := range packedVariants() {
			if r0 >= c.hi {
				break
			}
			clear(dst)
			done := k.rows(typ, m.packed, c.nb, dst[r0:c.hi], r0, xq)
			if want := (min(c.hi, c.rows&^7) - r0) &^ 7; done != max(want, 0) {
				t.Fatalf("%v %s rows=%d [%d,%d): %d rows done, want %d", typ, k.name, c.rows, r0, c.hi, done, want)
			}
			check(k.name, dst, r0, r0+done)
		}
		if typ != Q8_0 {
			testPackedX4(t, r, m, c.lo, c.hi)
		}
	}
}

// testPackedX4 checks the four-vector packed rows (dotRowsPackedX4, and
// every set of them this CPU runs) on the
// rows [lo, hi) of m, from the first group of eight in them, against the
// one-row Go kernel bit for bit; the vectors sit further apart than their
// size, so a kernel that takes the wrong stride fails.
func testPackedX4(t *testing.T, r *rand.Rand, m *Matrix, lo, hi int) {
	nb := m.Cols / m.Type.BlockSize()
	ab := ActBytes(m.Type, m.Cols)
	xstride := ab + 7
	xq := make([]byte, 3*xstride+ab)
	for j := range 4 {
		x := randVec(r, m.Cols)
		if j == 2 && nb > 1 {
			clear(x[m.Type.BlockSize():]) // all-zero blocks
		}
		QuantizeAct(m.Type, xq[j*xstride:j*xstride+ab], x)
	}
	r0 := (lo + 7) &^ 7
	if r0 >= hi {
		return
	}
	aux := make([]byte, nb*32)
	if m.Type == Q4_0 {
		q4x4Aux(aux, xq, xstride, nb)
	}
	type rowsX4 func(t Type, packed []byte, nb int, dst []float32, rows, n, r0 int, xq []byte, xstride int, aux []byte) int
	type kernel struct {
		name string
		rows rowsX4
		has  bool // whether it has a four-vector kernel for the type
	}
	kernels := []kernel{{"chosen", dotRowsPackedX4, packedX4(m.Type)}}
	for _, k := range packedVariants() {
		kernels = append(kernels, kernel{k.name, k.rowsX4, k.hasX4(m.Type)})
	}
	for _, k := range kernels {
		dst := make([]float32, 4*m.Rows)
		done := k.rows(m.Type, m.packed, nb, dst[r0:], m.Rows, hi-r0, r0, xq, xstride, aux)
		want := max(min(hi, m.Rows&^7)-r0, 0) &^ 7
		if !k.has {
			want = 0
		}
		if done != want {
			t.Fatalf("%v %s rows=%d [%d,%d): %d rows done, want %d", m.Type, k.name, m.Rows, r0, hi, done, want)
		}
		for j := range 4 {
			for i := r0; i < r0+done; i++ {
				want := dotActGo(m.Type)(m.Row(i), xq[j*xstride:j*xstride+ab], nb)
				if got := dst[j*m.Rows+i]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%v %s rows=%d nb=%d vector %d row %d: %v, want %v", m.Type, k.name, m.Rows, nb, j, i, got, want)
				}
			}
		}
	}
}
