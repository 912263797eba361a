//go:build amd64 && !purego

#include "textflag.h"
#include "act_amd64.h"

// AVX-512 VNNI variants of the packed kernels (dotact_amd64.s), for CPUs
// with AVX512F, VL, BW and VNNI (zen4 and later, Ice Lake and later).
// VPDPBUSD (EVEX, on 256-bit registers: 512-bit ones measured slower on
// zen4, which splits them) adds the four products of unsigned weight
// bytes with signed activation bytes straight to int32 lanes, where AVX2
// needs VPMADDUBSW, VPMADDWD and an add. The AVX2 kernels' int16 sums do
// not saturate, so the int32 sums are the same exact integers; the float
// operations are theirs, so the bits are theirs (and the Go kernels').
// Activation loads broadcast from memory into the VPDPBUSD (.BCST).

// Q4_0, step k of the group at P: SUM (int32) += nibbles · activations at
// DI (elements 4k.., 4k+16..).
#define Q40VSTEP(P, k, T1, T2, SUM) \
	VMOVDQU       (16+32*(k))(P), T1 \
	VPSRLW        $4, T1, T2         \
	VPAND         Y8, T1, T1         \
	VPAND         Y8, T2, T2         \
	VPDPBUSD.BCST (2+4*(k))(DI), T1, SUM \
	VPDPBUSD.BCST (18+4*(k))(DI), T2, SUM

// func dotQ4_0PackedX16VNNI(p *byte, gstride int, xq *byte, nb int, out *float32)
// dotQ4_0PackedX16AVX2 with VPDPBUSD, prefetching as it does (large Q4_0
// decoding 86 → 143 tokens per CPU second; a fixed distance of 8 blocks
// ahead into L1 reached 86 from 70).
TEXT ·dotQ4_0PackedX16VNNI(SB), NOSPLIT, $0-40
	MOVQ p+0(FP), SI
	MOVQ gstride+8(FP), R8
	LEAQ (R8)(R8*1), R9
	ADDQ SI, R8
	MOVQ xq+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVQ out+32(FP), BX
	Q40PCONSTS
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	TESTQ CX, CX
	JE    q40v16done

q40v16loop:
	PREFETCHT1 (SI)(R9*1)
	PREFETCHT1 64(SI)(R9*1)
	PREFETCHT1 128(SI)(R9*1)
	PREFETCHT1 (R8)(R9*1)
	PREFETCHT1 64(R8)(R9*1)
	PREFETCHT1 128(R8)(R9*1)
	VPXOR Y6, Y6, Y6
	VPXOR Y13, Y13, Y13
	Q40VSTEP(SI, 0, Y2, Y3, Y6)
	Q40VSTEP(R8, 0, Y11, Y12, Y13)
	Q40VSTEP(SI, 1, Y2, Y3, Y6)
	Q40VSTEP(R8, 1, Y11, Y12, Y13)
	Q40VSTEP(SI, 2, Y2, Y3, Y6)
	Q40VSTEP(R8, 2, Y11, Y12, Y13)
	Q40VSTEP(SI, 3, Y2, Y3, Y6)
	Q40VSTEP(R8, 3, Y11, Y12, Y13)
	Q40POFFSET
	Q40PACCD(SI, Y6, Y1, Y0)
	Q40PACCD(R8, Y13, Y2, Y10)
	ADDQ $144, SI
	ADDQ $144, R8
	ADDQ $34, DI
	DECQ CX
	JNE  q40v16loop

q40v16done:
	VMOVUPS Y0, (BX)
	VMOVUPS Y10, 32(BX)
	VZEROUPPER
	RET

