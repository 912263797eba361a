//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// haveGEMM512 says whether the CPU runs the AVX-512 GEMM kernels
// (gemm_amd64.s); it is fixed at start-up. Without it, the float ones
// run with AVX2 (haveGEMMFloat).
var haveGEMM512 = haveAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// haveGEMMFloat says whether the CPU runs float GEMM kernels: AVX-512, or
// AVX2 with FMA and F16C.
var haveGEMMFloat = haveAVX2

//go:noescape
func gemmF32x14AVX512(panel *byte, x *float32, xstride, cols int, bias *float32, out *float32, ldd, nv, add int)

//go:noescape
func gemmF16x14AVX512(panel *byte, x *float32, xstride, cols int, bias *float32, out *float32, ldd, nv, add int)

//go:noescape
func gemmF32x14AVX2(panel *byte, x *float32, xstride, cols int, bias *float32, out *float32, ldd, nv, add int)

//go:noescape
func gemmF16x14AVX2(panel *byte, x *float32, xstride, cols int, bias *float32, out *float32, ldd, nv, add int)

//go:noescape
func gemmQ8x6VNNI(panel *byte, xp *byte, nb int, bias *float32, out *float32, ldd, nv, add int)

//go:noescape
func quantizeQ8GEMMAVX512(x *float32, nb int, dst *byte)

// quantizeQ8GEMM is quantizeQ8GEMMGo, in assembly where the CPU has
// AVX-512.
func quantizeQ8GEMM(dst []byte, x []float32) {
	nb := len(x) / qk8_0
	if !haveGEMM512 || nb == 0 {
		quantizeQ8GEMMGo(dst, x)
		return
	}
	_ = dst[nb*gemmQ8XBlock-1]
	quantizeQ8GEMMAVX512(&x[0], nb, &dst[0])
}

// The GEMM kernels: the assembly where the CPU has AVX-512, else the Go
// twins. Each computes nv vectors (the float ones: rows of x, xstride
// apart, 14 at a time, every block of 14 readable; Q8_0: quantized and
// packed, 6 at a time) times one panel, with the bias, into out[j*ldd:],
// or added to it.
var (
	gemmF32Kernel = pickGEMMFloat(gemmF32x14AVX512, gemmF32x14AVX2, gemmF32Go, 4)
	gemmF16Kernel = pickGEMMFloat(gemmF16x14AVX512, gemmF16x14AVX2, gemmF16Go, 2)
	gemmQ8Kernel  = func() func([]byte, []byte, int, []float32, []float32, int, int, bool) {
		if !haveGEMM512 {
			return gemmQ8Go
		}
		return func(panel, xp []byte, nb int, bias, out []float32, ldd, nv int, add bool) {
			checkGEMM(len(panel) >= nb*gemmQ8Block && len(xp) >= (nv+gemmVQ-1)/gemmVQ*gemmVQ*nb*gemmQ8XBlock, bias, out, ldd, nv)
			if nb == 0 {
				gemmQ8Go(panel, xp, nb, bias, out, ldd, nv, add)
				return
			}
			gemmQ8x6VNNI(&panel[0], &xp[0], nb, &bias[0], &out[0], ldd, nv, b2i(add))
		}
	}()
)

func pickGEMMFloat(asm512, asm2 func(*byte, *float32, int, int, *float32, *float32, int, int, int),
	twin gemmFloatKernel, size int) gemmFloatKernel {
	switch {
	case haveGEMM512:
		return wrapGEMMFloat(asm512, twin, size)
	case haveGEMMFloat:
		return wrapGEMMFloat(asm2, twin, size)
	}
	return twin
}

// wrapGEMMFloat checks a float kernel's arguments and runs it.
func wrapGEMMFloat(asm func(*byte, *float32, int, int, *float32, *float32, int, int, int),
	twin gemmFloatKernel, size int) gemmFloatKernel {
	return func(panel []byte, x []float32, xstride, cols int, bias, out []float32, ldd, nv int, add bool) {
		blocks := (nv + gemmVF - 1) / gemmVF
		checkGEMM(len(panel) >= cols*gemmRows*size && xstride >= cols && nv > 0 &&
			len(x) >= (blocks*gemmVF-1)*xstride+cols, bias, out, ldd, nv)
		if cols == 0 {
			twin(panel, x, xstride, cols, bias, out, ldd, nv, add)
			return
		}
		asm(&panel[0], &x[0], xstride, cols, &bias[0], &out[0], ldd, nv, b2i(add))
	}
}

// checkGEMM guards the assembly's reads and writes.
func checkGEMM(inputs bool, bias, out []float32, ldd, nv int) {
	if !inputs || len(bias) < gemmRows || nv < 1 || ldd < gemmRows || len(out) < (nv-1)*ldd+gemmRows {
		panic("tensor: GEMM kernel arguments out of range")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gemmFloatKernels lists the float kernels of type t this CPU runs (the
// one in use first), for the tests.
func gemmFloatKernels(t Type) []gemmFloatKernel {
	a512, a2, twin, size := gemmF32x14AVX512, gemmF32x14AVX2, gemmF32Go, 4
	if t == F16 {
		a512, a2, twin, size = gemmF16x14AVX512, gemmF16x14AVX2, gemmF16Go, 2
	}
	var ks []gemmFloatKernel
	if haveGEMM512 {
		ks = append(ks, wrapGEMMFloat(a512, twin, size))
	}
	if haveGEMMFloat {
		ks = append(ks, wrapGEMMFloat(a2, twin, size))
	}
	return append(ks, twin)
}
