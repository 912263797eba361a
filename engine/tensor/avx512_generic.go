//go:build !amd64 || purego

package tensor

// Without the AVX-512 assembly (gemm_amd64.s, gelu_amd64.s, attn_amd64.s,
// norm_amd64.s) every kernel is its Go twin: PackGEMM declines, and the
// tests reach the GEMM twins through packGEMM.
const (
	haveGEMM512   = false
	haveGEMMFloat = false
)

var (
	gemmF32Kernel = gemmF32Go
	gemmF16Kernel = gemmF16Go
	gemmQ8Kernel  = gemmQ8Go
)

func geluArch([]float32) int { return 0 }

func quantizeQ8GEMM(dst []byte, x []float32) { quantizeQ8GEMMGo(dst, x) }

func useAttnArch(int) bool { return false }

var attnBlockArch = attnBlockGo

func layerNormArch(_, _, _, _ []float32, _ float32) bool { return false }

func gemmFloatKernels(t Type) []gemmFloatKernel {
	if t == F16 {
		return []gemmFloatKernel{gemmF16Go}
	}
	return []gemmFloatKernel{gemmF32Go}
}

func quantizeQ8_0Arch([]byte, []float32) bool { return false }

func quantizeQ8KArch([]byte, []float32) bool { return false }
