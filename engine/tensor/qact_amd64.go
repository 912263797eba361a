//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// haveQAct512 says whether the CPU runs the AVX-512 activation quantizers
// (qact_amd64.s).
var haveQAct512 = haveAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW

//go:noescape
func quantizeQ8_0AVX512(x *float32, nb int, dst *byte)

//go:noescape
func quantizeQ8KAVX512(x *float32, nb int, dst *byte)

// quantizeQ8_0Arch is quantizeActQ8_0 for every block of x, in assembly;
// it reports false, doing nothing, where the CPU lacks AVX-512.
func quantizeQ8_0Arch(dst []byte, x []float32) bool {
	nb := len(x) / qk8_0
	if !haveQAct512 || nb == 0 {
		return false
	}
	_ = dst[nb*q8_0Size-1]
	quantizeQ8_0AVX512(&x[0], nb, &dst[0])
	return true
}

// quantizeQ8KArch is quantizeActQ8K for every block of x, as
// quantizeQ8_0Arch.
func quantizeQ8KArch(dst []byte, x []float32) bool {
	nb := len(x) / qkK
	if !haveQAct512 || nb == 0 {
		return false
	}
	_ = dst[nb*q8KSize-1]
	quantizeQ8KAVX512(&x[0], nb, &dst[0])
	return true
}
