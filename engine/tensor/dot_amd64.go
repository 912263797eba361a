//go:build amd64 && !purego

package tensor

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// haveAVX2 selects the assembly kernels; it is fixed at start-up.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// haveSumsKernel says whether a kernel uses BlockSums (see SumsLen).
var haveSumsKernel = haveAVX2

//go:noescape
func dotQ8_0AVX2(row *byte, x *float32, nb int) float32

func dotQ8_0(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ8_0Go(row, x)
	}
	return blocksAVX2(Q8_0, row, x, qk8_0, q8_0Size, dotQ8_0AVX2)
}

// blocksAVX2 checks a quantized row against x and runs kernel over its
// whole blocks.
func blocksAVX2(t Type, row []byte, x []float32, blockElems, blockBytes int, kernel func(row *byte, x *float32, nb int) float32) float32 {
	nb := checkBlocks(t, row, len(x), blockElems, blockBytes)
	if nb == 0 {
		return 0
	}
	return kernel(&row[0], &x[0], nb)
}

//go:noescape
func dotQ4KAVX2(row *byte, x *float32, nb int) float32

//go:noescape
func dotQ4_0AVX2(row *byte, x *float32, nb int) float32

func dotQ4K(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ4KGo(row, x)
	}
	return blocksAVX2(Q4_K, row, x, qkK, q4KSize, dotQ4KAVX2)
}

func dotQ4_0(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ4_0Go(row, x)
	}
	return blocksAVX2(Q4_0, row, x, qk4_0, q4_0Size, dotQ4_0AVX2)
}

//go:noescape
func dotQ6KAVX2(row *byte, x *float32, nb int) float32

//go:noescape
func dotF16AVX2(row *byte, x *float32, n int) float32

//go:noescape
func dotBF16AVX2(row *byte, x *float32, n int) float32

func dotQ6K(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ6KGo(row, x)
	}
	return blocksAVX2(Q6_K, row, x, qkK, q6KSize, dotQ6KAVX2)
}

func dotF16(row []byte, x []float32) float32 {
	n := len(x)
	row = row[:2*n]
	if !haveAVX2 {
		return dotHalfGo(F16, row, x)
	}
	if n < 8 {
		return dotF16Go(row, x)
	}
	m := n &^ 7
	s := dotF16AVX2(&row[0], &x[0], m)
	if m < n {
		s += dotF16Go(row[2*m:], x[m:])
	}
	return s
}

func dotBF16(row []byte, x []float32) float32 {
	n := len(x)
	row = row[:2*n]
	if !haveAVX2 {
		return dotHalfGo(BF16, row, x)
	}
	if n < 8 {
		return dotBF16Go(row, x)
	}
	m := n &^ 7
	s := dotBF16AVX2(&row[0], &x[0], m)
	if m < n {
		s += dotBF16Go(row[2*m:], x[m:])
	}
	return s
}

//go:noescape
func dotQ5KAVX2(row *byte, x *float32, nb int) float32

//go:noescape
func dotQ5_0AVX2(row *byte, x *float32, nb int) float32

func dotQ5K(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ5KGo(row, x)
	}
	return blocksAVX2(Q5_K, row, x, qkK, q5KSize, dotQ5KAVX2)
}

func dotQ5_0(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ5_0Go(row, x)
	}
	return blocksAVX2(Q5_0, row, x, 32, q5_0Size, dotQ5_0AVX2)
}

//go:noescape
func dotQ4_1AVX2(row *byte, x *float32, nb int) float32

//go:noescape
func dotQ5_1AVX2(row *byte, x *float32, nb int) float32

func dotQ4_1(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ4_1Go(row, x)
	}
	return blocksAVX2(Q4_1, row, x, 32, q4_1Size, dotQ4_1AVX2)
}

func dotQ5_1(row []byte, x []float32) float32 {
	if !haveAVX2 {
		return dotQ5_1Go(row, x)
	}
	return blocksAVX2(Q5_1, row, x, 32, q5_1Size, dotQ5_1AVX2)
}

//go:noescape
func loadXorAVX2(p *byte, n int) uint64

func loadXorArch(p []byte) uint64 {
	if !haveAVX2 {
		return loadXorGo(p)
	}
	return loadXorAVX2(&p[0], len(p))
}

//go:noescape
func axpyAVX2(y, x *float32, a float32, n int)

