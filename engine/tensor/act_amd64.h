// Macros shared by the quantized-activation kernels (dotact_amd64.s,
// dotvnni_amd64.s) and the activation quantizers (qact_amd64.s, and
// gemm_amd64.s's for the GEMM layout).

// hsum8 of Y0 into X0[0], in hsum8's order.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0

// X1[0] = fp16 at a times fp16 at b (the conversions read 8 bytes, within
// the blocks).
#define DPROD(a, b) \
	VCVTPH2PS a, X1 \
	VCVTPH2PS b, X2 \
	VMULSS    X2, X1, X1

// Packed Q4_0 (see dotQ4_0PackedX16AVX2): the broadcast activations of
// step k, 8·Σa and d_x of the block at DI, the accumulation and the
// constants (Y7 1s as int16, Y8 0x0f, Y9 0x08).

#define Q40PBCAST(k) \
	VPBROADCASTD (2+4*(k))(DI), Y4 \
	VPBROADCASTD (18+4*(k))(DI), Y5

// Y14 = 8·Σa of the block at DI in every lane, Y15 = its scale d_x.
#define Q40POFFSET \
	VMOVDQU      2(DI), Y4     \
	VPMADDUBSW   Y4, Y9, Y4    \
	VPMADDWD     Y7, Y4, Y4    \
	VEXTRACTI128 $1, Y4, X5    \
	VPADDD       X5, X4, X4    \
	VPSHUFD      $0x4E, X4, X5 \
	VPADDD       X5, X4, X4    \
	VPSHUFD      $0xB1, X4, X5 \
	VPADDD       X5, X4, X4    \
	VPBROADCASTD X4, Y14       \
	VPBROADCASTW (DI), X15     \
	VCVTPH2PS    X15, Y15

// ACC += float(SUM - 8·Σa) · (d_w·d_x), lane by lane, for the group at P,
// SUM holding int32 sums.
#define Q40PACCD(P, SUM, T, ACC) \
	VPSUBD      Y14, SUM, SUM \
	VCVTDQ2PS   SUM, SUM     \
	VCVTPH2PS   (P), T       \
	VMULPS      Y15, T, T    \
	VFMADD231PS T, SUM, ACC

#define Q40PCONSTS \
	MOVL $0x00010001, AX \
	VMOVD AX, X7 \
	VPBROADCASTD X7, Y7 \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X8 \
	VPBROADCASTD X8, Y8 \
	MOVL $0x08080808, AX \
	VMOVD AX, X9 \
	VPBROADCASTD X9, Y9

// The end of a packed Q4_K block (see dotQ4KPackedX8AVX2) for the
// activations at X: the mins, then ACC += d*sumi (SUMI) + dmin*summ. Y14:
// the sign bit; Y4, Y5, Y10-Y13, Y15 are scratch.
#define Q4KPFINISHX(X, SUMI, ACC) \
	VMOVDQU     260(X), X12 \
	VMOVDQU     276(X), X13 \
	VPHADDW     X13, X12, X12 \
	VINSERTI128 $1, X12, Y12, Y12 \
	VPSHUFD     $0x00, Y12, Y13 \
	VPMOVZXBW   96(SI), Y5 \
	VPMADDWD    Y5, Y13, Y15 \
	VPSHUFD     $0x55, Y12, Y13 \
	VPMOVZXBW   112(SI), Y5 \
	VPMADDWD    Y5, Y13, Y13 \
	VPADDD      Y13, Y15, Y15 \
	VPSHUFD     $0xAA, Y12, Y13 \
	VPMOVZXBW   128(SI), Y5 \
	VPMADDWD    Y5, Y13, Y13 \
	VPADDD      Y13, Y15, Y15 \
	VPSHUFD     $0xFF, Y12, Y13 \
	VPMOVZXBW   144(SI), Y5 \
	VPMADDWD    Y5, Y13, Y13 \
	VPADDD      Y13, Y15, Y15 \
	VBROADCASTSS (X), Y4 \
	VCVTPH2PS    (SI), Y10 \
	VMULPS       Y10, Y4, Y10 \
	VCVTPH2PS    16(SI), Y11 \
	VMULPS       Y11, Y4, Y11 \
	VXORPS       Y14, Y11, Y11 \
	VCVTDQ2PS    SUMI, SUMI \
	VMULPS       Y10, SUMI, SUMI \
	VADDPS       SUMI, ACC, ACC \
	VCVTDQ2PS    Y15, Y15 \
	VMULPS       Y11, Y15, Y15 \
	VADDPS       Y15, ACC, ACC

