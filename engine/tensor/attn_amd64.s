//go:build amd64 && !purego

#include "textflag.h"

// The attention kernels of AttendSeq (attn.go), AVX-512, with their Go
// twins' float32 operations in the same order.

// Constants of Expf (swiglu.go), float32.
DATA attn<>+0(SB)/4, $0x80000000  // sign
DATA attn<>+4(SB)/4, $0x3f000000  // half
DATA attn<>+8(SB)/4, $0x3fb8aa3b  // log2e
DATA attn<>+12(SB)/4, $0x3f318000 // ln2hi
DATA attn<>+16(SB)/4, $0xb95e8083 // ln2lo
DATA attn<>+20(SB)/4, $0x39506967 // c0
DATA attn<>+24(SB)/4, $0x3ab743ce // c1
DATA attn<>+28(SB)/4, $0x3c088908 // c2
DATA attn<>+32(SB)/4, $0x3d2aa9c1 // c3
DATA attn<>+36(SB)/4, $0x3e2aaaaa // c4
DATA attn<>+40(SB)/4, $0x3f000000 // c5
DATA attn<>+44(SB)/4, $0x3f800000 // one
DATA attn<>+48(SB)/4, $0xc2aeac4f // lo: Expf is 0 below
DATA attn<>+52(SB)/4, $0x0000007f // bias
GLOBL attn<>(SB), RODATA|NOPTR, $56


// func attnBlockAVX512(out, qt, k, v, p *float32, n, nq, hd, stride, ostride int, scale float32)
// attnBlockGo: sixteen queries, one per lane, transposed in qt, over the n
// keys and values (rows of stride floats), into out (rows of ostride); hd
// a multiple of 16.
TEXT ·attnBlockAVX512(SB), NOSPLIT, $0-84
	MOVQ         qt+8(FP), SI
	MOVQ         k+16(FP), BX
	MOVQ         v+24(FP), R8
	MOVQ         p+32(FP), R9
	MOVQ         n+40(FP), R10
	MOVQ         hd+56(FP), R11
	MOVQ         stride+64(FP), R12
	SHLQ         $2, R12                // row bytes
	VBROADCASTSS scale+80(FP), Z31

	// Scores, two keys per pass over the head's elements: p[j] =
	// (Σ_d qt[d]·k_j[d])·scale.
	MOVQ R9, DI                         // p_j
	MOVQ R10, AX                        // keys left

spair:
	CMPQ   AX, $2
	JLT    ssingle
	LEAQ   (BX)(R12*1), R13             // k_j+1
	VXORPS Z0, Z0, Z0
	VXORPS Z2, Z2, Z2
	MOVQ   SI, CX
	XORQ   DX, DX

sdim2:
	VMOVUPS      (CX), Z3
	VBROADCASTSS (BX)(DX*4), Z1
	VFMADD231PS  Z3, Z1, Z0
	VBROADCASTSS (R13)(DX*4), Z4
	VFMADD231PS  Z3, Z4, Z2
	ADDQ         $64, CX
	INCQ         DX
	CMPQ         DX, R11
	JLT          sdim2
	VMULPS       Z31, Z0, Z0
	VMULPS       Z31, Z2, Z2
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z2, 64(DI)
	LEAQ         (R13)(R12*1), BX
	ADDQ         $128, DI
	SUBQ         $2, AX
	JMP          spair

ssingle:
	TESTQ  AX, AX
	JZ     smax
	VXORPS Z0, Z0, Z0
	MOVQ   SI, CX
	XORQ   DX, DX

sdim1:
	VBROADCASTSS (BX)(DX*4), Z1
	VFMADD231PS  (CX), Z1, Z0
	ADDQ         $64, CX
	INCQ         DX
	CMPQ         DX, R11
	JLT          sdim1
	VMULPS       Z31, Z0, Z0
	VMOVUPS      Z0, (DI)

	// Softmax lane by lane: m, p_j = Expf(p_j - m) (0 below lo), their
	// sum in key order, inv = 1/sum after the n rows.
