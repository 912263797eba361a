//go:build amd64 && !purego

#include "textflag.h"

// X4STORE adds each vector's two accumulators (Y0+Y4, Y1+Y5, Y2+Y6,
// Y3+Y7), sums their lanes and stores the four results at out with
// ostride floats between them.
#define HSUM(Y, X) \
	VEXTRACTF128 $1, Y, X8 \
	VADDPS       X8, X, X  \
	VHADDPS      X, X, X   \
	VHADDPS      X, X, X

#define X4STORE \
	MOVQ    out+32(FP), DX     \
	MOVQ    ostride+40(FP), BX \
	SHLQ    $2, BX             \
	VADDPS  Y4, Y0, Y0         \
	VADDPS  Y5, Y1, Y1         \
	VADDPS  Y6, Y2, Y2         \
	VADDPS  Y7, Y3, Y3         \
	HSUM(Y0, X0)               \
	MOVSS   X0, (DX)           \
	ADDQ    BX, DX             \
	HSUM(Y1, X1)               \
	MOVSS   X1, (DX)           \
	ADDQ    BX, DX             \
	HSUM(Y2, X2)               \
	MOVSS   X2, (DX)           \
	ADDQ    BX, DX             \
	HSUM(Y3, X3)               \
	MOVSS   X3, (DX)           \
	VZEROUPPER                 \
	RET


// func dotF32x4AVX2(row *byte, x *float32, stride, ng int, out *float32, ostride int)
// The dot products of one row of 16*ng float32 weights with four vectors,
// stride bytes apart, into out[0], out[ostride], out[2*ostride] and
// out[3*ostride]. Each weight load serves four vectors: a batch's
// products (an encoder's every matrix) read the weights a quarter as often
// as one-vector dot products do. Two accumulators per vector keep eight
// FMA chains in flight.
TEXT ·dotF32x4AVX2(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ stride+16(FP), R8
	MOVQ ng+24(FP), CX
	LEAQ (DI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE    f32done

f32loop:
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y4
	VFMADD231PS (R9), Y8, Y1
	VFMADD231PS 32(R9), Y9, Y5
	VFMADD231PS (R10), Y8, Y2
	VFMADD231PS 32(R10), Y9, Y6
	VFMADD231PS (R11), Y8, Y3
	VFMADD231PS 32(R11), Y9, Y7
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R9
	ADDQ        $64, R10
	ADDQ        $64, R11
	DECQ        CX
	JNE         f32loop

f32done:
	X4STORE

// func dotF16x4AVX2(row *byte, x *float32, stride, ng int, out *float32, ostride int)
// dotF32x4AVX2 for a row of float16 weights: each group of 16 is converted
// once (VCVTPH2PS) for the four vectors.
TEXT ·dotF16x4AVX2(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ stride+16(FP), R8
	MOVQ ng+24(FP), CX
	LEAQ (DI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE    f16done

f16loop:
	VCVTPH2PS   (SI), Y8
	VCVTPH2PS   16(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y4
	VFMADD231PS (R9), Y8, Y1
	VFMADD231PS 32(R9), Y9, Y5
	VFMADD231PS (R10), Y8, Y2
	VFMADD231PS 32(R10), Y9, Y6
	VFMADD231PS (R11), Y8, Y3
	VFMADD231PS 32(R11), Y9, Y7
	ADDQ        $32, SI
	ADDQ        $64, DI
	ADDQ        $64, R9
	ADDQ        $64, R10
	ADDQ        $64, R11
	DECQ        CX
	JNE         f16loop

f16done:
	X4STORE

