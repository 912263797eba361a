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

// SIGNADD adds the value in Y12 to acc in the lanes whose mask bit
// (Y13 shifted by the counts at shifts into the sign bit, Y15) is clear
// and subtracts it where it is set (Y14 is scratch).
#define SIGNADD(shifts, acc) \
	VPSLLVD shifts, Y13, Y14; \
	VPAND   Y15, Y14, Y14;    \
	VXORPS  Y12, Y14, Y14;    \
	VADDPS  Y14, acc, acc

// SIGNBLEND is SIGNADD with the negated value at hand (Y15): the shifted
// mask's sign bit picks the value or its negation, one instruction for
// SIGNADD's two (the same bits: the negation flips the sign bit only).
#define SIGNBLEND(shifts, acc) \
	VPSLLVD   shifts, Y13, Y14;    \
	VBLENDVPS Y14, Y15, Y12, Y14; \
	VADDPS    Y14, acc, acc

// func signedSums3AVX2(sums *[3][32]float32, m0, m1, m2 *uint32, idx *int32, val *float32, n int)
// signedSumsAVX2 under three sets of masks at once: each coordinate's
// index and value are loaded once for the 96 sums, whose shift counts are
// read from memory (the 12 sums, the value and its negation, the mask and
// a scratch register take all 16).
TEXT ·signedSums3AVX2(SB), NOSPLIT, $0-56
	MOVQ sums+0(FP), DI
	MOVQ m0+8(FP), SI
	MOVQ m1+16(FP), DX
	MOVQ m2+24(FP), R10
	MOVQ idx+32(FP), R8
	MOVQ val+40(FP), R9
	MOVQ n+48(FP), CX
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	VMOVUPS 256(DI), Y8
	VMOVUPS 288(DI), Y9
	VMOVUPS 320(DI), Y10
	VMOVUPS 352(DI), Y11

s3loop:
	TESTQ CX, CX
	JZ    s3done
	MOVLQSX (R8), AX
	VBROADCASTSS (R9), Y12
	VXORPS signBits<>+0(SB), Y12, Y15
	VPBROADCASTD (SI)(AX*4), Y13
	SIGNBLEND(signShifts<>+0(SB), Y0)
	SIGNBLEND(signShifts<>+32(SB), Y1)
	SIGNBLEND(signShifts<>+64(SB), Y2)
	SIGNBLEND(signShifts<>+96(SB), Y3)
	VPBROADCASTD (DX)(AX*4), Y13
	SIGNBLEND(signShifts<>+0(SB), Y4)
	SIGNBLEND(signShifts<>+32(SB), Y5)
	SIGNBLEND(signShifts<>+64(SB), Y6)
	SIGNBLEND(signShifts<>+96(SB), Y7)
	VPBROADCASTD (R10)(AX*4), Y13
	SIGNBLEND(signShifts<>+0(SB), Y8)
	SIGNBLEND(signShifts<>+32(SB), Y9)
	SIGNBLEND(signShifts<>+64(SB), Y10)
	SIGNBLEND(signShifts<>+96(SB), Y11)
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JMP  s3loop

s3done:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VMOVUPS Y8, 256(DI)
	VMOVUPS Y9, 288(DI)
	VMOVUPS Y10, 320(DI)
	VMOVUPS Y11, 352(DI)
	VZEROUPPER
	RET

// Lane j of group g (planes 8g+j) moves bit 8g+j of a mask to the sign bit.
DATA signShifts<>+0(SB)/4, $31
DATA signShifts<>+4(SB)/4, $30
DATA signShifts<>+8(SB)/4, $29
DATA signShifts<>+12(SB)/4, $28
DATA signShifts<>+16(SB)/4, $27
DATA signShifts<>+20(SB)/4, $26
DATA signShifts<>+24(SB)/4, $25
DATA signShifts<>+28(SB)/4, $24
DATA signShifts<>+32(SB)/4, $23
DATA signShifts<>+36(SB)/4, $22
DATA signShifts<>+40(SB)/4, $21
DATA signShifts<>+44(SB)/4, $20
DATA signShifts<>+48(SB)/4, $19
DATA signShifts<>+52(SB)/4, $18
DATA signShifts<>+56(SB)/4, $17
DATA signShifts<>+60(SB)/4, $16
DATA signShifts<>+64(SB)/4, $15
DATA signShifts<>+68(SB)/4, $14
DATA signShifts<>+72(SB)/4, $13
DATA signShifts<>+76(SB)/4, $12
DATA signShifts<>+80(SB)/4, $11
DATA signShifts<>+84(SB)/4, $10
DATA signShifts<>+88(SB)/4, $9
DATA signShifts<>+92(SB)/4, $8
DATA signShifts<>+96(SB)/4, $7
DATA signShifts<>+100(SB)/4, $6
DATA signShifts<>+104(SB)/4, $5
DATA signShifts<>+108(SB)/4, $4
DATA signShifts<>+112(SB)/4, $3
DATA signShifts<>+116(SB)/4, $2
DATA signShifts<>+120(SB)/4, $1
DATA signShifts<>+124(SB)/4, $0
GLOBL signShifts<>(SB), RODATA|NOPTR, $128