smax:
	VMOVUPS (R9), Z0
	LEAQ    64(R9), CX
	MOVQ    R10, AX
	DECQ    AX
	JZ      mdone

mloop:
	VMAXPS (CX), Z0, Z0
	ADDQ   $64, CX
	DECQ   AX
	JNZ    mloop

mdone:
	VBROADCASTSS attn<>+0(SB), Z16
	VBROADCASTSS attn<>+4(SB), Z17
	VBROADCASTSS attn<>+8(SB), Z18
	VBROADCASTSS attn<>+12(SB), Z19
	VBROADCASTSS attn<>+16(SB), Z20
	VBROADCASTSS attn<>+20(SB), Z21
	VBROADCASTSS attn<>+24(SB), Z22
	VBROADCASTSS attn<>+28(SB), Z23
	VBROADCASTSS attn<>+32(SB), Z24
	VBROADCASTSS attn<>+36(SB), Z25
	VBROADCASTSS attn<>+40(SB), Z26
	VBROADCASTSS attn<>+44(SB), Z27
	VBROADCASTSS attn<>+48(SB), Z28
	VPBROADCASTD attn<>+52(SB), Z29
	VXORPS       Z2, Z2, Z2             // sum
	MOVQ         R9, CX
	MOVQ         R10, AX

eloop:
	VMOVUPS    (CX), Z3
	VSUBPS     Z0, Z3, Z3               // x = s - m
	VMULPS     Z18, Z3, Z5              // fn = x·log2e
	VANDPS     Z16, Z5, Z6
	VORPS      Z17, Z6, Z6
	VADDPS     Z6, Z5, Z5               // fn ± 0.5
	VCVTTPS2DQ Z5, Z5                   // n
	VCVTDQ2PS  Z5, Z6                   // float32(n)
	VMULPS     Z19, Z6, Z7
	VSUBPS     Z7, Z3, Z7               // x - n·ln2hi
	VMULPS     Z20, Z6, Z8
	VSUBPS     Z8, Z7, Z7               // r
	VMULPS     Z21, Z7, Z8
	VADDPS     Z22, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z23, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z24, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z25, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z26, Z8, Z8              // p
	VMULPS     Z7, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z7, Z8, Z8
	VADDPS     Z27, Z8, Z8              // y = p·r·r + r + 1
	VPADDD     Z29, Z5, Z5
	VPSLLD     $23, Z5, Z5
	VMULPS     Z5, Z8, Z8               // y·2^n
	VCMPPS     $0x11, Z28, Z3, K1       // x < lo
	VXORPS     Z8, Z8, K1, Z8
	VMOVUPS    Z8, (CX)
	VADDPS     Z8, Z2, Z2
	ADDQ       $64, CX
	DECQ       AX
	JNZ        eloop
	VDIVPS     Z2, Z27, Z2              // inv = 1/sum
	VMOVUPS    Z2, (CX)

	// out_i = (Σ_j p_j[i]·v_j)·inv[i], sixteen columns per chain.
	MOVQ out+0(FP), DX
	MOVQ nq+48(FP), AX
	SHLQ $2, ostride+72(FP)             // in bytes
	MOVQ R9, SI                         // p_0[i]
	MOVQ CX, R13                        // inv[i]
	SHLQ $2, R11                        // hd in bytes

pq:
	VBROADCASTSS (R13), Z30
	XORQ         BX, BX

pc:
	VXORPS Z0, Z0, Z0
	MOVQ   SI, CX
	LEAQ   (R8)(BX*1), DI
	MOVQ   R10, R9

pj:
	VBROADCASTSS (CX), Z1
	VFMADD231PS  (DI), Z1, Z0
	ADDQ         $64, CX
	ADDQ         R12, DI
	DECQ         R9
	JNZ          pj
	VMULPS       Z30, Z0, Z0
	VMOVUPS      Z0, (DX)(BX*1)
	ADDQ         $64, BX
	CMPQ         BX, R11
	JLT          pc
	ADDQ         ostride+72(FP), DX
	ADDQ         $4, SI
	ADDQ         $4, R13
	DECQ         AX
	JNZ          pq
	VZEROUPPER
	RET
