//go:build !amd64 || purego

package tensor

// The GEMM kernels are the Go twins where there is no assembly.
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
