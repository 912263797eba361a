// Package tensor holds the numeric kernels of the local inference engine:
// ggml's block-quantized weight formats (quantize, dequantize, dot product),
// row-major weight matrices and the worker pool that runs matrix-vector
// products in parallel.
//
// Block layouts are byte-for-byte those of ggml, so weights read from a GGUF
// file are used in place without conversion.
package tensor

import (
	"fmt"
	"strconv"
)

// Type is a ggml tensor type id as stored in GGUF files.
type Type uint32

// The supported ggml types. The values are ggml's and appear in files.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q8_0 Type = 8
	Q4_K Type = 12
	Q6_K Type = 14
	BF16 Type = 30
)

// Types lists every supported type, in id order.
var Types = []Type{F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16}

// Sizes of the quantized blocks, from ggml-common.h.
const (
	qk8_0    = 32
	q8_0Size = 2 + qk8_0 // fp16 d, int8 qs[32]
	qk4_0    = 32
	q4_0Size = 2 + qk4_0/2 // fp16 d, uint8 qs[16]
	qkK      = 256
	q4KSize  = 2 + 2 + 12 + qkK/2         // fp16 d, fp16 dmin, scales[12], qs[128]
	q6KSize  = qkK/2 + qkK/4 + qkK/16 + 2 // ql[128], qh[64], int8 scales[16], fp16 d
)

func (t Type) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case Q4_0:
		return "Q4_0"
	case Q8_0:
		return "Q8_0"
	case Q4_K:
		return "Q4_K"
	case Q6_K:
		return "Q6_K"
	case BF16:
		return "BF16"
	}
	return "Type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// ParseType returns the type with the given name, as printed by String
// (case-sensitive, e.g. "Q8_0").
func ParseType(name string) (Type, error) {
	for _, t := range Types {
		if t.String() == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown type %q", name)
}

// Valid reports whether t is one of the supported types.
func (t Type) Valid() bool { return t.BlockSize() != 0 }

// BlockSize is the number of elements in one block of t (1 for the float
// types), or 0 if t is not supported.
func (t Type) BlockSize() int {
	switch t {
	case F32, F16, BF16:
		return 1
	case Q8_0, Q4_0:
		return 32
	case Q4_K, Q6_K:
		return qkK
	}
	return 0
}

// BlockBytes is the size in bytes of one block of t, or 0 if t is not
// supported.
func (t Type) BlockBytes() int {
	switch t {
	case F32:
		return 4
	case F16, BF16:
		return 2
	case Q8_0:
		return q8_0Size
	case Q4_0:
		return q4_0Size
	case Q4_K:
		return q4KSize
	case Q6_K:
		return q6KSize
	}
	return 0
}

// RowBytes is the size in bytes of n elements of type t. It fails if t is
// not supported or n is not a whole number of blocks.
func RowBytes(t Type, n int) (int, error) {
	bs := t.BlockSize()
	if bs == 0 {
		return 0, fmt.Errorf("tensor: unsupported type %v", t)
	}
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("tensor: %d elements is not a multiple of the %v block size %d", n, t, bs)
	}
	return n / bs * t.BlockBytes(), nil
}
