//go:build amd64 && !purego

#include "textflag.h"
#include "kscales_amd64.h"
#include "act_amd64.h"

// Integer kernels for quantized activations (see qact.go). Their lane
// structure and the order of their float operations are those of the Go
// kernels (dotQ8_0ActGo, ...), so that both give the same bits.

// Y6 = the 8 int32 sums of four products of the signed bytes in Y2 (w) and
// Y3 (a); Y7 holds int16 ones. |w|·(a·sign w) = w·a, and no pair sum
// saturates: |w| ≤ 128, |a| ≤ 127.
#define MULSUM8 \
	VPSIGNB    Y2, Y2, Y4 \
	VPSIGNB    Y2, Y3, Y5 \
	VPMADDUBSW Y5, Y4, Y6 \
	VPMADDWD   Y7, Y6, Y6

// Q8_0 has llama.cpp's float operations (see dotQ8_0ActGo): one set of
// eight lanes, lane += d·sum by FMA, block by block.

// func dotQ8_0ActAVX2(row, xq *byte, nb int) float32
TEXT ·dotQ8_0ActAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	TESTQ CX, CX
	JE    q80done

q80loop:
	DPROD((SI), (DI))
	VBROADCASTSS X1, Y1
	VMOVDQU 2(SI), Y2
	VMOVDQU 2(DI), Y3
	MULSUM8
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ $34, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q80loop

q80done:
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Y2 = the 32 Q4_0 values of the block at off(SI), minus 8: low nibbles
// are elements 0..15, high nibbles 16..31.
#define Q40VALUES(off) \
	VMOVDQU     off(SI), X2     \
	VPSRLW      $4, X2, X3      \
	VINSERTI128 $1, X3, Y2, Y2  \
	VPAND       Y8, Y2, Y2      \
	VPSUBB      Y9, Y2, Y2

// Y6 = the 8 int32 sums of four products (q-8)·a for the Q4_0 block's
// nibbles at woff(SI) and the activations at aoff(DI): the unsigned
// nibbles multiply the activations directly and 8·a is subtracted in the
// 16-bit pair sums (|pair| ≤ 2·15·127 + 2·8·127), the same integers as
// Q40VALUES and MULSUM8 with fewer instructions. Y8: 0x0f bytes, Y9: 8s.
#define Q40MUL(woff, aoff) \
	VMOVDQU     woff(SI), X2    \
	VPSRLW      $4, X2, X3      \
	VINSERTI128 $1, X3, Y2, Y2  \
	VPAND       Y8, Y2, Y2      \
	VMOVDQU     aoff(DI), Y3    \
	VPMADDUBSW  Y3, Y2, Y6      \
	VPMADDUBSW  Y3, Y9, Y4      \
	VPSUBW      Y4, Y6, Y6      \
	VPMADDWD    Y7, Y6, Y6

// Q4_0 has llama.cpp's repacked kernels' float operations (see
// dotQ4_0ActGo): per block the exact integer sum s, then
// acc = fma(s, d_w*d_x, acc).

// func dotQ4_0ActAVX2(row, xq *byte, nb int) float32
TEXT ·dotQ4_0ActAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS X0, X0, X0
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x08080808, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	TESTQ CX, CX
	JE    q40done

q40loop:
	Q40MUL(2, 2)
	VEXTRACTI128 $1, Y6, X5
	VPADDD       X5, X6, X6
	VPSHUFD      $0x4E, X6, X5
	VPADDD       X5, X6, X6
	VPSHUFD      $0xB1, X6, X5
	VPADDD       X5, X6, X6
	VCVTDQ2PS    X6, X6
	DPROD((SI), (DI))
	VFMADD231SS  X1, X6, X0
	ADDQ $18, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q40loop

q40done:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Integer horizontal sum of the four int32 of X (using T) into R.
#define HSUMI4(X, T, R) \
	VPSHUFD $0x4E, X, T \
	VPADDD  T, X, X     \
	VPSHUFD $0xB1, X, T \
	VPADDD  T, X, X     \
	VMOVD   X, R

// func dotQ4KActAVX2(row, xq *byte, nb int) float32
// Locals: 0(SP) the 8 sub-block scales as int16.
TEXT ·dotQ4KActAVX2(SB), NOSPLIT, $32-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS X0, X0, X0
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x80000000, AX
	VMOVD AX, X12
	TESTQ CX, CX
	JE q4kadone

q4kaloop:
	// Unpack the 6-bit scales and mins (ggml's kmask trick): R8 the 8
	// scales, R13 the 8 mins, one byte each.
	Q4K_SCALES(R8, R13, R9, R10, R11, R12, AX)
	VMOVQ     R8, X1
	VPMOVZXBW X1, X1
	VMOVDQU   X1, 0(SP)

	// summ = Σ m_j (bsums_2j + bsums_2j+1)
	VMOVQ     R13, X2
	VPMOVZXBW X2, X2
	VMOVDQU   260(DI), X3
	VMOVDQU   276(DI), X4
	VPHADDW   X4, X3, X3
	VPMADDWD  X3, X2, X2
	HSUMI4(X2, X3, R9)

	// sumi = Σ sc_j Σ q·a over sub-block j
	VPXOR Y5, Y5, Y5
#define Q4KSUB(qoff, aoff, soff) \
	VMOVDQU      qoff(SI), Y6       \
	VPSRLW       $4, Y6, Y7         \
	VPAND        Y13, Y6, Y6        \
	VPAND        Y13, Y7, Y7        \
	VPMADDUBSW   aoff(DI), Y6, Y6   \
	VPMADDUBSW   aoff+32(DI), Y7, Y7 \
	VPBROADCASTW soff(SP), Y8       \
	VPBROADCASTW soff+2(SP), Y9     \
	VPMADDWD     Y8, Y6, Y6         \
	VPMADDWD     Y9, Y7, Y7         \
	VPADDD       Y6, Y5, Y5         \
	VPADDD       Y7, Y5, Y5
	Q4KSUB(16, 4, 0)
	Q4KSUB(48, 68, 4)
	Q4KSUB(80, 132, 8)
	Q4KSUB(112, 196, 12)
	VEXTRACTI128 $1, Y5, X6
	VPADDD       X6, X5, X5
	HSUMI4(X5, X6, R10)

	// sum += d*sumi; sum += dmin*summ (d = a.d*w.d, dmin = -a.d*w.dmin)
	VMOVSS     (DI), X1
	VCVTPH2PS  (SI), X2
	VMULSS     X2, X1, X3
	VMOVSHDUP  X2, X4
	VMULSS     X4, X1, X4
	VXORPS     X12, X4, X4
	VCVTSI2SSL R10, X5, X5
	VMULSS     X5, X3, X5
	VADDSS     X5, X0, X0
	VCVTSI2SSL R9, X6, X6
	VMULSS     X6, X4, X6
	VADDSS     X6, X0, X0

	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q4kaloop