// Q4KPFINISHX for one vector at DI, sumi in Y1, into Y0.
#define Q4KPFINISH Q4KPFINISHX(DI, Y1, Y0)

// Y12 += (sc_2i, sc_2i+1) · (bsums_2i, bsums_2i+1) of the activations at
// X, lane by lane.
#define Q6KPOFF(X, i) \
	VPBROADCASTD (260+4*(i))(X), Y13 \
	VPMADDWD     (528+32*(i))(SI), Y13, Y13 \
	VPADDD       Y13, Y12, Y12

// The end of a packed Q6_K block (see dotQ6KPackedX8AVX2) for the
// activations at X: the -32 offset, then ACC += d*sumi (SUMI). Y9, Y10,
// Y12, Y13 are scratch.
#define Q6KPFINISHX(X, SUMI, ACC) \
	VPXOR Y12, Y12, Y12 \
	Q6KPOFF(X, 0) \
	Q6KPOFF(X, 1) \
	Q6KPOFF(X, 2) \
	Q6KPOFF(X, 3) \
	Q6KPOFF(X, 4) \
	Q6KPOFF(X, 5) \
	Q6KPOFF(X, 6) \
	Q6KPOFF(X, 7) \
	VPSLLD $5, Y12, Y12 \
	VPSUBD Y12, SUMI, SUMI \
	VBROADCASTSS (X), Y9 \
	VCVTPH2PS    (SI), Y10 \
	VMULPS       Y10, Y9, Y10 \
	VCVTDQ2PS    SUMI, SUMI \
	VMULPS       Y10, SUMI, SUMI \
	VADDPS       SUMI, ACC, ACC

// Q6KPFINISHX for one vector at DI, sumi in Y1, into Y0.
#define Q6KPFINISH Q6KPFINISHX(DI, Y1, Y0)

// Four-vector packed Q4_0 (see dotQ4_0PackedX8x4AVX2). Step k: nibbles
// in Y11 (elements 4k..) and Y12 (4k+16..) of the eight rows.
#define Q40X4LOAD(k) \
	VMOVDQU (16+32*(k))(SI), Y11 \
	VPSRLW  $4, Y11, Y12         \
	VPAND   Y8, Y11, Y11         \
	VPAND   Y8, Y12, Y12

// ACC += float(SUM - 8·Σa) · (d_w·d_x) for vector j, SUM holding int32
// sums.
#define Q40X4ACCD(j, SUM, ACC) \
	VPBROADCASTD (8*(j))(R8), Y13   \
	VPSUBD       Y13, SUM, SUM      \
	VCVTDQ2PS    SUM, SUM           \
	VBROADCASTSS (4+8*(j))(R8), Y14 \
	VMULPS       Y14, Y15, Y14      \
	VFMADD231PS  Y14, SUM, ACC

// HMAX16 leaves the largest of Z2's 16 floats in every lane of X2
// (clobbers Z3).
#define HMAX16 \
	VEXTRACTF64X4 $1, Z2, Y3    \
	VMAXPS        Y3, Y2, Y2    \
	VEXTRACTF128  $1, Y2, X3    \
	VMAXPS        X3, X2, X2    \
	VPERMILPS     $0x4E, X2, X3 \
	VMAXPS        X3, X2, X2    \
	VPERMILPS     $0xB1, X2, X3 \
	VMAXPS        X3, X2, X2

// AMAX32 leaves max |x| of the 32 floats in Z0, Z1 in every lane of X2
// (Z31 the |x| mask; clobbers Z3).
#define AMAX32 \
	VANDPS Z31, Z0, Z2 \
	VANDPS Z31, Z1, Z3 \
	VMAXPS Z3, Z2, Z2  \
	HMAX16

// Q8ROUND32 turns the 32 floats in Z0, Z1 into int32 lanes of
// round-to-even(x·(127/amax)) (MXCSR's rounding), X30 = 127 and X2 = amax
// (clobbers Z5).
#define Q8ROUND32 \
	VDIVSS       X2, X30, X5 \
	VBROADCASTSS X5, Z5      \
	VMULPS       Z5, Z0, Z0  \
	VMULPS       Z5, Z1, Z1  \
	VCVTPS2DQ    Z0, Z0      \
	VCVTPS2DQ    Z1, Z1
