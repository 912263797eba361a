//go:build amd64 && !purego

#include "textflag.h"

// Constants of Expf, in its order (swiglu.go), float32.
DATA swiglu<>+0(SB)/4, $0x80000000 // sign
DATA swiglu<>+4(SB)/4, $0x3f000000 // half
DATA swiglu<>+8(SB)/4, $0x3fb8aa3b // log2e
DATA swiglu<>+12(SB)/4, $0x3f318000 // ln2hi
DATA swiglu<>+16(SB)/4, $0xb95e8083 // ln2lo
DATA swiglu<>+20(SB)/4, $0x39506967 // c0
DATA swiglu<>+24(SB)/4, $0x3ab743ce // c1
DATA swiglu<>+28(SB)/4, $0x3c088908 // c2
DATA swiglu<>+32(SB)/4, $0x3d2aa9c1 // c3
DATA swiglu<>+36(SB)/4, $0x3e2aaaaa // c4
DATA swiglu<>+40(SB)/4, $0x3f000000 // c5
DATA swiglu<>+44(SB)/4, $0x3f800000 // one
DATA swiglu<>+48(SB)/4, $0xc2ae0000 // lo
DATA swiglu<>+52(SB)/4, $0x42b00000 // hi
DATA swiglu<>+56(SB)/4, $0x0000007f // bias
GLOBL swiglu<>(SB), RODATA|NOPTR, $60

#define C(off) swiglu<>+off(SB)

// func swigluAVX2(x, y *float32, n int) int
// x[i] = Silu(x[i])*y[i] for i in [0, n), n a positive multiple of 8,
// eight at a time with Expf's float32 operations in its order (no FMA),
// so its bits; it stops at the first eight whose exponent arguments -x[i]
// are not all in [-87, 88] (where Expf takes no special case and 2^n is
// a normal float32), and returns how many it did.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	VBROADCASTSS C(0), Y15
	VBROADCASTSS C(44), Y14
	VBROADCASTSS C(48), Y13
	VBROADCASTSS C(52), Y12

loop:
	VMOVUPS   (SI)(AX*4), Y0      // v
	VXORPS    Y15, Y0, Y1         // x = -v
	VCMPPS    $0x1D, Y13, Y1, Y2  // x >= -87 (ordered)
	VCMPPS    $0x12, Y12, Y1, Y3  // x <= 88 (ordered)
	VANDPS    Y3, Y2, Y2
	VMOVMSKPS Y2, DX
	CMPL      DX, $0xff
	JNE       done

	// n = int32(x*log2e ± 0.5), the sign of x*log2e
	VBROADCASTSS C(8), Y6
	VMULPS       Y6, Y1, Y2
	VANDPS       Y15, Y2, Y3
	VBROADCASTSS C(4), Y4
	VORPS        Y4, Y3, Y3
	VADDPS       Y3, Y2, Y2
	VCVTTPS2DQ   Y2, Y2           // n
	VCVTDQ2PS    Y2, Y3           // float32(n)
	// r = x - n*ln2hi - n*ln2lo
	VBROADCASTSS C(12), Y6
	VMULPS       Y6, Y3, Y4
	VSUBPS       Y4, Y1, Y1
	VBROADCASTSS C(16), Y6
	VMULPS       Y6, Y3, Y4
	VSUBPS       Y4, Y1, Y1
	// p = ((((c0·r + c1)·r + c2)·r + c3)·r + c4)·r + c5
	VBROADCASTSS C(20), Y5
	VMULPS       Y1, Y5, Y5
	VBROADCASTSS C(24), Y6
	VADDPS       Y6, Y5, Y5
	VMULPS       Y1, Y5, Y5
	VBROADCASTSS C(28), Y6
	VADDPS       Y6, Y5, Y5
	VMULPS       Y1, Y5, Y5
	VBROADCASTSS C(32), Y6
	VADDPS       Y6, Y5, Y5
	VMULPS       Y1, Y5, Y5
	VBROADCASTSS C(36), Y6
	VADDPS       Y6, Y5, Y5
	VMULPS       Y1, Y5, Y5
	VBROADCASTSS C(40), Y6
	VADDPS       Y6, Y5, Y5
	// y = p·r·r + r + 1
	VMULPS       Y1, Y5, Y5
	VMULPS       Y1, Y5, Y5
	VADDPS       Y1, Y5, Y5
	VADDPS       Y14, Y5, Y5
	// e = y · 2^n
	VPBROADCASTD C(56), Y6
	VPADDD       Y6, Y2, Y2
	VPSLLD       $23, Y2, Y2
	VMULPS       Y2, Y5, Y5
	// g = v / (1 + e) · u
	VADDPS       Y14, Y5, Y5
	VDIVPS       Y5, Y0, Y0
	VMULPS       (DI)(AX*4), Y0, Y0
	VMOVUPS      Y0, (SI)(AX*4)
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          loop

done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
