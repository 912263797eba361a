//go:build amd64 && !purego

#include "textflag.h"
#include "act_amd64.h"

DATA qact<>+0(SB)/4, $0x7fffffff  // |x| mask
DATA qact<>+4(SB)/4, $0x42fe0000  // 127
DATA qact<>+8(SB)/4, $0xc2fe0000  // -127
DATA qact<>+12(SB)/4, $0x3f800000 // 1
GLOBL qact<>(SB), RODATA|NOPTR, $16

// func quantizeQ8_0AVX512(x *float32, nb int, dst *byte)
// quantizeActQ8_0 for nb blocks: d = fp16(amax/127), q = round-to-even
// (MXCSR's rounding) of x·(127/amax); a block of zeros is all zeros.
TEXT ·quantizeQ8_0AVX512(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         dst+16(FP), DI
	VBROADCASTSS qact<>+0(SB), Z31
	VMOVSS       qact<>+4(SB), X30
	VXORPS       X15, X15, X15

q80block:
	VMOVUPS  (SI), Z0
	VMOVUPS  64(SI), Z1
	AMAX32
	VUCOMISS X15, X2
	JEQ      q80zero
	VDIVSS   X30, X2, X4    // amax/127
	VCVTPS2PH $0, X4, X4
	VMOVD    X4, AX
	MOVW     AX, (DI)
	Q8ROUND32
	VPMOVSDB Z0, X0
	VPMOVSDB Z1, X1
	VMOVDQU  X0, 2(DI)
	VMOVDQU  X1, 18(DI)
	JMP      q80next

q80zero:
	MOVW    $0, (DI)
	VMOVDQU X15, 2(DI)
	VMOVDQU X15, 18(DI)

q80next:
	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  q80block
	VZEROUPPER
	RET

// func quantizeQ8KAVX512(x *float32, nb int, dst *byte)
// quantizeActQ8K for nb blocks of 256: mx is the first element of largest
// magnitude, iscale = -127/mx, d = 1/iscale, q = round-to-even of iscale·x
// (|q| <= 127, VPMOVSDB saturates; Go caps at 127), and the sums of each 16 q as int16; a block of zeros is all
// zeros.
TEXT ·quantizeQ8KAVX512(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         dst+16(FP), DI
	VBROADCASTSS qact<>+0(SB), Z31
	VXORPS       X15, X15, X15

qkblock:
	// amax over 256 floats: 16 vectors, max-reduced pairwise.
	VANDPS (SI), Z31, Z16
	VANDPS 64(SI), Z31, Z17
	VANDPS 128(SI), Z31, Z18
	VANDPS 192(SI), Z31, Z19
	VANDPS 256(SI), Z31, Z20
	VANDPS 320(SI), Z31, Z21
	VANDPS 384(SI), Z31, Z22
	VANDPS 448(SI), Z31, Z23
	VANDPS 512(SI), Z31, Z24
	VANDPS 576(SI), Z31, Z25
	VANDPS 640(SI), Z31, Z26
	VANDPS 704(SI), Z31, Z27
	VANDPS 768(SI), Z31, Z0
	VANDPS 832(SI), Z31, Z1
	VANDPS 896(SI), Z31, Z2
	VANDPS 960(SI), Z31, Z3
	VMAXPS Z17, Z16, Z16
	VMAXPS Z19, Z18, Z18
	VMAXPS Z21, Z20, Z20
	VMAXPS Z23, Z22, Z22
	VMAXPS Z25, Z24, Z24
	VMAXPS Z27, Z26, Z26
	VMAXPS Z1, Z0, Z0
	VMAXPS Z3, Z2, Z2
	VMAXPS Z18, Z16, Z16
	VMAXPS Z22, Z20, Z20
	VMAXPS Z26, Z24, Z24
	VMAXPS Z2, Z0, Z0
	VMAXPS Z20, Z16, Z16
	VMAXPS Z0, Z24, Z24
	VMAXPS   Z24, Z16, Z2
	HMAX16                  // amax in every lane
	VUCOMISS      X15, X2
	JEQ           qkzero

	// mx: the first element whose magnitude is amax.
	VBROADCASTSS X2, Z2
	XORQ         BX, BX

qkfind:
	VANDPS   (SI)(BX*1), Z31, Z3
	VCMPPS   $0, Z2, Z3, K1
	KMOVW    K1, AX
	TESTL    AX, AX
	JNZ      qkfound
	ADDQ     $64, BX
	JMP      qkfind

qkfound:
	TZCNTL   AX, AX
	LEAQ     (BX)(AX*4), AX
	VMOVSS   (SI)(AX*1), X3    // mx
	VMOVSS   qact<>+8(SB), X4
	VDIVSS   X3, X4, X4        // iscale = -127/mx
	VMOVSS   qact<>+12(SB), X5
	VDIVSS   X4, X5, X5        // d = 1/iscale
	VMOVSS   X5, (DI)
	VBROADCASTSS X4, Z4
	XORQ     BX, BX
	LEAQ     4(DI), R8
	LEAQ     260(DI), R9

qkquant:
	VMULPS        (SI)(BX*1), Z4, Z0
	VCVTPS2DQ     Z0, Z0
	VPMOVSDB      Z0, (R8)
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4E, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xB1, X0, X1
	VPADDD        X1, X0, X0
	VMOVD         X0, AX
	MOVW          AX, (R9)
	ADDQ          $64, BX
	ADDQ          $16, R8
	ADDQ          $2, R9
	CMPQ          BX, $1024
	JNE           qkquant
	JMP           qknext

qkzero:
	VMOVDQU64 Z15, (DI)
	VMOVDQU64 Z15, 64(DI)
	VMOVDQU64 Z15, 128(DI)
	VMOVDQU64 Z15, 192(DI)
	VMOVDQU   Y15, 256(DI)
	MOVL      $0, 288(DI)

qknext:
	ADDQ $1024, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  qkblock
	VZEROUPPER
	RET

// func quantizeQ8GEMMAVX512(x *float32, nb int, dst *byte)
// quantizeQ8GEMMGo: per block of 32, amax = max |x|, d = fp16(amax/127)
// (stored as float32), q = round-to-even(x·(127/amax)) (MXCSR's rounding),
// -128·Σq, as ggml's quantize_row_q8_0 rounds.
TEXT ·quantizeQ8GEMMAVX512(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         dst+16(FP), DI
	VBROADCASTSS qact<>+0(SB), Z31
	VMOVSS       qact<>+4(SB), X30
	VXORPS       X15, X15, X15

qgblock:
	VMOVUPS       (SI), Z0
	VMOVUPS       64(SI), Z1
	AMAX32                        // amax in every lane
	VUCOMISS      X15, X2
	JEQ           qgzero
	VDIVSS        X30, X2, X4     // amax/127
	VCVTPS2PH     $0, X4, X4
	VCVTPH2PS     X4, X4          // d, rounded through fp16
	VMOVSS        X4, (DI)
	Q8ROUND32
	VPADDD        Z1, Z0, Z2
	VEXTRACTI64X4 $1, Z2, Y3
	VPADDD        Y3, Y2, Y2
	VEXTRACTI128  $1, Y2, X3
	VPADDD        X3, X2, X2
	VPSHUFD       $0x4E, X2, X3
	VPADDD        X3, X2, X2
	VPSHUFD       $0xB1, X2, X3
	VPADDD        X3, X2, X2      // Σq
	VPSLLD        $7, X2, X2
	VPSUBD        X2, X15, X2     // -128·Σq
	VMOVD         X2, 4(DI)
	VPMOVSDB      Z0, X0
	VPMOVSDB      Z1, X1
	VMOVDQU       X0, 8(DI)
	VMOVDQU       X1, 24(DI)
	JMP           qgnext

qgzero:
	VMOVDQU X15, (DI)
	VMOVDQU X15, 16(DI)
	VMOVQ   X15, 32(DI)

qgnext:
	ADDQ $128, SI
	ADDQ $40, DI
	DECQ CX
	JNZ  qgblock
	VZEROUPPER
	RET