// func dotQ4_0PackedX8VNNI(p *byte, xq *byte, nb int, out *float32)
// dotQ4_0PackedX8AVX2 with VPDPBUSD.
TEXT ·dotQ4_0PackedX8VNNI(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	Q40PCONSTS
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q40v8done

q40v8loop:
	// Eight blocks ahead (one group is one stream, which the hardware
	// prefetcher follows from call to call).
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	PREFETCHT0 1280(SI)
	VPXOR Y6, Y6, Y6
	Q40VSTEP(SI, 0, Y2, Y3, Y6)
	Q40VSTEP(SI, 1, Y2, Y3, Y6)
	Q40VSTEP(SI, 2, Y2, Y3, Y6)
	Q40VSTEP(SI, 3, Y2, Y3, Y6)
	Q40POFFSET
	Q40PACCD(SI, Y6, Y1, Y0)
	ADDQ $144, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q40v8loop

q40v8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Step k's nibbles (Y11, Y12) times the vector at X into SUM (int32).
#define Q40X4VVEC(k, X, SUM) \
	VPDPBUSD.BCST (2+4*(k))(X), Y11, SUM \
	VPDPBUSD.BCST (18+4*(k))(X), Y12, SUM

#define Q40X4VSTEP(k) \
	Q40X4LOAD(k)          \
	Q40X4VVEC(k, DI, Y4)  \
	Q40X4VVEC(k, R11, Y5) \
	Q40X4VVEC(k, R12, Y6) \
	Q40X4VVEC(k, R13, Y7)

// func dotQ4_0PackedX8x4VNNI(p *byte, xq *byte, xstride int, aux *byte, nb int, out *float32, ostride int)
// dotQ4_0PackedX8x4AVX2 with VPDPBUSD.
TEXT ·dotQ4_0PackedX8x4VNNI(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xstride+16(FP), AX
	MOVQ aux+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ out+40(FP), BX
	MOVQ ostride+48(FP), DX
	LEAQ (DI)(AX*1), R11
	LEAQ (R11)(AX*1), R12
	LEAQ (R12)(AX*1), R13
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JE    q40x4vdone

q40x4vloop:
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	Q40X4VSTEP(0)
	Q40X4VSTEP(1)
	Q40X4VSTEP(2)
	Q40X4VSTEP(3)
	VCVTPH2PS (SI), Y15
	Q40X4ACCD(0, Y4, Y0)
	Q40X4ACCD(1, Y5, Y1)
	Q40X4ACCD(2, Y6, Y2)
	Q40X4ACCD(3, Y7, Y3)
	ADDQ $144, SI
	ADDQ $34, DI
	ADDQ $34, R11
	ADDQ $34, R12
	ADDQ $34, R13
	ADDQ $32, R8
	DECQ CX
	JNE  q40x4vloop

q40x4vdone:
	SHLQ    $2, DX
	VMOVUPS Y0, (BX)
	ADDQ    DX, BX
	VMOVUPS Y1, (BX)
	ADDQ    DX, BX
	VMOVUPS Y2, (BX)
	ADDQ    DX, BX
	VMOVUPS Y3, (BX)
	VZEROUPPER
	RET

// Q8_0, step k: Yk += d · (exact sum of row r's elements 4k..4k+3 times
// the activations), lane r, as Q80PSTEP: the signs moved to the
// activations (VPSIGNB) so that the weights are unsigned. Y13: d.
#define Q80VSTEP(k, ACC) \
	VMOVDQU      (16+32*(k))(SI), Y8 \
	VPBROADCASTD (2+4*(k))(DI), Y9   \
	VPSIGNB      Y8, Y8, Y10         \
	VPSIGNB      Y8, Y9, Y11         \
	VPXOR        Y12, Y12, Y12       \
	VPDPBUSD     Y11, Y10, Y12       \
	VCVTDQ2PS    Y12, Y12            \
	VFMADD231PS  Y12, Y13, ACC

// func dotQ8_0PackedX8VNNI(p *byte, xq *byte, nb int, out *float32)
// dotQ8_0PackedX8AVX2 with VPDPBUSD.
TEXT ·dotQ8_0PackedX8VNNI(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE    q80v8done

q80v8loop:
	// Decoding streams the packed rows from memory: prefetching 16
	// blocks (4352 bytes) ahead, into the next call's group near the end
	// of this one, reads them 6-10% faster than the hardware prefetcher
	// alone (cold 8 MB slices, variants interleaved); same bits.
	PREFETCHT0   4352(SI)
	PREFETCHT0   4416(SI)
	PREFETCHT0   4480(SI)
	PREFETCHT0   4544(SI)
	PREFETCHT0   4608(SI)
	VCVTPH2PS    (SI), Y13
	VPBROADCASTW (DI), X14
	VCVTPH2PS    X14, Y14
	VMULPS       Y14, Y13, Y13
	Q80VSTEP(0, Y0)
	Q80VSTEP(1, Y1)
	Q80VSTEP(2, Y2)
	Q80VSTEP(3, Y3)
	Q80VSTEP(4, Y4)
	Q80VSTEP(5, Y5)
	Q80VSTEP(6, Y6)
	Q80VSTEP(7, Y7)
	ADDQ $272, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q80v8loop

q80v8done:
	// hsum8: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
	VADDPS Y4, Y0, Y0
	VADDPS Y6, Y2, Y2
	VADDPS Y5, Y1, Y1
	VADDPS Y7, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Q4_K, step s of the sub-block pair k: low nibbles against the
// activations 64k+4s.., high ones against 64k+32+4s.., into Y2 and Y3
// (int32).
#define Q4KVSTEP(k, s) \
	VMOVDQU       (160+32*(8*(k)+(s)))(SI), Y4 \
	VPSRLW        $4, Y4, Y5                   \
	VPAND         Y8, Y4, Y4                   \
	VPAND         Y8, Y5, Y5                   \
	VPDPBUSD.BCST (4+64*(k)+4*(s))(DI), Y4, Y2 \
	VPDPBUSD.BCST (36+64*(k)+4*(s))(DI), Y5, Y3

// Sub-blocks 2k and 2k+1: Y1 += sc_2k·Σlo + sc_2k+1·Σhi, the scales
// zero-extended to int32 lanes.
#define Q4KVPAIR(k) \
	VPXOR     Y2, Y2, Y2        \
	VPXOR     Y3, Y3, Y3        \
	Q4KVSTEP(k, 0)              \
	Q4KVSTEP(k, 1)              \
	Q4KVSTEP(k, 2)              \
	Q4KVSTEP(k, 3)              \
	Q4KVSTEP(k, 4)              \
	Q4KVSTEP(k, 5)              \
	Q4KVSTEP(k, 6)              \
	Q4KVSTEP(k, 7)              \
	VPMOVZXBD (32+16*(k))(SI), Y4 \
	VPMULLD   Y4, Y2, Y2        \
	VPMOVZXBD (40+16*(k))(SI), Y5 \
	VPMULLD   Y5, Y3, Y3        \
	VPADDD    Y2, Y1, Y1        \
	VPADDD    Y3, Y1, Y1

// func dotQ4KPackedX8VNNI(p *byte, xq *byte, nb int, out *float32)
// dotQ4KPackedX8AVX2 with VPDPBUSD.
TEXT ·dotQ4KPackedX8VNNI(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x80000000, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q4kv8done

q4kv8loop:
	VPXOR Y1, Y1, Y1
	Q4KVPAIR(0)
	Q4KVPAIR(1)
	Q4KVPAIR(2)
	Q4KVPAIR(3)
	Q4KPFINISH
	ADDQ $1184, SI
	ADDQ $292, DI
	DECQ CX
	JNE  q4kv8loop

q4kv8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Q6_K, group g (steps 4g..4g+3): Y1 += sc_g · Σ q·a, lane by lane; the
// scale is the high int16 of the (sc_g, sc_g) pair, sign-extended.
#define Q6KVGROUP(g) \
	VPXOR         Y2, Y2, Y2                 \
	VMOVDQU       (784+32*(4*(g)))(SI), Y3   \
	VPDPBUSD.BCST (4+4*(4*(g)))(DI), Y3, Y2  \
	VMOVDQU       (784+32*(4*(g)+1))(SI), Y4 \
	VPDPBUSD.BCST (4+4*(4*(g)+1))(DI), Y4, Y2 \
	VMOVDQU       (784+32*(4*(g)+2))(SI), Y3 \
	VPDPBUSD.BCST (4+4*(4*(g)+2))(DI), Y3, Y2 \
	VMOVDQU       (784+32*(4*(g)+3))(SI), Y4 \
	VPDPBUSD.BCST (4+4*(4*(g)+3))(DI), Y4, Y2 \
	VPSRAD        $16, (16+32*(g))(SI), Y5   \
	VPMULLD       Y5, Y2, Y2                 \
	VPADDD        Y2, Y1, Y1

// func dotQ6KPackedX8VNNI(p *byte, xq *byte, nb int, out *float32)
// dotQ6KPackedX8AVX2 with VPDPBUSD.
TEXT ·dotQ6KPackedX8VNNI(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q6kv8done

q6kv8loop:
	VPXOR Y1, Y1, Y1
	Q6KVGROUP(0)
	Q6KVGROUP(1)
	Q6KVGROUP(2)
	Q6KVGROUP(3)
	Q6KVGROUP(4)
	Q6KVGROUP(5)
	Q6KVGROUP(6)
	Q6KVGROUP(7)
	Q6KVGROUP(8)
	Q6KVGROUP(9)
	Q6KVGROUP(10)
	Q6KVGROUP(11)
	Q6KVGROUP(12)
	Q6KVGROUP(13)
	Q6KVGROUP(14)
	Q6KVGROUP(15)
	Q6KPFINISH
	ADDQ $2832, SI
	ADDQ $292, DI
	DECQ CX
	JNE  q6kv8loop

q6kv8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Four vectors by eight Q4_K rows, like dotQ4_0PackedX8x4VNNI: each step's
// nibbles are loaded and split once for the four vectors at DI, R11, R12,
// R13. Y16-Y23 are their sub-block pair's int32 sums (low and high
// nibbles, vector by vector), Y24-Y27 their sumi, Y28-Y31 their lanes
// (row r in lane r): per vector the integer sums and float operations of
// dotQ4KPackedX8VNNI, so its bits.

#define Q4KX4VEC(k, s, X, L, H) \
	VPDPBUSD.BCST (4+64*(k)+4*(s))(X), Y4, L \
	VPDPBUSD.BCST (36+64*(k)+4*(s))(X), Y5, H

#define Q4KX4STEP(k, s) \
	VMOVDQU (160+32*(8*(k)+(s)))(SI), Y4 \
	VPSRLW  $4, Y4, Y5                   \
	VPAND   Y8, Y4, Y4                   \
	VPAND   Y8, Y5, Y5                   \
	Q4KX4VEC(k, s, DI, Y16, Y17)         \
	Q4KX4VEC(k, s, R11, Y18, Y19)        \
	Q4KX4VEC(k, s, R12, Y20, Y21)        \
	Q4KX4VEC(k, s, R13, Y22, Y23)

#define Q4KX4SCALE(L, H, S) \
	VPMULLD Y4, L, L \
	VPMULLD Y5, H, H \
	VPADDD  L, S, S  \
	VPADDD  H, S, S

#define Q4KX4PAIR(k) \
	VPXORD Y16, Y16, Y16 \
	VPXORD Y17, Y17, Y17 \
	VPXORD Y18, Y18, Y18 \
	VPXORD Y19, Y19, Y19 \
	VPXORD Y20, Y20, Y20 \
	VPXORD Y21, Y21, Y21 \
	VPXORD Y22, Y22, Y22 \
	VPXORD Y23, Y23, Y23 \
	Q4KX4STEP(k, 0)      \
	Q4KX4STEP(k, 1)      \
	Q4KX4STEP(k, 2)      \
	Q4KX4STEP(k, 3)      \
	Q4KX4STEP(k, 4)      \
	Q4KX4STEP(k, 5)      \
	Q4KX4STEP(k, 6)      \
	Q4KX4STEP(k, 7)      \
	VPMOVZXBD (32+16*(k))(SI), Y4 \
	VPMOVZXBD (40+16*(k))(SI), Y5 \
	Q4KX4SCALE(Y16, Y17, Y24) \
	Q4KX4SCALE(Y18, Y19, Y25) \
	Q4KX4SCALE(Y20, Y21, Y26) \
	Q4KX4SCALE(Y22, Y23, Y27)

// func dotQ4KPackedX8x4VNNI(p *byte, xq *byte, xstride int, nb int, out *float32, ostride int)
// Eight rows, the group at p, times the four vectors at xq+j·xstride, into
// out[j·ostride+r] (ostride in floats).
TEXT ·dotQ4KPackedX8x4VNNI(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xstride+16(FP), AX
	MOVQ nb+24(FP), CX
	MOVQ out+32(FP), BX
	MOVQ ostride+40(FP), DX
	LEAQ (DI)(AX*1), R11
	LEAQ (R11)(AX*1), R12
	LEAQ (R12)(AX*1), R13
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x80000000, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VPXORD Y28, Y28, Y28
	VPXORD Y29, Y29, Y29
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31
	TESTQ CX, CX
	JE    q4kx4done

q4kx4loop:
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	Q4KX4PAIR(0)
	Q4KX4PAIR(1)
	Q4KX4PAIR(2)
	Q4KX4PAIR(3)
	Q4KPFINISHX(DI, Y24, Y28)
	Q4KPFINISHX(R11, Y25, Y29)
	Q4KPFINISHX(R12, Y26, Y30)
	Q4KPFINISHX(R13, Y27, Y31)
	ADDQ $1184, SI
	ADDQ $292, DI
	ADDQ $292, R11
	ADDQ $292, R12
	ADDQ $292, R13
	DECQ CX
	JNE  q4kx4loop

q4kx4done:
	SHLQ    $2, DX
	VMOVUPS Y28, (BX)
	ADDQ    DX, BX
	VMOVUPS Y29, (BX)
	ADDQ    DX, BX
	VMOVUPS Y30, (BX)
	ADDQ    DX, BX
	VMOVUPS Y31, (BX)
	VZEROUPPER
	RET

// Four vectors by eight Q6_K rows: each step's values are loaded once for
// the four vectors at DI, R11, R12, R13. Y16-Y19 are their group sums,
// Y20-Y23 their sumi, Y24-Y27 their lanes: per vector the integer sums
// and float operations of dotQ6KPackedX8VNNI, so its bits.

#define Q6KX4STEP(t) \
	VMOVDQU       (784+32*(t))(SI), Y3 \
	VPDPBUSD.BCST (4+4*(t))(DI), Y3, Y16  \
	VPDPBUSD.BCST (4+4*(t))(R11), Y3, Y17 \
	VPDPBUSD.BCST (4+4*(t))(R12), Y3, Y18 \
	VPDPBUSD.BCST (4+4*(t))(R13), Y3, Y19

#define Q6KX4GROUP(g) \
	VPXORD    Y16, Y16, Y16          \
	VPXORD    Y17, Y17, Y17          \
	VPXORD    Y18, Y18, Y18          \
	VPXORD    Y19, Y19, Y19          \
	Q6KX4STEP(4*(g))                 \
	Q6KX4STEP(4*(g)+1)               \
	Q6KX4STEP(4*(g)+2)               \
	Q6KX4STEP(4*(g)+3)               \
	VPSRAD    $16, (16+32*(g))(SI), Y5 \
	VPMULLD   Y5, Y16, Y16           \
	VPMULLD   Y5, Y17, Y17           \
	VPMULLD   Y5, Y18, Y18           \
	VPMULLD   Y5, Y19, Y19           \
	VPADDD    Y16, Y20, Y20          \
	VPADDD    Y17, Y21, Y21          \
	VPADDD    Y18, Y22, Y22          \
	VPADDD    Y19, Y23, Y23

// func dotQ6KPackedX8x4VNNI(p *byte, xq *byte, xstride int, nb int, out *float32, ostride int)
// Eight rows, the group at p, times the four vectors at xq+j·xstride, into
// out[j·ostride+r] (ostride in floats).
TEXT ·dotQ6KPackedX8x4VNNI(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xstride+16(FP), AX
	MOVQ nb+24(FP), CX
	MOVQ out+32(FP), BX
	MOVQ ostride+40(FP), DX
	LEAQ (DI)(AX*1), R11
	LEAQ (R11)(AX*1), R12
	LEAQ (R12)(AX*1), R13
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	TESTQ CX, CX
	JE    q6kx4done

q6kx4loop:
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	Q6KX4GROUP(0)
	Q6KX4GROUP(1)
	Q6KX4GROUP(2)
	Q6KX4GROUP(3)
	Q6KX4GROUP(4)
	Q6KX4GROUP(5)
	Q6KX4GROUP(6)
	Q6KX4GROUP(7)
	Q6KX4GROUP(8)
	Q6KX4GROUP(9)
	Q6KX4GROUP(10)
	Q6KX4GROUP(11)
	Q6KX4GROUP(12)
	Q6KX4GROUP(13)
	Q6KX4GROUP(14)
	Q6KX4GROUP(15)
	Q6KPFINISHX(DI, Y20, Y24)
	Q6KPFINISHX(R11, Y21, Y25)
	Q6KPFINISHX(R12, Y22, Y26)
	Q6KPFINISHX(R13, Y23, Y27)
	ADDQ $2832, SI
	ADDQ $292, DI
	ADDQ $292, R11
	ADDQ $292, R12
	ADDQ $292, R13
	DECQ CX
	JNE  q6kx4loop

q6kx4done:
	SHLQ    $2, DX
	VMOVUPS Y24, (BX)
	ADDQ    DX, BX
	VMOVUPS Y25, (BX)
	ADDQ    DX, BX
	VMOVUPS Y26, (BX)
	ADDQ    DX, BX
	VMOVUPS Y27, (BX)
	VZEROUPPER
	RET
