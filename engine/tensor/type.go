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
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	BF16 Type = 30
)

// SupportedTypes lists every supported type (those Valid), in id order.
func SupportedTypes() []Type {
	return []Type{F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16}
}

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

// layout describes a ggml type: its name and block shape.
type layout struct {
	name       string
	blockSize  int
	blockBytes int
}

// layouts covers every type id ggml still writes to files, supported or
// not, so that files holding other types can be parsed and their sizes
// checked (from ggml.c's type_traits).
var layouts = [...]layout{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, Q4_0: {"Q4_0", 32, q4_0Size},
	Q4_1: {"Q4_1", 32, q4_1Size}, Q5_0: {"Q5_0", 32, q5_0Size}, Q5_1: {"Q5_1", 32, q5_1Size},
	Q8_0: {"Q8_0", 32, q8_0Size}, 9: {"Q8_1", 32, 36},
	10: {"Q2_K", qkK, 84}, 11: {"Q3_K", qkK, 110}, Q4_K: {"Q4_K", qkK, q4KSize},
	Q5_K: {"Q5_K", qkK, q5KSize}, Q6_K: {"Q6_K", qkK, q6KSize}, 15: {"Q8_K", qkK, 292},
	16: {"IQ2_XXS", qkK, 66}, 17: {"IQ2_XS", qkK, 74}, 18: {"IQ3_XXS", qkK, 98},
	19: {"IQ1_S", qkK, 50}, 20: {"IQ4_NL", 32, 18}, 21: {"IQ3_S", qkK, 110},
	22: {"IQ2_S", qkK, 82}, 23: {"IQ4_XS", qkK, 136},
	24: {"I8", 1, 1}, 25: {"I16", 1, 2}, 26: {"I32", 1, 4}, 27: {"I64", 1, 8},
	28: {"F64", 1, 8}, 29: {"IQ1_M", qkK, 56}, BF16: {"BF16", 1, 2},
	34: {"TQ1_0", qkK, 54}, 35: {"TQ2_0", qkK, 66},
}

func (t Type) String() string {
	if t.Known() {
		return layouts[t].name
	}
	return "Type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// ParseType returns the supported type with the given name, as printed by
// String (case-sensitive, e.g. "Q8_0").
func ParseType(name string) (Type, error) {
	for _, t := range SupportedTypes() {
		if t.String() == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown or unsupported type %q", name)
}

// Valid reports whether t is one of the supported types, those this
// package can quantize, dequantize and multiply.
func (t Type) Valid() bool {
	switch t {
	case F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K:
		return true
	}
	return false
}

// Known reports whether t is a ggml type whose block layout is known,
// even if it is not supported (such as Q5_K): its sizes can be computed.
func (t Type) Known() bool { return int(t) < len(layouts) && layouts[t].blockSize != 0 }

// BlockSize is the number of elements in one block of t (1 for the
// unblocked types), or 0 if t is not Known.
func (t Type) BlockSize() int {
	if !t.Known() {
		return 0
	}
	return layouts[t].blockSize
}

// BlockBytes is the size in bytes of one block of t, or 0 if t is not
// Known.
func (t Type) BlockBytes() int {
	if !t.Known() {
		return 0
	}
	return layouts[t].blockBytes
}

// RowBytes is the size in bytes of n elements of type t. It fails if t is
// not Known or n is not a whole number of blocks.
func RowBytes(t Type, n int) (int, error) {
	bs := t.BlockSize()
	if bs == 0 {
		return 0, fmt.Errorf("tensor: unknown type %v", t)
	}
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("tensor: %d elements is not a multiple of the %v block size %d", n, t, bs)
	}
	return n / bs * t.BlockBytes(), nil
}
