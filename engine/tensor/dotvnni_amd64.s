//go:build amd64 && !purego

#include "textflag.h"
#include "act_amd64.h"

// AVX-512 VNNI kernels for Q8_0 weights with Q8_0 activations:
// the AVX2 kernels (dotact_amd64.s) with each block's integer sums made by
// VPDPBUSD on 256-bit registers, which sums four byte products into an
// int32 in one instruction where AVX2 needs VPMADDUBSW and VPMADDWD. The
// sums are the same exact integers and the float operations are the AVX2
// kernels', in their order: the same bits. (Two blocks per 512-bit
// register measured 10-15% slower on Zen 4, which splits 512-bit
// operations in two, for the extra shuffles.)
//
// VPDPBUSD multiplies unsigned bytes by signed ones: Q8_0 weights enter as
// |w| against a·sign w. (Q4_0 runs the repacked AVX2 kernel, whose float
// operations are llama.cpp's, on every AVX2 machine.)

// Y6 = the 8 int32 sums of four products of the signed bytes in Y2 (w)
// and Y3 (a).
#define MULSUMV \
	VPSIGNB  Y2, Y2, Y4 \
	VPSIGNB  Y2, Y3, Y5 \
	VPXOR    Y6, Y6, Y6 \
	VPDPBUSD Y5, Y4, Y6

// acc += d · float(Y6), with d = X1[0].
#define ACCUM(ACC) \
	VBROADCASTSS X1, Y1     \
	VCVTDQ2PS    Y6, Y6     \
	VMULPS       Y1, Y6, Y6 \
	VADDPS       Y6, ACC, ACC

// Four activation vectors (DI, R8, R9, R10) per weight row, as the AVX2
// four-vector kernels: the weights' values (Y2), magnitudes (Y3) and scale
// (X1) once, then per vector the activation block at aoff(A) into ACC.
#define X4VECV(A, aoff, ACC) \
	VMOVDQU      aoff+2(A), Y4 \
	VPSIGNB      Y2, Y4, Y4    \
	VPXOR        Y7, Y7, Y7    \
	VPDPBUSD     Y4, Y3, Y7    \
	VCVTDQ2PS    Y7, Y4        \
	VCVTPH2PS    aoff(A), X5   \
	VMULSS       X5, X1, X5    \
	VBROADCASTSS X5, Y5        \
	VMULPS       Y5, Y4, Y4    \
	VADDPS       Y4, ACC, ACC

#define X4VECSV(aoff, A0, A1, A2, A3) \
	X4VECV(DI, aoff, A0)  \
	X4VECV(R8, aoff, A1)  \
	X4VECV(R9, aoff, A2)  \
	X4VECV(R10, aoff, A3)

#define Q80X4BLOCKV(woff, aoff, A0, A1, A2, A3) \
	VCVTPH2PS woff(SI), X1        \
	VMOVDQU   woff+2(SI), Y2      \
	VPSIGNB   Y2, Y2, Y3          \
	X4VECSV(aoff, A0, A1, A2, A3)

#define X4PROLOGUEV \
	MOVQ row+0(FP), SI       \
	MOVQ xq+8(FP), DI        \
	MOVQ xstride+16(FP), DX  \
	MOVQ nb+24(FP), CX       \
	MOVQ out+32(FP), BX      \
	MOVQ ostride+40(FP), R11 \
	SHLQ $2, R11             \
	LEAQ (DI)(DX*1), R8      \
	LEAQ (R8)(DX*1), R9      \
	LEAQ (R9)(DX*1), R10     \
	VXORPS Y8, Y8, Y8        \
	VXORPS Y9, Y9, Y9        \
	VXORPS Y10, Y10, Y10     \
	VXORPS Y11, Y11, Y11     \
	VXORPS Y12, Y12, Y12     \
	VXORPS Y13, Y13, Y13     \
	VXORPS Y14, Y14, Y14     \
	VXORPS Y15, Y15, Y15

// Stores hsum8(EVEN+ODD) at (BX) and steps BX to the next output.
#define STOREV(EVEN, ODD) \
	VADDPS ODD, EVEN, Y0 \
	HSUM8                \
	VMOVSS X0, (BX)      \
	ADDQ   R11, BX

#define X4EPILOGUEV \
	STOREV(Y8, Y9)   \
	STOREV(Y10, Y11) \
	STOREV(Y12, Y13) \
	STOREV(Y14, Y15) \
	VZEROUPPER       \
	RET

// Blocks alternate between Y0 (even) and Y10 (odd), as in the AVX2 and Go
// kernels.

// func dotQ8_0ActVNNI(row, xq *byte, nb int) float32
TEXT ·dotQ8_0ActVNNI(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	CMPQ CX, $2
	JL   q80vtail

q80vloop:
	DPROD((SI), (DI))
	VMOVDQU 2(SI), Y2
	VMOVDQU 2(DI), Y3
	MULSUMV
	ACCUM(Y0)
	DPROD(34(SI), 34(DI))
	VMOVDQU 36(SI), Y2
	VMOVDQU 36(DI), Y3
	MULSUMV
	ACCUM(Y10)
	ADDQ $68, SI
	ADDQ $68, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q80vloop

q80vtail:
	TESTQ CX, CX
	JE    q80vdone
	DPROD((SI), (DI))
	VMOVDQU 2(SI), Y2
	VMOVDQU 2(DI), Y3
	MULSUMV
	ACCUM(Y0)

q80vdone:
	VADDPS Y10, Y0, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotQ8_0ActVNNIx4(row, xq *byte, xstride, nb int, out *float32, ostride int)
TEXT ·dotQ8_0ActVNNIx4(SB), NOSPLIT, $0-48
	X4PROLOGUEV
	CMPQ CX, $2
	JL   q80vx4tail

q80vx4loop:
	Q80X4BLOCKV(0, 0, Y8, Y10, Y12, Y14)
	Q80X4BLOCKV(34, 34, Y9, Y11, Y13, Y15)
	ADDQ $68, SI
	ADDQ $68, DI
	ADDQ $68, R8
	ADDQ $68, R9
	ADDQ $68, R10
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q80vx4loop

q80vx4tail:
	TESTQ CX, CX
	JE    q80vx4done
	Q80X4BLOCKV(0, 0, Y8, Y10, Y12, Y14)

q80vx4done:
	X4EPILOGUEV
