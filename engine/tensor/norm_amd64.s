//go:build amd64 && !purego

#include "textflag.h"

// SUM16PD adds the sixteen float64 of Z0 and Z1 into X0[0], halving as
// sum16 does (clobbers Z1).
#define SUM16PD \
	VADDPD        Z1, Z0, Z0 \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPD        Y1, Y0, Y0 \
	VEXTRACTF128  $1, Y0, X1 \
	VADDPD        X1, X0, X0 \
	VPERMILPD     $1, X0, X1 \
	VADDSD        X1, X0, X0

// func layerNormAVX512(dst, x, w, b *float32, n int, eps float32)
// layerNormGo for n a positive multiple of 16: the float64 sums in Z0
// (elements 16k..16k+7) and Z1 (16k+8..16k+15), then halved as sum16
// does; no FMA, as the Go.
TEXT ·layerNormAVX512(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ b+24(FP), R9
	MOVQ n+32(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	XORQ AX, AX

sum:
	VCVTPS2PD (SI)(AX*4), Z2
	VCVTPS2PD 32(SI)(AX*4), Z3
	VADDPD    Z2, Z0, Z0
	VADDPD    Z3, Z1, Z1
	ADDQ      $16, AX
	CMPQ      AX, CX
	JLT       sum
	SUM16PD
	VCVTSI2SDQ    CX, X4, X4      // n
	VDIVSD        X4, X0, X5      // mean
	VBROADCASTSD  X5, Z5

	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	XORQ AX, AX

vars:
	VCVTPS2PD (SI)(AX*4), Z2
	VCVTPS2PD 32(SI)(AX*4), Z3
	VSUBPD    Z5, Z2, Z2
	VSUBPD    Z5, Z3, Z3
	VMULPD    Z2, Z2, Z2
	VMULPD    Z3, Z3, Z3
	VADDPD    Z2, Z0, Z0
	VADDPD    Z3, Z1, Z1
	ADDQ      $16, AX
	CMPQ      AX, CX
	JLT       vars
	SUM16PD
	VDIVSD        X4, X0, X0      // var
	VCVTSS2SD     eps+40(FP), X1, X1
	VADDSD        X1, X0, X0
	VSQRTSD       X0, X0, X0
	MOVQ          $0x3ff0000000000000, BX
	VMOVQ         BX, X1
	VDIVSD        X0, X1, X0      // 1/sqrt
	VCVTSD2SS     X0, X0, X0      // scale
	VBROADCASTSS  X0, Z6
	VCVTSD2SS     X5, X5, X5      // m
	VBROADCASTSS  X5, Z5
	XORQ          AX, AX

out:
	VMOVUPS (SI)(AX*4), Z2
	VSUBPS  Z5, Z2, Z2
	VMULPS  Z6, Z2, Z2
	VMULPS  (R8)(AX*4), Z2, Z2
	VADDPS  (R9)(AX*4), Z2, Z2
	VMOVUPS Z2, (DX)(AX*4)
	ADDQ    $16, AX
	CMPQ    AX, CX
	JLT     out
	VZEROUPPER
	RET