DATA signBit<>+0(SB)/4, $0x80000000
GLOBL signBit<>(SB), RODATA|NOPTR, $4

DATA signBits<>+0(SB)/4, $0x80000000
DATA signBits<>+4(SB)/4, $0x80000000
DATA signBits<>+8(SB)/4, $0x80000000
DATA signBits<>+12(SB)/4, $0x80000000
DATA signBits<>+16(SB)/4, $0x80000000
DATA signBits<>+20(SB)/4, $0x80000000
DATA signBits<>+24(SB)/4, $0x80000000
DATA signBits<>+28(SB)/4, $0x80000000
GLOBL signBits<>(SB), RODATA|NOPTR, $32

// func signedSumsAVX2(sums *[32]float32, masks *uint32, idx *int32, val *float32, n int)
// Per coordinate: broadcast its mask and value, shift each plane's bit to
// the sign bit, flip the value's sign by it and add (no multiply, no FMA:
// the sums are those of the scalar code).
TEXT ·signedSumsAVX2(SB), NOSPLIT, $0-40
	MOVQ sums+0(FP), DI
	MOVQ masks+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ val+24(FP), R9
	MOVQ n+32(FP), CX
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVDQU signShifts<>+0(SB), Y4
	VMOVDQU signShifts<>+32(SB), Y5
	VMOVDQU signShifts<>+64(SB), Y6
	VMOVDQU signShifts<>+96(SB), Y7
	VPBROADCASTD signBit<>+0(SB), Y8

sloop:
	TESTQ CX, CX
	JZ    sdone
	MOVLQSX (R8), AX
	VPBROADCASTD (SI)(AX*4), Y9
	VBROADCASTSS (R9), Y10
	VPSLLVD Y4, Y9, Y11
	VPAND   Y8, Y11, Y11
	VXORPS  Y10, Y11, Y11
	VADDPS  Y11, Y0, Y0
	VPSLLVD Y5, Y9, Y12
	VPAND   Y8, Y12, Y12
	VXORPS  Y10, Y12, Y12
	VADDPS  Y12, Y1, Y1
	VPSLLVD Y6, Y9, Y13
	VPAND   Y8, Y13, Y13
	VXORPS  Y10, Y13, Y13
	VADDPS  Y13, Y2, Y2
	VPSLLVD Y7, Y9, Y14
	VPAND   Y8, Y14, Y14
	VXORPS  Y10, Y14, Y14
	VADDPS  Y14, Y3, Y3
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JMP  sloop

sdone:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

DATA laneIota<>+0(SB)/4, $0
DATA laneIota<>+4(SB)/4, $1
DATA laneIota<>+8(SB)/4, $2
DATA laneIota<>+12(SB)/4, $3
DATA laneIota<>+16(SB)/4, $4
DATA laneIota<>+20(SB)/4, $5
DATA laneIota<>+24(SB)/4, $6
DATA laneIota<>+28(SB)/4, $7
DATA laneIota<>+32(SB)/4, $8
DATA laneIota<>+36(SB)/4, $9
DATA laneIota<>+40(SB)/4, $10
DATA laneIota<>+44(SB)/4, $11
DATA laneIota<>+48(SB)/4, $12
DATA laneIota<>+52(SB)/4, $13
DATA laneIota<>+56(SB)/4, $14
DATA laneIota<>+60(SB)/4, $15
GLOBL laneIota<>(SB), RODATA|NOPTR, $64