q4kadone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Shuffle masks for dotQ6KActAVX2: mask k picks, from eight int16 scales
// held in both 128-bit lanes, scale 2k into every word of the low lane and
// scale 2k+1 into every word of the high lane (the scale pair of the k-th
// group of 32 values of a half), as llama.cpp's get_scale_shuffle_k4.
DATA q6kscale<>+0(SB)/8, $0x0100010001000100
DATA q6kscale<>+8(SB)/8, $0x0100010001000100
DATA q6kscale<>+16(SB)/8, $0x0302030203020302
DATA q6kscale<>+24(SB)/8, $0x0302030203020302
DATA q6kscale<>+32(SB)/8, $0x0504050405040504
DATA q6kscale<>+40(SB)/8, $0x0504050405040504
DATA q6kscale<>+48(SB)/8, $0x0706070607060706
DATA q6kscale<>+56(SB)/8, $0x0706070607060706
DATA q6kscale<>+64(SB)/8, $0x0908090809080908
DATA q6kscale<>+72(SB)/8, $0x0908090809080908
DATA q6kscale<>+80(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q6kscale<>+88(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q6kscale<>+96(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q6kscale<>+104(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q6kscale<>+112(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA q6kscale<>+120(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL q6kscale<>(SB), RODATA|NOPTR, $128

// Q6KBLOCKEND finishes one Q6_K block of the one-row kernels: with the
// block's integer sum in Y5 and its 16 scales as int16 in Y1, it takes
// 32 Σ sc_g bsum_g off the sum (VCVTDQ2PS straight from X5, the same
// int32 to float32 rounding as VCVTSI2SSL), prefetches 24 blocks ahead
// (rows are contiguous, so this runs on into the next rows; a matrix
// larger than the caches streams from DRAM: over cold 8 MB slices in huge
// pages the VNNI kernel read 25 GB/s per CPU second prefetching 4 blocks
// ahead, 28 at 8, 30 at 16, 31 at 24 to 48, a plain read loop 32-33) and
// adds a.d*w.d*sumi to X0.
#define Q6KBLOCKEND \
	VPMADDWD     260(DI), Y1, Y6 \
	VPSLLD       $5, Y6, Y6 \
	VPSUBD       Y6, Y5, Y5 \
	VEXTRACTI128 $1, Y5, X6 \
	VPADDD       X6, X5, X5 \
	VPSHUFD      $0x4E, X5, X6 \
	VPADDD       X6, X5, X5 \
	VPSHUFD      $0xB1, X5, X6 \
	VPADDD       X6, X5, X5 \
	PREFETCHT0   5040(SI) \
	PREFETCHT0   5104(SI) \
	PREFETCHT0   5168(SI) \
	PREFETCHT0   5232(SI) \
	VMOVSS     (DI), X1 \
	MOVWLZX    208(SI), AX \
	VMOVD      AX, X2 \
	VCVTPH2PS  X2, X2 \
	VMULSS     X2, X1, X3 \
	VCVTDQ2PS  X5, X5 \
	VMULSS     X5, X3, X5 \
	VADDSS     X5, X0, X0

// func dotQ6KRowsAVX2(row *byte, rb int, xq *byte, nb int, out *float32, n int)
// out[i] = the product of the row at row+i*rb (nb blocks) with xq, for i
// in [0, n): one call for all the rows a thread does, since with a small
// hidden size a row is only a few blocks and a call per row costs as much
// as a block. Y8, Y10, Y11, Y14: the q6kscale masks; Y12: 0x30 bytes;
// Y13: 0x0f bytes; per block Y1 the 16 scales as int16, Y9 the first
// eight in both lanes, Y15 the last eight.
TEXT ·dotQ6KRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), R11
	MOVQ rb+8(FP), R8
	MOVQ out+32(FP), R13
	MOVQ n+40(FP), R12
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x30303030, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU q6kscale<>+0(SB), Y8
	VMOVDQU q6kscale<>+32(SB), Y10
	VMOVDQU q6kscale<>+64(SB), Y11
	VMOVDQU q6kscale<>+96(SB), Y14
	TESTQ R12, R12
	JE q6kadone

q6karow:
	MOVQ R11, SI
	MOVQ xq+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS X0, X0, X0
	TESTQ CX, CX
	JE q6kastore

q6kaloop:
	VPMOVSXBW 192(SI), Y1
	VPERMQ    $0x44, Y1, Y9
	VPERMQ    $0xee, Y1, Y15
	VPXOR     Y5, Y5, Y5

// Y7 holds 32 six-bit values (0..63); adds Σ sc·q·a for the 32
// activations at aoff, the scale pair picked from sc by mask. The -32
// offset of the values is applied once per block from the activation
// group sums, in exact integers: the same sumi.
#define Q6KACC(aoff, mask, sc) \
	VPMADDUBSW aoff(DI), Y7, Y7 \
	VPSHUFB    mask, sc, Y6     \
	VPMADDWD   Y6, Y7, Y7       \
	VPADDD     Y7, Y5, Y5

// One half (128 elements): ql at qloff, qh at qhoff, activations at aoff,
// scales (eight int16 in both lanes) in sc. Value group k's high bits
// are bits 2k..2k+1 of qh, moved to bits 4..5 (Y12 masks them).
#define Q6KHALF(qloff, qhoff, aoff, sc) \
	VMOVDQU qloff(SI), Y2     \
	VMOVDQU qloff+32(SI), Y3  \
	VMOVDQU qhoff(SI), Y4     \
	VPSLLW  $4, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPAND   Y13, Y2, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KACC(aoff, Y8, sc)      \
	VPSLLW  $2, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPAND   Y13, Y3, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KACC(aoff+32, Y10, sc)  \
	VPAND   Y12, Y4, Y6       \
	VPSRLW  $4, Y2, Y7        \
	VPAND   Y13, Y7, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KACC(aoff+64, Y11, sc)  \
	VPSRLW  $2, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPSRLW  $4, Y3, Y7        \
	VPAND   Y13, Y7, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KACC(aoff+96, Y14, sc)

	Q6KHALF(0, 128, 4, Y9)
	Q6KHALF(64, 160, 132, Y15)
	Q6KBLOCKEND

	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q6kaloop

q6kastore:
	VMOVSS X0, (R13)
	ADDQ   $4, R13
	ADDQ   R8, R11
	DECQ   R12
	JNZ    q6karow

q6kadone:
	VZEROUPPER
	RET

// func dotQ6KRowsVNNI(row *byte, rb int, xq *byte, nb int, out *float32, n int)
// dotQ6KRowsAVX2 for CPUs with AVX-512 VNNI: each group of 32 values is
// assembled by one VPTERNLOGD (high bits | low bits & 0x0f) where AVX2
// needs an AND and an OR, and its scaled pair sums added by one VPDPWSSD
// where AVX2 needs VPMADDWD and VPADDD: the same exact integers and the
// same float operations, so the same bits.

// Q6KACC with VPDPWSSD.
#define Q6KVACC(aoff, mask, sc) \
	VPMADDUBSW aoff(DI), Y7, Y7 \
	VPSHUFB    mask, sc, Y6     \
	VPDPWSSD   Y6, Y7, Y5

// Q6KHALF with VPTERNLOGD $0xF8: Y7 = Y7 | (low & Y13).
#define Q6KVHALF(qloff, qhoff, aoff, sc) \
	VMOVDQU    qloff(SI), Y2          \
	VMOVDQU    qloff+32(SI), Y3       \
	VMOVDQU    qhoff(SI), Y4          \
	VPSLLW     $4, Y4, Y7             \
	VPAND      Y12, Y7, Y7            \
	VPTERNLOGD $0xF8, Y13, Y2, Y7     \
	Q6KVACC(aoff, Y8, sc)             \
	VPSLLW     $2, Y4, Y7             \
	VPAND      Y12, Y7, Y7            \
	VPTERNLOGD $0xF8, Y13, Y3, Y7     \
	Q6KVACC(aoff+32, Y10, sc)         \
	VPSRLW     $4, Y2, Y6             \
	VPAND      Y12, Y4, Y7            \
	VPTERNLOGD $0xF8, Y13, Y6, Y7     \
	Q6KVACC(aoff+64, Y11, sc)         \
	VPSRLW     $4, Y3, Y6             \
	VPSRLW     $2, Y4, Y7             \
	VPAND      Y12, Y7, Y7            \
	VPTERNLOGD $0xF8, Y13, Y6, Y7     \
	Q6KVACC(aoff+96, Y14, sc)

TEXT ·dotQ6KRowsVNNI(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), R11
	MOVQ rb+8(FP), R8
	MOVQ out+32(FP), R13
	MOVQ n+40(FP), R12
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x30303030, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU q6kscale<>+0(SB), Y8
	VMOVDQU q6kscale<>+32(SB), Y10
	VMOVDQU q6kscale<>+64(SB), Y11
	VMOVDQU q6kscale<>+96(SB), Y14
	TESTQ R12, R12
	JE q6kvdone

q6kvrow:
	MOVQ R11, SI
	MOVQ xq+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS X0, X0, X0
	TESTQ CX, CX
	JE q6kvstore

q6kvloop:
	VPMOVSXBW 192(SI), Y1
	VPERMQ    $0x44, Y1, Y9
	VPERMQ    $0xee, Y1, Y15
	VPXOR     Y5, Y5, Y5

	Q6KVHALF(0, 128, 4, Y9)
	Q6KVHALF(64, 160, 132, Y15)
	Q6KBLOCKEND

	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q6kvloop

q6kvstore:
	VMOVSS X0, (R13)
	ADDQ   $4, R13
	ADDQ   R8, R11
	DECQ   R12
	JNZ    q6kvrow

q6kvdone:
	VZEROUPPER
	RET

// Four activation vectors per weight row: the weights are loaded and
// unpacked once for the four. Each vector's result has the bits of the
// one-vector kernel.

// Q6_K, four activation vectors: each block's 256 six-bit values are
// unpacked once to 0(SP) (eight groups of 32, in the one-row kernel's
// order) with their scale pairs to 256(SP), then each vector runs the
// one-row kernel's integer sums from memory and its float tail into its
// own accumulator (X0, X8, X10, X11): the one-row kernel's bits.
// Locals: 0(SP) values, 256(SP) scale vectors, 512(SP) the 16 scales.

// Stores group k's values (Y7) and its scale pair, broadcast to the
// 16-bit halves as Q6KACC does.
#define Q6KX4GROUP(k, soff) \
	VMOVDQU      Y7, (32*(k))(SP)     \
	VPBROADCASTW 512+soff(SP), X9     \
	VPBROADCASTW 512+soff+2(SP), X1   \
	VINSERTI128  $1, X1, Y9, Y9       \
	VMOVDQU      Y9, (256+32*(k))(SP)

#define Q6KX4HALF(qloff, qhoff, k0, soff) \
	VMOVDQU qloff(SI), Y2     \
	VMOVDQU qloff+32(SI), Y3  \
	VMOVDQU qhoff(SI), Y4     \
	VPAND   Y12, Y4, Y6       \
	VPSLLW  $4, Y6, Y6        \
	VPAND   Y13, Y2, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KX4GROUP(k0, soff)      \
	VPSRLW  $2, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPSLLW  $4, Y6, Y6        \
	VPAND   Y13, Y3, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KX4GROUP(k0+1, soff+4)  \
	VPSRLW  $4, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPSLLW  $4, Y6, Y6        \
	VPSRLW  $4, Y2, Y7        \
	VPAND   Y13, Y7, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KX4GROUP(k0+2, soff+8)  \
	VPSRLW  $6, Y4, Y6        \
	VPAND   Y12, Y6, Y6       \
	VPSLLW  $4, Y6, Y6        \
	VPSRLW  $4, Y3, Y7        \
	VPAND   Y13, Y7, Y7       \
	VPOR    Y6, Y7, Y7        \
	Q6KX4GROUP(k0+3, soff+12)

// Σ sc·q·a of group k against the activations at aoff(P), into Y5.
#define Q6KX4SUM(P, k, aoff) \
	VMOVDQU    (32*k)(SP), Y7        \
	VPMADDUBSW aoff(P), Y7, Y7       \
	VPMADDWD   (256+32*k)(SP), Y7, Y7 \
	VPADDD     Y7, Y5, Y5

// One vector's block: the integer sum, the offset, then acc += d*sumi.
#define Q6KX4VEC(P, ACC) \
	VPXOR        Y5, Y5, Y5      \
	Q6KX4SUM(P, 0, 4)            \
	Q6KX4SUM(P, 1, 36)           \
	Q6KX4SUM(P, 2, 68)           \
	Q6KX4SUM(P, 3, 100)          \
	Q6KX4SUM(P, 4, 132)          \
	Q6KX4SUM(P, 5, 164)          \
	Q6KX4SUM(P, 6, 196)          \
	Q6KX4SUM(P, 7, 228)          \
	VPMADDWD     260(P), Y14, Y6 \
	VPSLLD       $5, Y6, Y6      \
	VPSUBD       Y6, Y5, Y5      \
	VEXTRACTI128 $1, Y5, X6      \
	VPADDD       X6, X5, X5      \
	HSUMI4(X5, X6, R12)          \
	VMOVSS       (P), X1         \
	VMULSS       X15, X1, X3     \
	VCVTSI2SSL   R12, X5, X5     \
	VMULSS       X5, X3, X5      \
	VADDSS       X5, ACC, ACC

// func dotQ6KActx4AVX2(row, xq *byte, xstride, nb int, out *float32, ostride int)
TEXT ·dotQ6KActx4AVX2(SB), 0, $544-48
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xstride+16(FP), DX
	MOVQ nb+24(FP), CX
	LEAQ (DI)(DX*1), R8
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	VXORPS X0, X0, X0
	VXORPS X8, X8, X8
	VXORPS X10, X10, X10
	VXORPS X11, X11, X11
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x03030303, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	TESTQ CX, CX
	JE q6kx4done

q6kx4loop:
	VPMOVSXBW 192(SI), Y14
	VMOVDQU   Y14, 512(SP)
	MOVWLZX   208(SI), AX
	VMOVD     AX, X15
	VCVTPH2PS X15, X15
	Q6KX4HALF(0, 128, 0, 0)
	Q6KX4HALF(64, 160, 4, 16)
	Q6KX4VEC(DI, X0)
	Q6KX4VEC(R8, X8)
	Q6KX4VEC(R9, X10)
	Q6KX4VEC(R10, X11)
	ADDQ $210, SI
	ADDQ $292, DI
	ADDQ $292, R8
	ADDQ $292, R9
	ADDQ $292, R10
	DECQ CX
	JNZ  q6kx4loop

q6kx4done:
	MOVQ out+32(FP), BX
	MOVQ ostride+40(FP), R11
	SHLQ $2, R11
	VMOVSS X0, (BX)
	ADDQ   R11, BX
	VMOVSS X8, (BX)
	ADDQ   R11, BX
	VMOVSS X10, (BX)
	ADDQ   R11, BX
	VMOVSS X11, (BX)
	VZEROUPPER
	RET

// func dotQ4KActx4AVX2(row, xq *byte, xstride, nb int, out *float32, ostride int)
// Locals: 0(SP) the 8 scales and 16(SP) the 8 mins as int16, 32(SP) the
// four float sums.
TEXT ·dotQ4KActx4AVX2(SB), NOSPLIT, $48-48

// Q4_K against four vectors: sub-block pair k of the weights (Y6 low, Y7
// high nibbles, Y12/Y13 their scales) against vector A's activations.
#define Q4KX4VEC(A, aoff, ACC) \
	VPMADDUBSW aoff(A), Y6, Y4    \
	VPMADDWD   Y12, Y4, Y4        \
	VPADDD     Y4, ACC, ACC       \
	VPMADDUBSW aoff+32(A), Y7, Y5 \
	VPMADDWD   Y13, Y5, Y5        \
	VPADDD     Y5, ACC, ACC

#define Q4KX4SUB(qoff, aoff, soff) \
	VMOVDQU      qoff(SI), Y6     \
	VPSRLW       $4, Y6, Y7       \
	VPAND        Y14, Y6, Y6      \
	VPAND        Y14, Y7, Y7      \
	VPBROADCASTW soff(SP), Y12    \
	VPBROADCASTW soff+2(SP), Y13  \
	Q4KX4VEC(DI, aoff, Y8)        \
	Q4KX4VEC(R8, aoff, Y9)        \
	Q4KX4VEC(R9, aoff, Y10)       \
	Q4KX4VEC(R10, aoff, Y11)

// Adds vector A's block (integer sums in ACC/XACC) to its float sum at
// foff(SP), as the one-vector kernel does.
#define Q4KX4FIN(A, ACC, XACC, foff) \
	VEXTRACTI128 $1, ACC, X4     \
	VPADDD       X4, XACC, X4    \
	HSUMI4(X4, X5, R11)          \
	VMOVDQU      260(A), X3      \
	VMOVDQU      276(A), X4      \
	VPHADDW      X4, X3, X3      \
	VPMADDWD     16(SP), X3, X3  \
	HSUMI4(X3, X4, R12)          \
	VMOVSS       (A), X1         \
	VCVTPH2PS    (SI), X2        \
	VMULSS       X2, X1, X3      \
	VMOVSHDUP    X2, X4          \
	VMULSS       X4, X1, X4      \
	VXORPS       X15, X4, X4     \
	VMOVSS       foff(SP), X0    \
	VCVTSI2SSL   R11, X5, X5     \
	VMULSS       X5, X3, X5      \
	VADDSS       X5, X0, X0      \
	VCVTSI2SSL   R12, X6, X6     \
	VMULSS       X6, X4, X6      \
	VADDSS       X6, X0, X0      \
	VMOVSS       X0, foff(SP)

	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xstride+16(FP), DX
	MOVQ nb+24(FP), CX
	LEAQ (DI)(DX*1), R8
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x80000000, AX
	VMOVD AX, X15
	VXORPS X0, X0, X0
	VMOVUPS X0, 32(SP)
	TESTQ CX, CX
	JE q4kx4done

q4kx4loop:
	// The kmask unpacking of dotQ4KActAVX2: R14 the scales, R13 the mins.
	Q4K_SCALES(R14, R13, BX, DX, R11, R12, AX)
	VMOVQ     R14, X1
	VPMOVZXBW X1, X1
	VMOVDQU   X1, 0(SP)
	VMOVQ     R13, X2
	VPMOVZXBW X2, X2
	VMOVDQU   X2, 16(SP)

	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	Q4KX4SUB(16, 4, 0)
	Q4KX4SUB(48, 68, 4)
	Q4KX4SUB(80, 132, 8)
	Q4KX4SUB(112, 196, 12)
	Q4KX4FIN(DI, Y8, X8, 32)
	Q4KX4FIN(R8, Y9, X9, 36)
	Q4KX4FIN(R9, Y10, X10, 40)
	Q4KX4FIN(R10, Y11, X11, 44)

	ADDQ $144, SI
	ADDQ $292, DI
	ADDQ $292, R8
	ADDQ $292, R9
	ADDQ $292, R10
	DECQ CX
	JNZ  q4kx4loop

q4kx4done:
	MOVQ out+32(FP), BX
	MOVQ ostride+40(FP), R11
	SHLQ $2, R11
	MOVL 32(SP), AX
	MOVL AX, (BX)
	ADDQ R11, BX
	MOVL 36(SP), AX
	MOVL AX, (BX)
	ADDQ R11, BX
	MOVL 40(SP), AX
	MOVL AX, (BX)
	ADDQ R11, BX
	MOVL 44(SP), AX
	MOVL AX, (BX)
	VZEROUPPER
	RET

// func dotQ5KActAVX2(row, xq *byte, nb int) float32
// Q4_K's kernel with a fifth bit per value from qh: bit j of qh[l] is the
// high bit of element l of sub-block j.
// Locals: 0(SP) the 8 sub-block scales as int16.
TEXT ·dotQ5KActAVX2(SB), NOSPLIT, $32-28

// Sub-block pair k: nibbles at qoff(SI), high bits j = 2k and 2k+1 of Y10
// (qh), activations at aoff(DI), scales at soff(SP).
#define Q5KSUB(qoff, shift, aoff, soff) \
	VMOVDQU      qoff(SI), Y6       \
	VPSRLW       $4, Y6, Y7         \
	VPAND        Y13, Y6, Y6        \
	VPAND        Y13, Y7, Y7        \
	VPSRLW       $shift, Y10, Y2    \
	VPAND        Y11, Y2, Y3        \
	VPSLLW       $4, Y3, Y3         \
	VPOR         Y3, Y6, Y6         \
	VPSRLW       $1, Y2, Y2         \
	VPAND        Y11, Y2, Y2        \
	VPSLLW       $4, Y2, Y2         \
	VPOR         Y2, Y7, Y7         \
	VPMADDUBSW   aoff(DI), Y6, Y6   \
	VPMADDUBSW   aoff+32(DI), Y7, Y7 \
	VPBROADCASTW soff(SP), Y8       \
	VPBROADCASTW soff+2(SP), Y9     \
	VPMADDWD     Y8, Y6, Y6         \
	VPMADDWD     Y9, Y7, Y7         \
	VPADDD       Y6, Y5, Y5         \
	VPADDD       Y7, Y5, Y5

	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS X0, X0, X0
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x01010101, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11
	MOVL $0x80000000, AX
	VMOVD AX, X12
	TESTQ CX, CX
	JE q5kadone

q5kaloop:
	Q4K_SCALES(R8, R13, R9, R10, R11, R12, AX)
	VMOVQ     R8, X1
	VPMOVZXBW X1, X1
	VMOVDQU   X1, 0(SP)

	// summ = Σ m_j (bsums_2j + bsums_2j+1)
	VMOVQ     R13, X2
	VPMOVZXBW X2, X2
	VMOVDQU   260(DI), X3
	VMOVDQU   276(DI), X4
	VPHADDW   X4, X3, X3
	VPMADDWD  X3, X2, X2
	HSUMI4(X2, X3, R9)

	VMOVDQU 16(SI), Y10
	VPXOR   Y5, Y5, Y5
	Q5KSUB(48, 0, 4, 0)
	Q5KSUB(80, 2, 68, 4)
	Q5KSUB(112, 4, 132, 8)
	Q5KSUB(144, 6, 196, 12)
	VEXTRACTI128 $1, Y5, X6
	VPADDD       X6, X5, X5
	HSUMI4(X5, X6, R10)

	VMOVSS     (DI), X1
	VCVTPH2PS  (SI), X2
	VMULSS     X2, X1, X3
	VMOVSHDUP  X2, X4
	VMULSS     X4, X1, X4
	VXORPS     X12, X4, X4
	VCVTSI2SSL R10, X5, X5
	VMULSS     X5, X3, X5
	VADDSS     X5, X0, X0
	VCVTSI2SSL R9, X6, X6
	VMULSS     X6, X4, X6
	VADDSS     X6, X0, X0

	ADDQ $176, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q5kaloop

q5kadone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Q5_0 bit expansion (llama.cpp's bytes_from_bits_32): the shuffle that
// spreads byte j/8 of qh to byte j, and the mask that leaves byte j all
// ones exactly when bit j is set.
DATA q5bits<>+0(SB)/8, $0x0000000000000000
DATA q5bits<>+8(SB)/8, $0x0101010101010101
DATA q5bits<>+16(SB)/8, $0x0202020202020202
DATA q5bits<>+24(SB)/8, $0x0303030303030303
DATA q5bits<>+32(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+40(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+48(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+56(SB)/8, $0x7fbfdfeff7fbfdfe
GLOBL q5bits<>(SB), RODATA|NOPTR, $64

// Y2 = the 32 Q5_0 values of the block at off(SI), (nibble | high bit<<4)
// - 16 as signed bytes: nibble | 0xF0 where the high bit is clear.
#define Q50VALUES(off) \
	VMOVDQU      off+6(SI), X2    \
	VPSRLW       $4, X2, X3       \
	VINSERTI128  $1, X3, Y2, Y2   \
	VPAND        Y8, Y2, Y2       \
	VPBROADCASTD off+2(SI), Y4    \
	VPSHUFB      Y11, Y4, Y4      \
	VPOR         Y12, Y4, Y4      \
	VPCMPEQB     Y13, Y4, Y4      \
	VPANDN       Y9, Y4, Y4       \
	VPOR         Y4, Y2, Y2

// func dotQ5_0ActAVX2(row, xq *byte, nb int) float32
TEXT ·dotQ5_0ActAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0xf0f0f0f0, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VMOVDQU q5bits<>+0(SB), Y11
	VMOVDQU q5bits<>+32(SB), Y12
	VPCMPEQB Y13, Y13, Y13
	CMPQ CX, $2
	JL   q50atail

q50aloop:
	DPROD((SI), (DI))
	VBROADCASTSS X1, Y1
	Q50VALUES(0)
	VMOVDQU 2(DI), Y3
	MULSUM8
	VCVTDQ2PS Y6, Y6
	VMULPS    Y1, Y6, Y6
	VADDPS    Y6, Y0, Y0
	DPROD(22(SI), 34(DI))
	VBROADCASTSS X1, Y1
	Q50VALUES(22)
	VMOVDQU 36(DI), Y3
	MULSUM8
	VCVTDQ2PS Y6, Y6
	VMULPS    Y1, Y6, Y6
	VADDPS    Y6, Y10, Y10
	ADDQ $44, SI
	ADDQ $68, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q50aloop

q50atail:
	TESTQ CX, CX
	JE    q50adone
	DPROD((SI), (DI))
	VBROADCASTSS X1, Y1
	Q50VALUES(0)
	VMOVDQU 2(DI), Y3
	MULSUM8
	VCVTDQ2PS Y6, Y6
	VMULPS    Y1, Y6, Y6
	VADDPS    Y6, Y0, Y0

q50adone:
	VADDPS Y10, Y0, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Q4_1 and Q5_1 against Q8_1: unsigned values (no sign trick), and the
// offsets m_w*s_a summed per block into X14, added after the lanes.

// X1[0] = d_w*d_a, and X14 += m_w*s_a, for the blocks at woff(SI) and
// aoff(DI) (both start with two fp16: scale, then offset or sum).
#define Q81SCALES(woff, aoff) \
	VCVTPH2PS woff(SI), X1 \
	VCVTPH2PS aoff(DI), X2 \
	VMULPS    X2, X1, X1   \
	VMOVSHDUP X1, X3       \
	VADDSS    X3, X14, X14

// Y6 = the 8 int32 sums of four products of the unsigned bytes in Y2 and
// the signed activations at aoff(DI).
#define MULSUMU8(aoff) \
	VPMADDUBSW aoff(DI), Y2, Y6 \
	VPMADDWD   Y7, Y6, Y6

#define Q41BLOCK(woff, aoff, ACC) \
	Q81SCALES(woff, aoff)         \
	VBROADCASTSS X1, Y1           \
	VMOVDQU      woff+4(SI), X2   \
	VPSRLW       $4, X2, X3       \
	VINSERTI128  $1, X3, Y2, Y2   \
	VPAND        Y8, Y2, Y2       \
	MULSUMU8(aoff+4)              \
	VCVTDQ2PS    Y6, Y6           \
	VMULPS       Y1, Y6, Y6       \
	VADDPS       Y6, ACC, ACC

// func dotQ4_1ActAVX2(row, xq *byte, nb int) float32
TEXT ·dotQ4_1ActAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	VXORPS X14, X14, X14
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	CMPQ CX, $2
	JL   q41atail

q41aloop:
	Q41BLOCK(0, 0, Y0)
	Q41BLOCK(20, 36, Y10)
	ADDQ $40, SI
	ADDQ $72, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q41aloop

q41atail:
	TESTQ CX, CX
	JE    q41adone
	Q41BLOCK(0, 0, Y0)

q41adone:
	VADDPS Y10, Y0, Y0
	HSUM8
	VADDSS X14, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

#define Q51BLOCK(woff, aoff, ACC) \
	Q81SCALES(woff, aoff)         \
	VBROADCASTSS X1, Y1           \
	VMOVDQU      woff+8(SI), X2   \
	VPSRLW       $4, X2, X3       \
	VINSERTI128  $1, X3, Y2, Y2   \
	VPAND        Y8, Y2, Y2       \
	VPBROADCASTD woff+4(SI), Y4   \
	VPSHUFB      Y11, Y4, Y4      \
	VPOR         Y12, Y4, Y4      \
	VPCMPEQB     Y13, Y4, Y4      \
	VPAND        Y9, Y4, Y4       \
	VPOR         Y4, Y2, Y2       \
	MULSUMU8(aoff+4)              \
	VCVTDQ2PS    Y6, Y6           \
	VMULPS       Y1, Y6, Y6       \
	VADDPS       Y6, ACC, ACC

// func dotQ5_1ActAVX2(row, xq *byte, nb int) float32
TEXT ·dotQ5_1ActAVX2(SB), NOSPLIT, $0-28
	MOVQ row+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	VXORPS X14, X14, X14
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x10101010, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VMOVDQU q5bits<>+0(SB), Y11
	VMOVDQU q5bits<>+32(SB), Y12
	VPCMPEQB Y13, Y13, Y13
	CMPQ CX, $2
	JL   q51atail

q51aloop:
	Q51BLOCK(0, 0, Y0)
	Q51BLOCK(24, 36, Y10)
	ADDQ $48, SI
	ADDQ $72, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q51aloop

q51atail:
	TESTQ CX, CX
	JE    q51adone
	Q51BLOCK(0, 0, Y0)

q51adone:
	VADDPS Y10, Y0, Y0
	HSUM8
	VADDSS X14, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Q4_0 rows repacked eight by eight (packQ4_0): per group of eight rows
// and block, the eight scales, then for k = 0..3 the bytes 4k..4k+3 of
// each row's nibbles, row by row, so that 32-bit lane r of a 32-byte load
// holds row r's elements 4k..4k+3 (low nibbles) and 4k+16..4k+19 (high).
// One pass over a block's activations serves eight or sixteen rows, each
// row's exact integer sum lands in its own lane, and the lanes take
// fma(sum, d_w*d_x, acc) block by block: dotQ4_0ActGo's bits for each row.
// Nibble products with the activations (VPMADDUBSW, ≤ 2·15·128 per pair)
// add up in 16 bits over the block's eight steps (≤ 30720), and 8·Σa is
// subtracted once per block.

// Step k of a group at P: the products of its nibbles with the broadcast
// activations Y4 (elements 4k..) and Y5 (4k+16..) added to SUM (int16).
#define Q40PSTEP(P, k, T1, T2, SUM) \
	VMOVDQU    (16+32*(k))(P), T1 \
	VPSRLW     $4, T1, T2         \
	VPAND      Y8, T1, T1         \
	VPAND      Y8, T2, T2         \
	VPMADDUBSW Y4, T1, T1         \
	VPMADDUBSW Y5, T2, T2         \
	VPADDW     T1, SUM, SUM       \
	VPADDW     T2, SUM, SUM

// ACC += float(SUM - 8·Σa) · (d_w·d_x), lane by lane, for the group at P,
// SUM holding int16 pairs.
#define Q40PACC(P, SUM, T, ACC) \
	VPMADDWD Y7, SUM, SUM \
	Q40PACCD(P, SUM, T, ACC)

// func dotQ4_0PackedX16AVX2(p *byte, gstride int, xq *byte, nb int, out *float32)
// Sixteen rows: the groups at p and p+gstride, into out[0..15]. It
// prefetches into L2 the two groups its next call reads (R9 = 2·gstride
// ahead), as it goes: the hardware prefetcher follows the first group's
// stream from call to call, but the second one starts cold at every call.
TEXT ·dotQ4_0PackedX16AVX2(SB), NOSPLIT, $0-40
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
	JE    q40p16done

q40p16loop:
	PREFETCHT1 (SI)(R9*1)
	PREFETCHT1 64(SI)(R9*1)
	PREFETCHT1 128(SI)(R9*1)
	PREFETCHT1 (R8)(R9*1)
	PREFETCHT1 64(R8)(R9*1)
	PREFETCHT1 128(R8)(R9*1)
	VPXOR Y6, Y6, Y6
	VPXOR Y13, Y13, Y13
	Q40PBCAST(0)
	Q40PSTEP(SI, 0, Y2, Y3, Y6)
	Q40PSTEP(R8, 0, Y11, Y12, Y13)
	Q40PBCAST(1)
	Q40PSTEP(SI, 1, Y2, Y3, Y6)
	Q40PSTEP(R8, 1, Y11, Y12, Y13)
	Q40PBCAST(2)
	Q40PSTEP(SI, 2, Y2, Y3, Y6)
	Q40PSTEP(R8, 2, Y11, Y12, Y13)
	Q40PBCAST(3)
	Q40PSTEP(SI, 3, Y2, Y3, Y6)
	Q40PSTEP(R8, 3, Y11, Y12, Y13)
	Q40POFFSET
	Q40PACC(SI, Y6, Y1, Y0)
	Q40PACC(R8, Y13, Y2, Y10)
	ADDQ $144, SI
	ADDQ $144, R8
	ADDQ $34, DI
	DECQ CX
	JNE  q40p16loop

q40p16done:
	VMOVUPS Y0, (BX)
	VMOVUPS Y10, 32(BX)
	VZEROUPPER
	RET

// func dotQ4_0PackedX8AVX2(p *byte, xq *byte, nb int, out *float32)
// Eight rows: the group at p, into out[0..7].
TEXT ·dotQ4_0PackedX8AVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	Q40PCONSTS
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q40p8done

q40p8loop:
	VPXOR Y6, Y6, Y6
	Q40PBCAST(0)
	Q40PSTEP(SI, 0, Y2, Y3, Y6)
	Q40PBCAST(1)
	Q40PSTEP(SI, 1, Y2, Y3, Y6)
	Q40PBCAST(2)
	Q40PSTEP(SI, 2, Y2, Y3, Y6)
	Q40PBCAST(3)
	Q40PSTEP(SI, 3, Y2, Y3, Y6)
	Q40POFFSET
	Q40PACC(SI, Y6, Y1, Y0)
	ADDQ $144, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q40p8loop

q40p8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Four vectors by eight rows, like llama.cpp's gemm_q4_0_8x8: each step's
// nibbles are loaded and split once and serve the four vectors, whose
// activations sit at DI, R11, R12, R13; each block's 8·Σa and d_x of the
// four vectors come ready from aux at R8 (q4x4Aux), so no horizontal sums
// per block. Y0-Y3 are the vectors' lanes (row r in lane r), Y4-Y7 their
// int16 sums, Y8 0x0f, Y10 1s (int16), Y15 the rows' d_w: for each vector
// the same integer sum and the same fma(sum, d_w*d_x, acc) per block as
// dotQ4_0PackedX8AVX2, so the same bits.

// SUM += products of step k's nibbles with the vector at X.
#define Q40X4VEC(k, X, SUM) \
	VPBROADCASTD (2+4*(k))(X), Y13  \
	VPBROADCASTD (18+4*(k))(X), Y14 \
	VPMADDUBSW   Y13, Y11, Y13      \
	VPMADDUBSW   Y14, Y12, Y14      \
	VPADDW       Y13, SUM, SUM      \
	VPADDW       Y14, SUM, SUM

#define Q40X4STEP(k) \
	Q40X4LOAD(k)         \
	Q40X4VEC(k, DI, Y4)  \
	Q40X4VEC(k, R11, Y5) \
	Q40X4VEC(k, R12, Y6) \
	Q40X4VEC(k, R13, Y7)

// ACC += float(SUM - 8·Σa) · (d_w·d_x) for vector j, SUM holding int16
// pairs.
#define Q40X4ACC(j, SUM, ACC) \
	VPMADDWD Y10, SUM, SUM \
	Q40X4ACCD(j, SUM, ACC)

// func dotQ4_0PackedX8x4AVX2(p *byte, xq *byte, xstride int, aux *byte, nb int, out *float32, ostride int)
// Eight rows, the group at p, times the four vectors at xq+j·xstride, into
// out[j·ostride+r] (ostride in floats).
TEXT ·dotQ4_0PackedX8x4AVX2(SB), NOSPLIT, $0-56
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
	MOVL $0x00010001, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JE    q40x4done

q40x4loop:
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	Q40X4STEP(0)
	Q40X4STEP(1)
	Q40X4STEP(2)
	Q40X4STEP(3)
	VCVTPH2PS (SI), Y15
	Q40X4ACC(0, Y4, Y0)
	Q40X4ACC(1, Y5, Y1)
	Q40X4ACC(2, Y6, Y2)
	Q40X4ACC(3, Y7, Y3)
	ADDQ $144, SI
	ADDQ $34, DI
	ADDQ $34, R11
	ADDQ $34, R12
	ADDQ $34, R13
	ADDQ $32, R8
	DECQ CX
	JNE  q40x4loop

q40x4done:
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

// Q8_0 rows repacked eight by eight (packQ8_0): per group of eight rows
// and block, the eight scales, then for k = 0..7 the bytes 4k..4k+3 of
// each row, row by row. Register Yk holds lane k of the eight rows (row r
// in 32-bit lane r): the one-row kernel's lanes turned on their side, so
// that one activation load serves eight rows and the final sums are
// vertical adds in hsum8's order: dotQ8_0ActGo's bits for each row.

// Step k: Yk += d · (exact sum of row r's elements 4k..4k+3 times the
// activations), lane r. Y13: d, Y12: 1s (int16).
#define Q80PSTEP(k, ACC) \
	VMOVDQU      (16+32*(k))(SI), Y8 \
	VPBROADCASTD (2+4*(k))(DI), Y9   \
	VPSIGNB      Y8, Y8, Y10         \
	VPSIGNB      Y8, Y9, Y11         \
	VPMADDUBSW   Y11, Y10, Y10       \
	VPMADDWD     Y12, Y10, Y10       \
	VCVTDQ2PS    Y10, Y10            \
	VFMADD231PS  Y10, Y13, ACC

// func dotQ8_0PackedX8AVX2(p *byte, xq *byte, nb int, out *float32)
// Eight rows: the group at p, into out[0..7].
TEXT ·dotQ8_0PackedX8AVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	MOVL $0x00010001, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE    q80p8done

q80p8loop:
	// As dotQ8_0PackedX8VNNI: 16 blocks ahead.
	PREFETCHT0   4352(SI)
	PREFETCHT0   4416(SI)
	PREFETCHT0   4480(SI)
	PREFETCHT0   4544(SI)
	PREFETCHT0   4608(SI)
	VCVTPH2PS    (SI), Y13
	VPBROADCASTW (DI), X14
	VCVTPH2PS    X14, Y14
	VMULPS       Y14, Y13, Y13
	Q80PSTEP(0, Y0)
	Q80PSTEP(1, Y1)
	Q80PSTEP(2, Y2)
	Q80PSTEP(3, Y3)
	Q80PSTEP(4, Y4)
	Q80PSTEP(5, Y5)
	Q80PSTEP(6, Y6)
	Q80PSTEP(7, Y7)
	ADDQ $272, SI
	ADDQ $34, DI
	DECQ CX
	JNE  q80p8loop

q80p8done:
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

// Q4_K rows repacked eight by eight (packQ4K): per group of eight rows and
// block, at offsets of the 1184-byte packed block: 0 the eight d (fp16),
// 16 the eight dmin, 32 for each sub-block j the eight rows' scales
// (bytes), 96 for i = 0..3 the mins as byte pairs (m_2i, m_2i+1) row by
// row, 160 for k = 0..3 and step s = 0..7 the nibble bytes
// 32k+4s..32k+4s+3 of each row. The integer sums per row are the one-row
// kernel's exact ones, in lane r, and the float operations per lane are
// its scalar ones: dotQ4KActGo's bits for each row. Nibble products over
// a sub-block's eight steps add up in 16 bits (≤ 8·2·15·128).

// q4kpsc spreads sub-block j's eight scale bytes, broadcast to both
// 128-bit lanes, to int16 pairs (sc, sc) in lane r (byte r → words 2r,
// 2r+1), for VPMADDWD.
DATA q4kpsc<>+0(SB)/8, $0x8001800180008000
DATA q4kpsc<>+8(SB)/8, $0x8003800380028002
DATA q4kpsc<>+16(SB)/8, $0x8005800580048004
DATA q4kpsc<>+24(SB)/8, $0x8007800780068006
GLOBL q4kpsc<>(SB), RODATA|NOPTR, $32

// Step s of the sub-block pair k: low nibbles against the activations
// 64k+4s.., high ones against 64k+32+4s.., into Y2 and Y3 (int16).
#define Q4KPSTEP(k, s) \
	VMOVDQU      (160+32*(8*(k)+(s)))(SI), Y4 \
	VPSRLW       $4, Y4, Y5                   \
	VPAND        Y8, Y4, Y4                   \
	VPAND        Y8, Y5, Y5                   \
	VPBROADCASTD (4+64*(k)+4*(s))(DI), Y6     \
	VPBROADCASTD (36+64*(k)+4*(s))(DI), Y7    \
	VPMADDUBSW   Y6, Y4, Y4                   \
	VPMADDUBSW   Y7, Y5, Y5                   \
	VPADDW       Y4, Y2, Y2                   \
	VPADDW       Y5, Y3, Y3

// Sub-blocks 2k and 2k+1: Y1 += sc_2k·Σlo + sc_2k+1·Σhi.
#define Q4KPPAIR(k) \
	VPXOR    Y2, Y2, Y2 \
	VPXOR    Y3, Y3, Y3 \
	Q4KPSTEP(k, 0)      \
	Q4KPSTEP(k, 1)      \
	Q4KPSTEP(k, 2)      \
	Q4KPSTEP(k, 3)      \
	Q4KPSTEP(k, 4)      \
	Q4KPSTEP(k, 5)      \
	Q4KPSTEP(k, 6)      \
	Q4KPSTEP(k, 7)      \
	VPBROADCASTQ (32+16*(k))(SI), Y4 \
	VPSHUFB      Y9, Y4, Y4          \
	VPMADDWD     Y4, Y2, Y2          \
	VPBROADCASTQ (40+16*(k))(SI), Y5 \
	VPSHUFB      Y9, Y5, Y5          \
	VPMADDWD     Y5, Y3, Y3          \
	VPADDD   Y2, Y1, Y1 \
	VPADDD   Y3, Y1, Y1

// func dotQ4KPackedX8AVX2(p *byte, xq *byte, nb int, out *float32)
// Eight rows: the group at p, into out[0..7]. Y9: q4kpsc.
TEXT ·dotQ4KPackedX8AVX2(SB), NOSPLIT, $0-32
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
	VMOVDQU q4kpsc<>(SB), Y9
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q4kp8done

q4kp8loop:
	VPXOR Y1, Y1, Y1
	Q4KPPAIR(0)
	Q4KPPAIR(1)
	Q4KPPAIR(2)
	Q4KPPAIR(3)

	Q4KPFINISH

	ADDQ $1184, SI
	ADDQ $292, DI
	DECQ CX
	JNE  q4kp8loop

q4kp8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Q6_K rows repacked eight by eight (packQ6K), their six-bit values
// unpacked to bytes: per group of eight rows and block, at offsets of the
// 2832-byte packed block: 0 the eight d (fp16), 16 for each group g of 16
// elements the scales as int16 pairs (sc_g, sc_g) in lane r, 528 for
// i = 0..7 the scales as int16 pairs (sc_2i, sc_2i+1), 784 for each step
// t = 0..63 the values 4t..4t+3 of each row. The integer sums per row are
// the one-row kernel's exact ones, in lane r, and the float operations
// per lane its scalar ones: dotQ6KActGo's bits for each row. Value
// products (≤ 2·63·128 per pair) add up in 16 bits over two steps.

// Y2 = the products of step t's values with its activations (int16 pairs).
#define Q6KPSTEP(t, R, B) \
	VMOVDQU      (784+32*(t))(SI), R \
	VPBROADCASTD (4+4*(t))(DI), B    \
	VPMADDUBSW   B, R, R

// Group g (steps 4g..4g+3): Y1 += sc_g · Σ q·a, lane by lane.
#define Q6KPGROUP(g) \
	Q6KPSTEP(4*(g), Y2, Y6)          \
	Q6KPSTEP(4*(g)+1, Y3, Y7)        \
	VPADDW   Y3, Y2, Y2              \
	VPMADDWD (16+32*(g))(SI), Y2, Y2 \
	VPADDD   Y2, Y1, Y1              \
	Q6KPSTEP(4*(g)+2, Y4, Y6)        \
	Q6KPSTEP(4*(g)+3, Y5, Y7)        \
	VPADDW   Y5, Y4, Y4              \
	VPMADDWD (16+32*(g))(SI), Y4, Y4 \
	VPADDD   Y4, Y1, Y1

// func dotQ6KPackedX8AVX2(p *byte, xq *byte, nb int, out *float32)
// Eight rows: the group at p, into out[0..7].
TEXT ·dotQ6KPackedX8AVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), BX
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JE    q6kp8done

q6kp8loop:
	VPXOR Y1, Y1, Y1
	Q6KPGROUP(0)
	Q6KPGROUP(1)
	Q6KPGROUP(2)
	Q6KPGROUP(3)
	Q6KPGROUP(4)
	Q6KPGROUP(5)
	Q6KPGROUP(6)
	Q6KPGROUP(7)
	Q6KPGROUP(8)
	Q6KPGROUP(9)
	Q6KPGROUP(10)
	Q6KPGROUP(11)
	Q6KPGROUP(12)
	Q6KPGROUP(13)
	Q6KPGROUP(14)
	Q6KPGROUP(15)

	Q6KPFINISH

	ADDQ $2832, SI
	ADDQ $292, DI
	DECQ CX
	JNE  q6kp8loop

q6kp8done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET
