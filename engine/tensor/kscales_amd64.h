// Q4K_SCALES unpacks the 12 bytes of 6-bit scales and mins of the Q4_K or
// Q5_K block at SI (bytes 4..15) as ggml's kmask trick does: SC gets the 8
// scales and MN the 8 mins, one byte each. B, C and T1..T3 are clobbered.
#define Q4K_SCALES(SC, MN, B, C, T1, T2, T3) \
	MOVL 4(SI), SC                \
	MOVL 8(SI), B                 \
	MOVL 12(SI), C                \
	MOVL C, T1                    \
	SHRL $4, T1                   \
	ANDL $0x0f0f0f0f, T1          \
	MOVL B, T2                    \
	SHRL $6, T2                   \
	ANDL $0x03030303, T2          \
	SHLL $4, T2                   \
	ORL  T2, T1 /* mins 4..7 */   \
	MOVL B, MN                    \
	ANDL $0x3f3f3f3f, MN          \
	MOVL C, T2                    \
	ANDL $0x0f0f0f0f, T2          \
	MOVL SC, T3                   \
	SHRL $6, T3                   \
	ANDL $0x03030303, T3          \
	SHLL $4, T3                   \
	ORL  T3, T2 /* scales 4..7 */ \
	ANDL $0x3f3f3f3f, SC          \
	SHLQ $32, T2                  \
	ORQ  T2, SC                   \
	SHLQ $32, T1                  \
	ORQ  T1, MN
