//go:build amd64 && !purego

#include "textflag.h"

// func dotAVX2(a, b *float32, n int) float32
// Four 8-wide FMA accumulators over 32 floats per step, then 8 at a time,
// then a scalar tail.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

loop32:
	CMPQ CX, $32
	JL   loop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  loop32

loop8:
	CMPQ CX, $8
	JL   reduce
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

tail:
	CMPQ CX, $0
	JE   done
	VMOVSS (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  tail

done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotBatchAVX2(q *float32, vecs []*float32, dim int, out *float32)
// out[i] = q·vecs[i], prefetching vector i+2 while computing vector i:
// graph search reads vectors scattered over memory, and waiting for each
// one costs more than the arithmetic.
TEXT ·dotBatchAVX2(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), R8
	MOVQ vecs_base+8(FP), R9
	MOVQ vecs_len+16(FP), R10
	MOVQ dim+32(FP), R11
	MOVQ out+40(FP), R12
	MOVQ R11, R14
	SHLQ $2, R14 // bytes per vector
	XORQ R13, R13

	// Prefetch the first two vectors.
	XORQ AX, AX
pfstart:
	CMPQ AX, $2
	JGE  outer
	CMPQ AX, R10
	JGE  outer
	MOVQ (R9)(AX*8), BX
	XORQ DX, DX
pfstartline:
	PREFETCHT0 (BX)(DX*1)
	ADDQ $64, DX
	CMPQ DX, R14
	JL   pfstartline
	INCQ AX
	JMP  pfstart

outer:
	CMPQ R13, R10
	JGE  done
	LEAQ 2(R13), AX
	CMPQ AX, R10
	JGE  compute
	MOVQ (R9)(AX*8), BX
	XORQ DX, DX
pfline:
	PREFETCHT0 (BX)(DX*1)
	ADDQ $64, DX
	CMPQ DX, R14
	JL   pfline

compute:
	MOVQ (R9)(R13*8), DI
	MOVQ R8, SI
	MOVQ R11, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

bloop32:
	CMPQ CX, $32
	JL   bloop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  bloop32

bloop8:
	CMPQ CX, $8
	JL   breduce
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  bloop8

breduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

btail:
	CMPQ CX, $0
	JE   bstore
	VMOVSS (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  btail

bstore:
	MOVSS X0, (R12)(R13*4)
	INCQ R13
	JMP  outer

done:
	VZEROUPPER
	RET
