//go:build !amd64 || purego

package tensor

// haveSumsKernel says whether a kernel uses BlockSums (see SumsLen).
const haveSumsKernel = false

func dotQ8_0(row []byte, x []float32) float32 { return dotQ8_0Go(row, x) }

func dotQ4K(row []byte, x []float32) float32 { return dotQ4KGo(row, x) }

func dotQ4_0(row []byte, x []float32) float32 { return dotQ4_0Go(row, x) }

func dotQ6K(row []byte, x []float32) float32 { return dotQ6KGo(row, x) }

func dotF16(row []byte, x []float32) float32 { return dotHalfGo(F16, row, x) }

func dotBF16(row []byte, x []float32) float32 { return dotHalfGo(BF16, row, x) }

func dotQ5_0(row []byte, x []float32) float32 { return dotQ5_0Go(row, x) }

func dotQ5K(row []byte, x []float32) float32 { return dotQ5KGo(row, x) }

func dotQ4_1(row []byte, x []float32) float32 { return dotQ4_1Go(row, x) }

func dotQ5_1(row []byte, x []float32) float32 { return dotQ5_1Go(row, x) }

func loadXorArch(p []byte) uint64 { return loadXorGo(p) }

func axpy(y []float32, a float32, x []float32) { axpyGo(y, a, x) }

func dotQ4KSums(row []byte, x, _ []float32) float32 { return dotQ4KGo(row, x) }

func dot4Func(t Type) dot4Fn { return dot4Go(t) }

func dotRowsArch(Type, []float32, []byte, int, []float32, []float32) bool { return false }

func dotQ8_0Act(row, xq []byte, nb int) float32 { return dotQ8_0ActGo(row, xq, nb) }

func dotQ4_0Act(row, xq []byte, nb int) float32 { return dotQ4_0ActGo(row, xq, nb) }

func dotQ4KAct(row, xq []byte, nb int) float32 { return dotQ4KActGo(row, xq, nb) }

func dotQ5KAct(row, xq []byte, nb int) float32 { return dotQ5KActGo(row, xq, nb) }

func dotQ5_0Act(row, xq []byte, nb int) float32 { return dotQ5_0ActGo(row, xq, nb) }

func dotQ4_1Act(row, xq []byte, nb int) float32 { return dotQ4_1ActGo(row, xq, nb) }

func dotQ5_1Act(row, xq []byte, nb int) float32 { return dotQ5_1ActGo(row, xq, nb) }

func dotQ6KAct(row, xq []byte, nb int) float32 { return dotQ6KActGo(row, xq, nb) }

func dotRowsActArch(Type, []float32, []byte, int, []byte, int) bool { return false }

type dotAct4Fn func(row, xq []byte, xstride, nb int, dst []float32, stride int)

func dotAct4Func(Type) dotAct4Fn { return nil }

// havePacked: without the assembly kernels packed rows would only cost a
// copy.
const havePacked = false

func dotRowsPacked(Type, []byte, int, []float32, int, []byte) int { return 0 }

func dotRowsPackedX4(Type, []byte, int, []float32, int, int, int, []byte, int, []byte) int {
	return 0
}

func packedX4(Type) bool { return false }

func swigluArch([]float32, []float32) int { return 0 }
