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



// func attnBlockAVX512(out, q, k, v, qt, p *float32, n, nq, hd, stride, ostride int, scale float32)
// attnBlockGo: up to sixteen queries, one per lane, over the n keys and
// values (rows of stride floats), into out (rows of ostride); hd a
// multiple of 16.
TEXT ·attnBlockAVX512(SB), NOSPLIT, $0-92
	// qt[d] = element d of the nq queries (zeros in the other lanes):
	// sixteen rows of sixteen elements at a time transposed in
	// registers.
	MOVQ q+8(FP), R8
	MOVQ qt+32(FP), DI
	MOVQ stride+72(FP), AX
	SHLQ $2, AX
	MOVQ hd+64(FP), R11
	SHRQ $4, R11

tchunk:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ R8, DX
	MOVQ nq+56(FP), CX
	VMOVUPS (DX), Z0
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z1
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z2
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z3
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z4
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z5
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z6
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z7
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z8
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z9
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z10
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z11
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z12
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z13
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z14
	DECQ CX
	JZ tloaded
	ADDQ AX, DX
	VMOVUPS (DX), Z15
tloaded:
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xdd, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xdd, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xdd, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xdd, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xdd, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xdd, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xdd, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xdd, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xdd, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xdd, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xdd, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xdd, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xdd, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xdd, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xdd, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xdd, Z31, Z23, Z15
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VMOVUPS Z8, 512(DI)
	VMOVUPS Z9, 576(DI)
	VMOVUPS Z10, 640(DI)
	VMOVUPS Z11, 704(DI)
	VMOVUPS Z12, 768(DI)
	VMOVUPS Z13, 832(DI)
	VMOVUPS Z14, 896(DI)
	VMOVUPS Z15, 960(DI)
	ADDQ $1024, DI
	ADDQ $64, R8
	DECQ R11
	JNZ tchunk

	MOVQ         qt+32(FP), SI
	MOVQ         k+16(FP), BX
	MOVQ         v+24(FP), R8
	MOVQ         p+40(FP), R9
	MOVQ         n+48(FP), R10
	MOVQ         hd+64(FP), R11
	MOVQ         stride+72(FP), R12
	SHLQ         $2, R12                // row bytes
	VBROADCASTSS scale+88(FP), Z31

	// Scores, two keys per pass over the head's elements, each a sum over
	// the even elements plus one over the odd ones (two chains): p[j] =
	// (Σ_even qt[d]·k_j[d] + Σ_odd qt[d]·k_j[d])·scale.
	MOVQ R9, DI                         // p_j
	MOVQ R10, AX                        // keys left

spair:
	CMPQ   AX, $2
	JLT    ssingle
	LEAQ   (BX)(R12*1), R13             // k_j+1
	VXORPS Z0, Z0, Z0
	VXORPS Z2, Z2, Z2
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	MOVQ   SI, CX
	XORQ   DX, DX

sdim2:
	VMOVUPS      (CX), Z3
	VMOVUPS      64(CX), Z7
	VBROADCASTSS (BX)(DX*4), Z1
	VFMADD231PS  Z3, Z1, Z0
	VBROADCASTSS (R13)(DX*4), Z4
	VFMADD231PS  Z3, Z4, Z2
	VBROADCASTSS 4(BX)(DX*4), Z1
	VFMADD231PS  Z7, Z1, Z5
	VBROADCASTSS 4(R13)(DX*4), Z4
	VFMADD231PS  Z7, Z4, Z6
	ADDQ         $128, CX
	ADDQ         $2, DX
	CMPQ         DX, R11
	JLT          sdim2
	VADDPS       Z5, Z0, Z0
	VADDPS       Z6, Z2, Z2
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
	VXORPS Z5, Z5, Z5
	MOVQ   SI, CX
	XORQ   DX, DX

