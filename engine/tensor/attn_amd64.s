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
DATA attn<>+56(SB)/4, $0xff800000 // -Inf
GLOBL attn<>(SB), RODATA|NOPTR, $60

// padMask<>+2v is the mask of the lanes past the first v of sixteen.
DATA padMask<>+0(SB)/2, $0xffff
DATA padMask<>+2(SB)/2, $0xfffe
DATA padMask<>+4(SB)/2, $0xfffc
DATA padMask<>+6(SB)/2, $0xfff8
DATA padMask<>+8(SB)/2, $0xfff0
DATA padMask<>+10(SB)/2, $0xffe0
DATA padMask<>+12(SB)/2, $0xffc0
DATA padMask<>+14(SB)/2, $0xff80
DATA padMask<>+16(SB)/2, $0xff00
DATA padMask<>+18(SB)/2, $0xfe00
DATA padMask<>+20(SB)/2, $0xfc00
DATA padMask<>+22(SB)/2, $0xf800
DATA padMask<>+24(SB)/2, $0xf000
DATA padMask<>+26(SB)/2, $0xe000
DATA padMask<>+28(SB)/2, $0xc000
DATA padMask<>+30(SB)/2, $0x8000
GLOBL padMask<>(SB), RODATA|NOPTR, $32

// func attnScoresAVX512(sc *float32, q *float32, kt *float32, hd, n, np int, scale float32)
// sc[j] = (Σ_d q[d]·kt[d·np+j])·scale, sixteen keys per pass, the sum a
// chain of VFMADD231PS over d from 0; -Inf for the padding keys j >= n,
// set in the register (a scalar store into the vector would stall the
// softmax's load of it).
TEXT ·attnScoresAVX512(SB), NOSPLIT, $0-52
	MOVQ         sc+0(FP), DX
	MOVQ         q+8(FP), SI
	MOVQ         kt+16(FP), DI
	MOVQ         hd+24(FP), R8
	MOVQ         n+32(FP), R12
	MOVQ         np+40(FP), R9
	VBROADCASTSS scale+48(FP), Z31
	VBROADCASTSS attn<>+56(SB), Z30
	MOVQ         R9, R10
	SHLQ         $2, R10
	XORQ         AX, AX

schunk:
	VXORPS Z0, Z0, Z0
	MOVQ   SI, BX
	LEAQ   (DI)(AX*4), R11
	MOVQ   R8, CX

sdim:
	VBROADCASTSS (BX), Z1
	VFMADD231PS  (R11), Z1, Z0
	ADDQ         $4, BX
	ADDQ         R10, R11
	DECQ         CX
	JNZ          sdim
	VMULPS       Z31, Z0, Z0
	MOVQ         R12, BX
	SUBQ         AX, BX            // keys left
	CMPQ         BX, $16
	JGE          sstore
	LEAQ         padMask<>(SB), R13
	KMOVW        (R13)(BX*2), K1
	VMOVAPS      Z30, K1, Z0

sstore:
	VMOVUPS      Z0, (DX)(AX*4)
	ADDQ         $16, AX
	CMPQ         AX, R9
	JLT          schunk
	VZEROUPPER
	RET

// func softmaxAVX512(sc *float32, np int) float32
// m = max sc; sc[j] = Expf(sc[j]-m), in Expf's float32 operations and
// order (0 below lo); returns their sum, added in sixteen lanes then
// halved (l+8, l+4, l+2, l+1).
TEXT ·softmaxAVX512(SB), NOSPLIT, $0-20
	MOVQ    sc+0(FP), SI
	MOVQ    np+8(FP), CX
	VMOVUPS (SI), Z0
	MOVQ    $16, AX

mloop:
	CMPQ   AX, CX
	JGE    mdone
	VMAXPS (SI)(AX*4), Z0, Z0
	ADDQ   $16, AX
	JMP    mloop