func axpy(y []float32, a float32, x []float32) {
	n := len(y)
	x = x[:n]
	if !haveAVX2 || n < 8 {
		axpyGo(y, a, x)
		return
	}
	m := n &^ 7
	axpyAVX2(&y[0], &x[0], a, m)
	if m < n {
		axpyGo(y[m:], a, x[m:])
	}
}

//go:noescape
func dotQ4KSumsAVX2(row *byte, x, xsum *float32, nb int) float32

func dotQ4KSums(row []byte, x, sums []float32) float32 {
	if !haveAVX2 {
		return dotQ4KGo(row, x)
	}
	nb := checkBlocks(Q4_K, row, len(x), qkK, q4KSize)
	if nb == 0 {
		return 0
	}
	sums = sums[:nb*qkK/32]
	return dotQ4KSumsAVX2(&row[0], &x[0], &sums[0], nb)
}

//go:noescape
func dotQ8_0x4AVX2(row *byte, x *float32, stride, nb int, out *float32, ostride int)

// dot4Func returns the kernel for the dot products of one row with four
// vectors at once, or nil if type t has none.
func dot4Func(t Type) dot4Fn {
	if !haveAVX2 {
		return dot4Go(t)
	}
	switch t {
	case Q8_0:
		return dotQ8_0x4
	case Q4_K:
		return dotQ4Kx4
	case F32:
		return dotF32x4
	case F16:
		return dotF16x4
	}
	return nil
}

//go:noescape
func dotQ4Kx4AVX2(row *byte, x *float32, stride, nb int, out *float32, ostride int)

func dotQ4Kx4(row []byte, x []float32, n int, dst []float32, stride int) {
	nb := checkBlocks(Q4_K, row, n, qkK, q4KSize)
	if nb == 0 {
		dst[0], dst[stride], dst[2*stride], dst[3*stride] = 0, 0, 0, 0
		return
	}
	_ = x[4*n-1]
	_ = dst[3*stride]
	dotQ4Kx4AVX2(&row[0], &x[0], 4*n, nb, &dst[0], stride)
}

func dotQ8_0x4(row []byte, x []float32, n int, dst []float32, stride int) {
	nb := checkBlocks(Q8_0, row, n, qk8_0, q8_0Size)
	if nb == 0 {
		dst[0], dst[stride], dst[2*stride], dst[3*stride] = 0, 0, 0, 0
		return
	}
	_ = x[4*n-1]
	_ = dst[3*stride]
	dotQ8_0x4AVX2(&row[0], &x[0], 4*n, nb, &dst[0], stride)
}

// dotRowsArch is DotRows for the types decoding spends its time in: the
// checks are made once for all the rows and the kernels called directly.
// It reports whether it handled the type.
func dotRowsArch(t Type, dst []float32, data []byte, rb int, x, sums []float32) bool {
	if !haveAVX2 || len(dst) == 0 {
		return false
	}
	switch t {
	case Q8_0:
		nb := checkBlocks(Q8_0, data[:rb], len(x), qk8_0, q8_0Size)
		if nb == 0 {
			return false
		}
		for i := range dst {
			dst[i] = dotQ8_0AVX2(&data[i*rb], &x[0], nb)
		}
		return true
	case Q4_K:
		nb := checkBlocks(Q4_K, data[:rb], len(x), qkK, q4KSize)
		if nb == 0 || len(sums) < nb*qkK/32 {
			return false
		}
		for i := range dst {
			dst[i] = dotQ4KSumsAVX2(&data[i*rb], &x[0], &sums[0], nb)
		}
		return true
	}
	return false
}

//go:noescape
func dotQ8_0ActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ4_0ActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ4KActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ5KActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ5_0ActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ4_1ActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ5_1ActAVX2(row, xq *byte, nb int) float32

//go:noescape
func dotQ6KRowsAVX2(row *byte, rb int, xq *byte, nb int, out *float32, n int)

//go:noescape
func dotQ6KRowsVNNI(row *byte, rb int, xq *byte, nb int, out *float32, n int)

// dotQ6KRows is the Q6_K rows kernel this CPU runs: the VNNI one where it
// has it (the same bits); it is fixed at start-up.
var dotQ6KRows = func() func(row *byte, rb int, xq *byte, nb int, out *float32, n int) {
	if haveVNNI {
		return dotQ6KRowsVNNI
	}
	return dotQ6KRowsAVX2
}()