sdim1:
	VBROADCASTSS (BX)(DX*4), Z1
	VFMADD231PS  (CX), Z1, Z0
	VBROADCASTSS 4(BX)(DX*4), Z4
	VFMADD231PS  64(CX), Z4, Z5
	ADDQ         $128, CX
	ADDQ         $2, DX
	CMPQ         DX, R11
	JLT          sdim1
	VADDPS       Z5, Z0, Z0
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

	// out_i = (Σ_j p_j[i]·v_j)·inv[i], sixteen columns per chain, two
	// queries (and two chunks of columns where there are) per pass.
	MOVQ out+0(FP), DX
	MOVQ nq+56(FP), AX
	SHLQ $2, ostride+80(FP)             // in bytes
	MOVQ R9, SI                         // p_0[i]
	MOVQ CX, R13                        // inv[i]
	SHLQ $2, R11                        // hd in bytes

pq2:
	CMPQ         AX, $2
	JLT          pq1
	VBROADCASTSS (R13), Z30
	VBROADCASTSS 4(R13), Z29
	XORQ         BX, BX

pc2:
	// Two column chunks per pass while two remain: four chains.
	LEAQ   64(BX), CX
	CMPQ   CX, R11
	JGE    pc2one
	VXORPS Z0, Z0, Z0
	VXORPS Z2, Z2, Z2
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	MOVQ   SI, CX
	LEAQ   (R8)(BX*1), DI
	MOVQ   R10, R9

pj22:
	VMOVUPS      (DI), Z3
	VMOVUPS      64(DI), Z8
	VBROADCASTSS (CX), Z1
	VFMADD231PS  Z3, Z1, Z0
	VFMADD231PS  Z8, Z1, Z9
	VBROADCASTSS 4(CX), Z4
	VFMADD231PS  Z3, Z4, Z2
	VFMADD231PS  Z8, Z4, Z10
	ADDQ         $64, CX
	ADDQ         R12, DI
	DECQ         R9
	JNZ          pj22
	VMULPS       Z30, Z0, Z0
	VMULPS       Z30, Z9, Z9
	VMULPS       Z29, Z2, Z2
	VMULPS       Z29, Z10, Z10
	VMOVUPS      Z0, (DX)(BX*1)
	VMOVUPS      Z9, 64(DX)(BX*1)
	ADDQ         ostride+80(FP), DX
	VMOVUPS      Z2, (DX)(BX*1)
	VMOVUPS      Z10, 64(DX)(BX*1)
	SUBQ         ostride+80(FP), DX
	ADDQ         $128, BX
	CMPQ         BX, R11
	JLT          pc2
	JMP          pq2next

pc2one:
	VXORPS Z0, Z0, Z0
	VXORPS Z2, Z2, Z2
	MOVQ   SI, CX
	LEAQ   (R8)(BX*1), DI
	MOVQ   R10, R9

pj2:
	VMOVUPS      (DI), Z3
	VBROADCASTSS (CX), Z1
	VFMADD231PS  Z3, Z1, Z0
	VBROADCASTSS 4(CX), Z4
	VFMADD231PS  Z3, Z4, Z2
	ADDQ         $64, CX
	ADDQ         R12, DI
	DECQ         R9
	JNZ          pj2
	VMULPS       Z30, Z0, Z0
	VMULPS       Z29, Z2, Z2
	VMOVUPS      Z0, (DX)(BX*1)
	ADDQ         ostride+80(FP), DX
	VMOVUPS      Z2, (DX)(BX*1)
	SUBQ         ostride+80(FP), DX
	ADDQ         $64, BX
	CMPQ         BX, R11
	JLT          pc2

pq2next:
	ADDQ         ostride+80(FP), DX
	ADDQ         ostride+80(FP), DX
	ADDQ         $8, SI
	ADDQ         $8, R13
	SUBQ         $2, AX
	JMP          pq2

pq1:
	TESTQ        AX, AX
	JZ           pdone
	VBROADCASTSS (R13), Z30
	XORQ         BX, BX

pc1:
	VXORPS Z0, Z0, Z0
	MOVQ   SI, CX
	LEAQ   (R8)(BX*1), DI
	MOVQ   R10, R9

pj1:
	VBROADCASTSS (CX), Z1
	VFMADD231PS  (DI), Z1, Z0
	ADDQ         $64, CX
	ADDQ         R12, DI
	DECQ         R9
	JNZ          pj1
	VMULPS       Z30, Z0, Z0
	VMOVUPS      Z0, (DX)(BX*1)
	ADDQ         $64, BX
	CMPQ         BX, R11
	JLT          pc1

pdone:
	VZEROUPPER
	RET