mdone:
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0x4E, X0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0xB1, X0, X1
	VMAXPS        X1, X0, X0
	VBROADCASTSS  X0, Z1       // m
	VBROADCASTSS  attn<>+0(SB), Z16
	VBROADCASTSS  attn<>+4(SB), Z17
	VBROADCASTSS  attn<>+8(SB), Z18
	VBROADCASTSS  attn<>+12(SB), Z19
	VBROADCASTSS  attn<>+16(SB), Z20
	VBROADCASTSS  attn<>+20(SB), Z21
	VBROADCASTSS  attn<>+24(SB), Z22
	VBROADCASTSS  attn<>+28(SB), Z23
	VBROADCASTSS  attn<>+32(SB), Z24
	VBROADCASTSS  attn<>+36(SB), Z25
	VBROADCASTSS  attn<>+40(SB), Z26
	VBROADCASTSS  attn<>+44(SB), Z27
	VBROADCASTSS  attn<>+48(SB), Z28
	VPBROADCASTD  attn<>+52(SB), Z29
	VXORPS        Z2, Z2, Z2   // the sum's lanes
	XORQ          AX, AX

eloop:
	VMOVUPS    (SI)(AX*4), Z3
	VSUBPS     Z1, Z3, Z3      // x = s - m
	VMULPS     Z18, Z3, Z5     // fn = x·log2e
	VANDPS     Z16, Z5, Z6
	VORPS      Z17, Z6, Z6
	VADDPS     Z6, Z5, Z5      // fn ± 0.5
	VCVTTPS2DQ Z5, Z5          // n
	VCVTDQ2PS  Z5, Z6          // float32(n)
	VMULPS     Z19, Z6, Z7
	VSUBPS     Z7, Z3, Z7      // x - n·ln2hi
	VMULPS     Z20, Z6, Z8
	VSUBPS     Z8, Z7, Z7      // r
	VMULPS     Z21, Z7, Z8
	VADDPS     Z22, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z23, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z24, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z25, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z26, Z8, Z8     // p
	VMULPS     Z7, Z8, Z8
	VMULPS     Z7, Z8, Z8
	VADDPS     Z7, Z8, Z8
	VADDPS     Z27, Z8, Z8     // y = p·r·r + r + 1
	VPADDD     Z29, Z5, Z5
	VPSLLD     $23, Z5, Z5
	VMULPS     Z5, Z8, Z8      // y·2^n
	VCMPPS     $0x11, Z28, Z3, K1 // x < lo (padding keys: -Inf)
	VXORPS     Z8, Z8, K1, Z8
	VMOVUPS    Z8, (SI)(AX*4)
	VADDPS     Z8, Z2, Z2
	ADDQ       $16, AX
	CMPQ       AX, CX
	JLT        eloop

	VEXTRACTF64X4 $1, Z2, Y0
	VADDPS        Y0, Y2, Y2
	VEXTRACTF128  $1, Y2, X0
	VADDPS        X0, X2, X2
	VPERMILPS     $0x4E, X2, X0
	VADDPS        X0, X2, X2
	VPERMILPS     $0xB1, X2, X0
	VADDPS        X0, X2, X2
	VMOVSS        X2, ret+16(FP)
	VZEROUPPER
	RET

// func attnPVAVX512(out *float32, p *float32, v *float32, n, stride, hd int, inv float32)
// out[d] = (Σ_j p[j]·v[j·stride+d])·inv, sixteen columns per pass, the
// sum a chain of VFMADD231PS over j from 0.
TEXT ·attnPVAVX512(SB), NOSPLIT, $0-52
	MOVQ         out+0(FP), DX
	MOVQ         p+8(FP), SI
	MOVQ         v+16(FP), DI
	MOVQ         n+24(FP), R8
	MOVQ         stride+32(FP), R9
	SHLQ         $2, R9
	MOVQ         hd+40(FP), R10
	VBROADCASTSS inv+48(FP), Z31
	XORQ         AX, AX

pcol:
	VXORPS Z0, Z0, Z0
	MOVQ   SI, BX
	LEAQ   (DI)(AX*4), R11
	MOVQ   R8, CX

prow:
	VBROADCASTSS (BX), Z1
	VFMADD231PS  (R11), Z1, Z0
	ADDQ         $4, BX
	ADDQ         R9, R11
	DECQ         CX
	JNZ          prow
	VMULPS       Z31, Z0, Z0
	VMOVUPS      Z0, (DX)(AX*4)
	ADDQ         $16, AX
	CMPQ         AX, R10
	JLT          pcol
	VZEROUPPER
	RET