// dotQ6KActAVX2 and dotQ6KActVNNI are one row of dotQ6KRowsAVX2 and
// dotQ6KRowsVNNI, for the callers that take a one-row kernel.
func dotQ6KActAVX2(row, xq *byte, nb int) float32 {
	var out float32
	dotQ6KRowsAVX2(row, 0, xq, nb, &out, 1)
	return out
}

func dotQ6KActVNNI(row, xq *byte, nb int) float32 {
	var out float32
	dotQ6KRowsVNNI(row, 0, xq, nb, &out, 1)
	return out
}

// actAVX2 checks a row and its activations and runs kernel over nb blocks.
func actAVX2(t Type, row, xq []byte, nb int, kernel func(row, xq *byte, nb int) float32) float32 {
	checkAct(t, row, xq, nb)
	if nb == 0 {
		return 0
	}
	return kernel(&row[0], &xq[0], nb)
}

func dotQ8_0Act(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ8_0ActGo(row, xq, nb)
	}
	return actAVX2(Q8_0, row, xq, nb, dotQ8_0ActAVX2)
}

func dotQ4_0Act(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ4_0ActGo(row, xq, nb)
	}
	return actAVX2(Q4_0, row, xq, nb, dotQ4_0ActAVX2)
}

func dotQ4KAct(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ4KActGo(row, xq, nb)
	}
	return actAVX2(Q4_K, row, xq, nb, dotQ4KActAVX2)
}

func dotQ4_1Act(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ4_1ActGo(row, xq, nb)
	}
	return actAVX2(Q4_1, row, xq, nb, dotQ4_1ActAVX2)
}

func dotQ5_1Act(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ5_1ActGo(row, xq, nb)
	}
	return actAVX2(Q5_1, row, xq, nb, dotQ5_1ActAVX2)
}

func dotQ5_0Act(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ5_0ActGo(row, xq, nb)
	}
	return actAVX2(Q5_0, row, xq, nb, dotQ5_0ActAVX2)
}

func dotQ5KAct(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ5KActGo(row, xq, nb)
	}
	return actAVX2(Q5_K, row, xq, nb, dotQ5KActAVX2)
}

func dotQ6KAct(row, xq []byte, nb int) float32 {
	if !haveAVX2 {
		return dotQ6KActGo(row, xq, nb)
	}
	if haveVNNI {
		return actAVX2(Q6_K, row, xq, nb, dotQ6KActVNNI)
	}
	return actAVX2(Q6_K, row, xq, nb, dotQ6KActAVX2)
}

// dotRowsActArch is DotRowsAct with the checks made once for all the rows
// and the kernels called directly. It reports whether it handled the type.
func dotRowsActArch(t Type, dst []float32, data []byte, rb int, xq []byte, nb int) bool {
	if !haveAVX2 || len(dst) == 0 || nb == 0 {
		return false
	}
	var kernel func(row, xq *byte, nb int) float32
	switch t {
	case Q8_0:
		kernel = dotQ8_0ActAVX2
	case Q4_0:
		kernel = dotQ4_0ActAVX2
	case Q5_0:
		kernel = dotQ5_0ActAVX2
	case Q4_1:
		kernel = dotQ4_1ActAVX2
	case Q5_1:
		kernel = dotQ5_1ActAVX2
	case Q4_K:
		kernel = dotQ4KActAVX2
	case Q5_K:
		kernel = dotQ5KActAVX2
	case Q6_K:
		kernel = dotQ6KActAVX2
	default:
		return false
	}
	checkAct(t, data[:rb], xq, nb)
	_ = data[len(dst)*rb-1]
	if t == Q6_K {
		dotQ6KRows(&data[0], rb, &xq[0], nb, &dst[0], len(dst))
		return true
	}
	for i := range dst {
		dst[i] = kernel(&data[i*rb], &xq[0], nb)
	}
	return true
}

