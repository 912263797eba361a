// Macros shared by the quantized-activation kernels (dotact_amd64.s,
// dotvnni_amd64.s).

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
