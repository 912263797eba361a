//go:build amd64 && !purego

#include "textflag.h"

// Constants of gelu and tanhf (gelu.go), float32.
DATA gelu<>+0(SB)/4, $0x3f4c422a // c
DATA gelu<>+4(SB)/4, $0x3d372713 // k
DATA gelu<>+8(SB)/4, $0x3f800000 // one
DATA gelu<>+12(SB)/4, $0x3f000000 // half
DATA gelu<>+16(SB)/4, $0x40fcf84f // clamp
DATA gelu<>+20(SB)/4, $0xc0fcf84f // mclamp
DATA gelu<>+24(SB)/4, $0xa59f25c0 // p0
DATA gelu<>+28(SB)/4, $0x2a61337e // p1
DATA gelu<>+32(SB)/4, $0xaebd37ff // p2
DATA gelu<>+36(SB)/4, $0x335c0041 // p3
DATA gelu<>+40(SB)/4, $0x3779434a // p4
DATA gelu<>+44(SB)/4, $0x3a270ded // p5
DATA gelu<>+48(SB)/4, $0x3ba059dc // p6
DATA gelu<>+52(SB)/4, $0x35a0d3d8 // q0
DATA gelu<>+56(SB)/4, $0x38f895d6 // q1
DATA gelu<>+60(SB)/4, $0x3b14aa05 // q2
DATA gelu<>+64(SB)/4, $0x3ba059dd // q3
GLOBL gelu<>(SB), RODATA|NOPTR, $68

// func geluAVX512(x *float32, n int)
// x[i] = gelu(x[i]) for i in [0, n), n a positive multiple of 16, with
// gelu's float32 operations in its order (no FMA), so its bits. The
// constants live in Z15-Z31.
TEXT ·geluAVX512(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS gelu<>+0(SB), Z15
	VBROADCASTSS gelu<>+4(SB), Z16
	VBROADCASTSS gelu<>+8(SB), Z17
	VBROADCASTSS gelu<>+12(SB), Z18
	VBROADCASTSS gelu<>+16(SB), Z19
	VBROADCASTSS gelu<>+20(SB), Z20
	VBROADCASTSS gelu<>+24(SB), Z21
	VBROADCASTSS gelu<>+28(SB), Z22
	VBROADCASTSS gelu<>+32(SB), Z23
	VBROADCASTSS gelu<>+36(SB), Z24
	VBROADCASTSS gelu<>+40(SB), Z25
	VBROADCASTSS gelu<>+44(SB), Z26
	VBROADCASTSS gelu<>+48(SB), Z27
	VBROADCASTSS gelu<>+52(SB), Z28
	VBROADCASTSS gelu<>+56(SB), Z29
	VBROADCASTSS gelu<>+60(SB), Z30
	VBROADCASTSS gelu<>+64(SB), Z31
loop:
	VMOVUPS (SI), Z0            // x
	VMULPS  Z16, Z0, Z1       // 0.044715x
	VMULPS  Z0, Z1, Z1          // ·x
	VADDPS  Z17, Z1, Z1     // 1+
	VMULPS  Z15, Z0, Z2       // cx
	VMULPS  Z1, Z2, Z2          // u
	VMAXPS  Z20, Z2, Z2
	VMINPS  Z19, Z2, Z2
	VMULPS  Z2, Z2, Z3          // u²
	VMOVAPS Z21, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z22, Z4, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z23, Z4, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z24, Z4, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z25, Z4, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z26, Z4, Z4
	VMULPS  Z3, Z4, Z4
	VADDPS  Z27, Z4, Z4
	VMOVAPS Z28, Z5
	VMULPS  Z3, Z5, Z5
	VADDPS  Z29, Z5, Z5
	VMULPS  Z3, Z5, Z5
	VADDPS  Z30, Z5, Z5
	VMULPS  Z3, Z5, Z5
	VADDPS  Z31, Z5, Z5
	VMULPS  Z4, Z2, Z4          // u·p
	VDIVPS  Z5, Z4, Z4          // tanh
	VADDPS  Z17, Z4, Z4     // 1+tanh
	VMULPS  Z18, Z0, Z0    // 0.5x
	VMULPS  Z4, Z0, Z0
	VMOVUPS Z0, (SI)
	ADDQ    $64, SI
	SUBQ    $16, CX
	JNZ     loop
	VZEROUPPER
	RET