//go:noescape
func dotQ4KActx4AVX2(row, xq *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func dotQ6KActx4AVX2(row, xq *byte, xstride, nb int, out *float32, ostride int)

// dotAct4Fn computes the products of row (nb blocks) with the four
// activation vectors at xq, xq[xstride:], xq[2*xstride:] and
// xq[3*xstride:] into dst[0], dst[stride], dst[2*stride], dst[3*stride],
// with the one-vector kernel's bits.
type dotAct4Fn func(row, xq []byte, xstride, nb int, dst []float32, stride int)

// dotAct4Func returns the four-vector kernel of weight type t, nil if none.
func dotAct4Func(t Type) dotAct4Fn {
	if !haveAVX2 {
		return nil
	}
	var kernel func(row, xq *byte, xstride, nb int, out *float32, ostride int)
	switch t {
	case Q4_K:
		kernel = dotQ4KActx4AVX2
	case Q6_K:
		kernel = dotQ6KActx4AVX2
	default:
		return nil
	}
	return func(row, xq []byte, xstride, nb int, dst []float32, stride int) {
		checkAct(t, row, xq[3*xstride:], nb)
		_ = dst[3*stride]
		kernel(&row[0], &xq[0], xstride, nb, &dst[0], stride)
	}
}

//go:noescape
func dotQ4_0PackedX16AVX2(p *byte, gstride int, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4_0PackedX8AVX2(p *byte, xq *byte, nb int, out *float32)

// havePacked says whether Q4_0 matrices are worth repacking (packQ4_0):
// the kernels that read the packed rows need AVX2.
var havePacked = haveAVX2

//go:noescape
func dotQ8_0PackedX8AVX2(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4KPackedX8AVX2(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ6KPackedX8AVX2(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4_0PackedX16VNNI(p *byte, gstride int, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4_0PackedX8VNNI(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4_0PackedX8x4VNNI(p *byte, xq *byte, xstride int, aux *byte, nb int, out *float32, ostride int)

//go:noescape
func dotQ8_0PackedX8VNNI(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4KPackedX8VNNI(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ6KPackedX8VNNI(p *byte, xq *byte, nb int, out *float32)

//go:noescape
func dotQ4KPackedX8x4VNNI(p *byte, xq *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func dotQ6KPackedX8x4VNNI(p *byte, xq *byte, xstride, nb int, out *float32, ostride int)

// packedKernels are the kernels that read packed rows, for one instruction
// set; every set gives the same bits.
type packedKernels struct {
	name                       string
	q40x16                     func(p *byte, gstride int, xq *byte, nb int, out *float32)
	q40x8, q80x8, q4Kx8, q6Kx8 func(p *byte, xq *byte, nb int, out *float32)
	q40x8x4                    func(p *byte, xq *byte, xstride int, aux *byte, nb int, out *float32, ostride int)
	q4Kx8x4, q6Kx8x4           func(p *byte, xq *byte, xstride, nb int, out *float32, ostride int) // nil: none
}

var (
	packedAVX2 = &packedKernels{"AVX2", dotQ4_0PackedX16AVX2, dotQ4_0PackedX8AVX2, dotQ8_0PackedX8AVX2,
		dotQ4KPackedX8AVX2, dotQ6KPackedX8AVX2, dotQ4_0PackedX8x4AVX2, nil, nil}
	packedVNNI = &packedKernels{"VNNI", dotQ4_0PackedX16VNNI, dotQ4_0PackedX8VNNI, dotQ8_0PackedX8VNNI,
		dotQ4KPackedX8VNNI, dotQ6KPackedX8VNNI, dotQ4_0PackedX8x4VNNI, dotQ4KPackedX8x4VNNI, dotQ6KPackedX8x4VNNI}
)

// haveVNNI says whether the CPU runs the AVX-512 VNNI packed kernels
// (dotvnni_amd64.s); it is fixed at start-up.
var haveVNNI = haveAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// packedSets lists the packed kernel sets this CPU runs, the fastest
// first: the one products use, and the others, which the tests hold to
// it. It is fixed at start-up.
var packedSets = func() []*packedKernels {
	switch {
	case haveVNNI:
		return []*packedKernels{packedVNNI, packedAVX2}
	case havePacked:
		return []*packedKernels{packedAVX2}
	}
	return nil
}()

// dotRowsPacked sets dst[i] for the rows r0+i of a packed matrix of type
// t, r0 a multiple of 8, up to len(dst) rows within the packed ones, with
// the fastest kernels this CPU has: eight rows per kernel call, Q4_0
// sixteen where it can. It returns how many rows it did.
func dotRowsPacked(t Type, packed []byte, nb int, dst []float32, r0 int, xq []byte) int {
	if !havePacked {
		return 0
	}
	return packedSets[0].rows(t, packed, nb, dst, r0, xq)
}

func (k *packedKernels) rows(t Type, packed []byte, nb int, dst []float32, r0 int, xq []byte) int {
	gb := nb * q4PackedBlock // bytes per group of eight rows
	ab := q8_0Size           // activation bytes per block
	kernel8 := k.q40x8
	switch t {
	case Q8_0:
		gb, kernel8 = nb*q8PackedBlock, k.q80x8
	case Q4_K:
		gb, ab, kernel8 = nb*q4KPackedBlock, q8KSize, k.q4Kx8
	case Q6_K:
		gb, ab, kernel8 = nb*q6KPackedBlock, q8KSize, k.q6Kx8
	}
	n := min(len(dst), len(packed)/max(gb, 1)*8-r0) &^ 7
	if n <= 0 || nb == 0 {
		return 0
	}
	if len(xq) < nb*ab {
		panic(fmt.Sprintf("tensor: %d bytes of activations for %d %v blocks", len(xq), nb, t))
	}
	_ = packed[(r0+n)/8*gb-1]
	_ = dst[n-1]
	i := 0
	if t != Q4_0 {
		for ; i < n; i += 8 {
			kernel8(&packed[(r0+i)/8*gb], &xq[0], nb, &dst[i])
		}
		return i
	}
	for ; i+16 <= n; i += 16 {
		k.q40x16(&packed[(r0+i)/8*gb], gb, &xq[0], nb, &dst[i])
	}
	if i < n {
		kernel8(&packed[(r0+i)/8*gb], &xq[0], nb, &dst[i])
		i += 8
	}
	return i
}

//go:noescape
func dotQ4_0PackedX8x4AVX2(p *byte, xq *byte, xstride int, aux *byte, nb int, out *float32, ostride int)

// dotRowsPackedX4 is dotRowsPacked for four vectors at once, xq holding
// them xstride bytes apart, aux their q4x4Aux (Q4_0), and dst their
// results rows apart (vector j's row r0+i at dst[j*rows+i]): Q4_0, and
// Q4_K and Q6_K where the CPU has VNNI (packedX4), eight rows per kernel call,
// each pass over a block of packed rows serving the four vectors, as
// llama.cpp's gemm_q4_0_8x8 does. It returns how many rows it did.
func dotRowsPackedX4(t Type, packed []byte, nb int, dst []float32, rows, n, r0 int, xq []byte, xstride int, aux []byte) int {
	if !havePacked {
		return 0
	}
	return packedSets[0].rowsX4(t, packed, nb, dst, rows, n, r0, xq, xstride, aux)
}

// packedX4 says whether products with packed rows of type t take four
// vectors at a time (dotRowsPackedX4).
func packedX4(t Type) bool {
	return havePacked && packedSets[0].hasX4(t)
}

func (k *packedKernels) hasX4(t Type) bool {
	return t == Q4_0 || t == Q4_K && k.q4Kx8x4 != nil || t == Q6_K && k.q6Kx8x4 != nil
}

func (k *packedKernels) rowsX4(t Type, packed []byte, nb int, dst []float32, rows, n, r0 int, xq []byte, xstride int, aux []byte) int {
	if !k.hasX4(t) || nb == 0 {
		return 0
	}
	gb, ab, kernelK := nb*q4PackedBlock, q8_0Size, k.q4Kx8x4
	switch t {
	case Q4_K:
		gb, ab = nb*q4KPackedBlock, q8KSize
	case Q6_K:
		gb, ab, kernelK = nb*q6KPackedBlock, q8KSize, k.q6Kx8x4
	}
	n = min(n, len(packed)/gb*8-r0) &^ 7
	if n <= 0 {
		return 0
	}
	if xstride < nb*ab || len(xq) < 3*xstride+nb*ab || t == Q4_0 && len(aux) < nb*32 {
		panic(fmt.Sprintf("tensor: %d bytes of activations, %d apart, %d of aux for 4×%d %v blocks", len(xq), xstride, len(aux), nb, t))
	}
	_ = packed[(r0+n)/8*gb-1]
	_ = dst[3*rows+n-1]
	for i := 0; i < n; i += 8 {
		if t != Q4_0 {
			kernelK(&packed[(r0+i)/8*gb], &xq[0], xstride, nb, &dst[i], rows)
			continue
		}
		k.q40x8x4(&packed[(r0+i)/8*gb], &xq[0], xstride, &aux[0], nb, &dst[i], rows)
	}
	return n
}
