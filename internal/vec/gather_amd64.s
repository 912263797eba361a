//go:build amd64 && !purego

#include "textflag.h"

// func gatherDot16AVX2(raw *float32, rawLen int, idx *uint16, val *float32, n int) (sum float32, ok bool)
// GatherDot16's sums: the largest index first (16 per instruction), ok
// false without reading raw when it is out of rawLen; then four scalar
// sums, element k into sum k%4, each product rounded before it is added
// (no fused multiply-add), as the Go loop does.
TEXT ·gatherDot16AVX2(SB), NOSPLIT, $0-45
	MOVQ raw+0(FP), SI
	MOVQ rawLen+8(FP), R11
	MOVQ idx+16(FP), DI
	MOVQ val+24(FP), DX
	MOVQ n+32(FP), CX

	// The largest index: 16 at a time, then the tail one by one.
	VPXOR Y0, Y0, Y0
	XORQ  R8, R8
	MOVQ  CX, R9
	ANDQ  $-16, R9

max16:
	CMPQ     R8, R9
	JGE      maxreduce
	VPMAXUW  (DI)(R8*2), Y0, Y0
	ADDQ     $16, R8
	JMP      max16

maxreduce:
	VEXTRACTI128 $1, Y0, X1
	VPMAXUW      X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPMAXUW      X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPMAXUW      X1, X0, X0
	VPSRLD       $16, X0, X1
	VPMAXUW      X1, X0, X0
	VMOVD        X0, AX
	ANDQ         $0xffff, AX
	VZEROUPPER

maxtail:
	CMPQ    R8, CX
	JGE     check
	MOVWQZX (DI)(R8*2), R10
	CMPQ    R10, AX
	CMOVQHI R10, AX
	INCQ    R8
	JMP     maxtail

check:
	CMPQ AX, R11
	JAE  outofrange

	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	XORQ   R8, R8
	MOVQ   CX, R9
	ANDQ   $-4, R9

dot4:
	CMPQ    R8, R9
	JGE     dottail
	MOVWQZX (DI)(R8*2), R10
	VMOVSS  (DX)(R8*4), X4
	VMULSS  (SI)(R10*4), X4, X4
	VADDSS  X4, X0, X0
	MOVWQZX 2(DI)(R8*2), R10
	VMOVSS  4(DX)(R8*4), X5
	VMULSS  (SI)(R10*4), X5, X5
	VADDSS  X5, X1, X1
	MOVWQZX 4(DI)(R8*2), R10
	VMOVSS  8(DX)(R8*4), X6
	VMULSS  (SI)(R10*4), X6, X6
	VADDSS  X6, X2, X2
	MOVWQZX 6(DI)(R8*2), R10
	VMOVSS  12(DX)(R8*4), X7
	VMULSS  (SI)(R10*4), X7, X7
	VADDSS  X7, X3, X3
	ADDQ    $4, R8
	JMP     dot4

dottail:
	CMPQ    R8, CX
	JGE     done
	MOVWQZX (DI)(R8*2), R10
	VMOVSS  (DX)(R8*4), X4
	VMULSS  (SI)(R10*4), X4, X4
	VADDSS  X4, X0, X0
	INCQ    R8
	JMP     dottail

done:
	VADDSS X1, X0, X0
	VADDSS X3, X2, X2
	VADDSS X2, X0, X0
	VMOVSS X0, sum+40(FP)
	MOVB   $1, ok+44(FP)
	RET

outofrange:
	MOVL $0, sum+40(FP)
	MOVB $0, ok+44(FP)
	RET