// func addScaledRowsAVX2(acc *float32, n int, w *float32, rows *int32, vals *float32, m int)
// Sixteen columns of acc at a time stay in two registers while every row
// adds its sixteen weights times its value (VMULPS, then VADDPS: the
// scalar code's roundings); the last block's lanes past n are masked off
// (masked loads read nothing there, and fault on nothing).
TEXT ·addScaledRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ acc+0(FP), DI
	MOVQ n+8(FP), DX
	MOVQ w+16(FP), SI
	MOVQ rows+24(FP), R8
	MOVQ vals+32(FP), R9
	MOVQ m+40(FP), R10
	MOVQ DX, R11
	SHLQ $2, R11 // row stride in bytes
	XORQ BX, BX  // first column of the block

ablock:
	CMPQ BX, DX
	JGE  adone
	// Lane masks: column BX+i is in when i < n-BX.
	MOVQ DX, AX
	SUBQ BX, AX
	MOVQ AX, X6
	VPBROADCASTD X6, Y6
	VMOVDQU laneIota<>+0(SB), Y7
	VPCMPGTD Y7, Y6, Y4 // lanes 0-7
	VMOVDQU laneIota<>+32(SB), Y7
	VPCMPGTD Y7, Y6, Y5 // lanes 8-15
	LEAQ (DI)(BX*4), R12
	VMASKMOVPS (R12), Y4, Y0
	VMASKMOVPS 32(R12), Y5, Y1
	LEAQ (SI)(BX*4), R13 // column BX of row 0
	XORQ CX, CX

arow:
	CMPQ CX, R10
	JGE  aend
	MOVLQSX (R8)(CX*4), AX
	IMULQ R11, AX
	ADDQ  R13, AX
	VBROADCASTSS (R9)(CX*4), Y2
	VMASKMOVPS (AX), Y4, Y3
	VMULPS Y2, Y3, Y3
	VADDPS Y3, Y0, Y0
	VMASKMOVPS 32(AX), Y5, Y3
	VMULPS Y2, Y3, Y3
	VADDPS Y3, Y1, Y1
	INCQ CX
	JMP  arow

aend:
	VMASKMOVPS Y0, Y4, (R12)
	VMASKMOVPS Y1, Y5, 32(R12)
	ADDQ $16, BX
	JMP  ablock

adone:
	VZEROUPPER
	RET

// func addScaledAVX2(dst, x *float32, a float32, n int)
// dst[i] += x[i]*a for n (a multiple of 8) elements, 16 per step while it
// can; VMULPS then VADDPS, as the scalar code rounds.
TEXT ·addScaledAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	VBROADCASTSS a+16(FP), Y2
	MOVQ n+24(FP), CX

x16:
	CMPQ CX, $16
	JL   x8
	VMULPS (SI), Y2, Y0
	VMULPS 32(SI), Y2, Y1
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  x16

x8:
	TESTQ CX, CX
	JZ    xdone
	VMULPS (SI), Y2, Y0
	VADDPS (DI), Y0, Y0
	VMOVUPS Y0, (DI)

xdone:
	VZEROUPPER
	RET

// func sumSquaresAVX2(v *float32, n int, sums *[4]float64)
// sums[j] += float64(v[i])² over i ≡ j (mod 4), i < n (a multiple of 4),
// in increasing i: lane j of one accumulator is Normalize's scalar sum j,
// bit for bit (a float32's square is exact in float64, so rounding is the
// same with or without FMA). 8 elements per step while it can.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ sums+16(FP), DI
	VMOVUPD (DI), Y0

q8:
	CMPQ CX, $8
	JL   q4
	VCVTPS2PD (SI), Y1
	VCVTPS2PD 16(SI), Y2
	VMULPD Y1, Y1, Y1
	VMULPD Y2, Y2, Y2
	VADDPD Y1, Y0, Y0
	VADDPD Y2, Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  q8

q4:
	TESTQ CX, CX
	JZ    qdone
	VCVTPS2PD (SI), Y1
	VMULPD Y1, Y1, Y1
	VADDPD Y1, Y0, Y0

qdone:
	VMOVUPD Y0, (DI)
	VZEROUPPER
	RET

// func scaleAVX2(v *float32, a float32, n int)
// v[i] *= a for n (a multiple of 8) elements.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	VBROADCASTSS a+8(FP), Y2
	MOVQ n+16(FP), CX

s8:
	TESTQ CX, CX
	JZ    sdone
	VMULPS (SI), Y2, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  s8

sdone:
	VZEROUPPER
	RET
