package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// ValueType is the type of a GGUF metadata value.
type ValueType uint32

// The GGUF metadata value types; the values appear in files.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "ValueType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Valid reports whether t is a GGUF value type.
func (t ValueType) Valid() bool { return int(t) < len(typeNames) }

// size is the encoded size of a fixed-size type, 0 for strings and arrays.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

func (t ValueType) signed() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

func (t ValueType) unsigned() bool {
	return t == TypeUint8 || t == TypeUint16 || t == TypeUint32 || t == TypeUint64
}

// Value is one metadata value of any type, arrays included; the zero Value
// is a UINT8 0. Arrays of numbers are kept in their encoded little-endian
// form, so a 150k-entry vocabulary table costs its file size, not a Value
// per entry.
type Value struct {
	typ  ValueType
	bits uint64 // scalars: integer bits sign-extended, float bits, bool 0/1
	str  string

	elem ValueType // arrays
	n    int       // array length
	raw  []byte    // fixed-size element arrays, n*elem.size() bytes
	strs []string  // string arrays
	arrs []Value   // arrays of arrays
}

// Type is the value's type; for arrays see also ElemType.
func (v Value) Type() ValueType { return v.typ }

// ElemType is the element type of an array value.
func (v Value) ElemType() ValueType { return v.elem }

// Len is the number of elements of an array value, 0 for scalars.
func (v Value) Len() int { return v.n }

// Uint64 returns an integer value that is not negative.
func (v Value) Uint64() (uint64, bool) {
	switch {
	case v.typ.unsigned():
		return v.bits, true
	case v.typ.signed() && int64(v.bits) >= 0:
		return v.bits, true
	}
	return 0, false
}

// Int64 returns an integer value that fits in an int64.
func (v Value) Int64() (int64, bool) {
	switch {
	case v.typ.signed():
		return int64(v.bits), true
	case v.typ.unsigned() && v.bits <= math.MaxInt64:
		return int64(v.bits), true
	}
	return 0, false
}

// Float64 returns a float value, or an integer value exactly representable
// as a float64.
func (v Value) Float64() (float64, bool) {
	switch v.typ {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), true
	case TypeFloat64:
		return math.Float64frombits(v.bits), true
	}
	if i, ok := v.Int64(); ok && i >= -1<<53 && i <= 1<<53 {
		return float64(i), true
	}
	if u, ok := v.Uint64(); ok && u <= 1<<53 {
		return float64(u), true
	}
	return 0, false
}

// String returns a string value.
func (v Value) String() (string, bool) { return v.str, v.typ == TypeString }

// Bool returns a bool value.
func (v Value) Bool() (bool, bool) { return v.bits != 0, v.typ == TypeBool }

// Strings returns an array of strings.
func (v Value) Strings() ([]string, bool) {
	if v.typ != TypeArray || v.elem != TypeString {
		return nil, false
	}
	return v.strs, true
}

// Float32s returns an array of FLOAT32 (converted from the encoded form).
func (v Value) Float32s() ([]float32, bool) {
	if v.typ != TypeArray || v.elem != TypeFloat32 {
		return nil, false
	}
	out := make([]float32, v.n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(v.raw[4*i:]))
	}
	return out, true
}

// Int32s returns an array of integers that all fit in an int32.
func (v Value) Int32s() ([]int32, bool) {
	if v.typ != TypeArray || !(v.elem.signed() || v.elem.unsigned()) {
		return nil, false
	}
	out := make([]int32, v.n)
	for i := range out {
		e := v.index(i)
		x, ok := e.Int64()
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

// Array returns the elements of an array value.
func (v Value) Array() ([]Value, bool) {
	if v.typ != TypeArray {
		return nil, false
	}
	out := make([]Value, v.n)
	for i := range out {
		out[i] = v.index(i)
	}
	return out, true
}

// index returns element i of an array.
func (v Value) index(i int) Value {
	switch v.elem {
	case TypeString:
		return String(v.strs[i])
	case TypeArray:
		return v.arrs[i]
	}
	sz := v.elem.size()
	return scalarFromBytes(v.elem, v.raw[i*sz:(i+1)*sz])
}

// scalarFromBytes decodes a fixed-size scalar of type t from b.
func scalarFromBytes(t ValueType, b []byte) Value {
	var bits uint64
	switch t {
	case TypeUint8, TypeBool:
		bits = uint64(b[0])
	case TypeInt8:
		bits = uint64(int64(int8(b[0])))
	case TypeUint16:
		bits = uint64(binary.LittleEndian.Uint16(b))
	case TypeInt16:
		bits = uint64(int64(int16(binary.LittleEndian.Uint16(b))))
	case TypeUint32, TypeFloat32:
		bits = uint64(binary.LittleEndian.Uint32(b))
	case TypeInt32:
		bits = uint64(int64(int32(binary.LittleEndian.Uint32(b))))
	case TypeUint64, TypeInt64, TypeFloat64:
		bits = binary.LittleEndian.Uint64(b)
	}
	if t == TypeBool && bits > 1 {
		bits = 1
	}
	return Value{typ: t, bits: bits}
}

// appendScalar appends the encoding of a fixed-size scalar.
func appendScalar(b []byte, v Value) []byte {
	switch v.typ.size() {
	case 1:
		return append(b, byte(v.bits))
	case 2:
		return binary.LittleEndian.AppendUint16(b, uint16(v.bits))
	case 4:
		return binary.LittleEndian.AppendUint32(b, uint32(v.bits))
	}
	return binary.LittleEndian.AppendUint64(b, v.bits)
}

// GoString renders the value for debugging and error messages.
func (v Value) GoString() string {
	switch {
	case v.typ == TypeString:
		return strconv.Quote(v.str)
	case v.typ == TypeBool:
		return strconv.FormatBool(v.bits != 0)
	case v.typ == TypeFloat32 || v.typ == TypeFloat64:
		f, _ := v.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case v.typ.signed():
		return strconv.FormatInt(int64(v.bits), 10)
	case v.typ.unsigned():
		return strconv.FormatUint(v.bits, 10)
	case v.typ == TypeArray:
		return fmt.Sprintf("[%d]%v", v.n, v.elem)
	}
	return "<invalid>"
}

// Uint8 is a UINT8 value.
func Uint8(x uint8) Value { return Value{typ: TypeUint8, bits: uint64(x)} }

// Int8 is an INT8 value.
func Int8(x int8) Value { return Value{typ: TypeInt8, bits: uint64(int64(x))} }

// Uint16 is a UINT16 value.
func Uint16(x uint16) Value { return Value{typ: TypeUint16, bits: uint64(x)} }

// Int16 is an INT16 value.
func Int16(x int16) Value { return Value{typ: TypeInt16, bits: uint64(int64(x))} }

// Uint32 is a UINT32 value.
func Uint32(x uint32) Value { return Value{typ: TypeUint32, bits: uint64(x)} }

// Int32 is an INT32 value.
func Int32(x int32) Value { return Value{typ: TypeInt32, bits: uint64(int64(x))} }

// Uint64 is a UINT64 value.
func Uint64(x uint64) Value { return Value{typ: TypeUint64, bits: x} }

// Int64 is an INT64 value.
func Int64(x int64) Value { return Value{typ: TypeInt64, bits: uint64(x)} }

// Float32 is a FLOAT32 value.
func Float32(x float32) Value {
	return Value{typ: TypeFloat32, bits: uint64(math.Float32bits(x))}
}

// Float64 is a FLOAT64 value.
func Float64(x float64) Value { return Value{typ: TypeFloat64, bits: math.Float64bits(x)} }

// String is a STRING value.
func String(s string) Value { return Value{typ: TypeString, str: s} }

// Bool is a BOOL value.
func Bool(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.bits = 1
	}
	return v
}

// Strings is an array of strings.
func Strings(s []string) Value {
	return Value{typ: TypeArray, elem: TypeString, n: len(s), strs: s}
}

// Float32s is an array of FLOAT32.
func Float32s(x []float32) Value {
	raw := make([]byte, 0, 4*len(x))
	for _, f := range x {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	return Value{typ: TypeArray, elem: TypeFloat32, n: len(x), raw: raw}
}

// Int32s is an array of INT32.
func Int32s(x []int32) Value {
	raw := make([]byte, 0, 4*len(x))
	for _, i := range x {
		raw = binary.LittleEndian.AppendUint32(raw, uint32(i))
	}
	return Value{typ: TypeArray, elem: TypeInt32, n: len(x), raw: raw}
}

// ArrayOf is an array of elem values. It panics if an element is not of
// type elem, like a failed conversion would.
func ArrayOf(elem ValueType, vs []Value) Value {
	if !elem.Valid() {
		panic(fmt.Sprintf("gguf: ArrayOf invalid element type %v", elem))
	}
	v := Value{typ: TypeArray, elem: elem, n: len(vs)}
	for i, e := range vs {
		if e.typ != elem {
			panic(fmt.Sprintf("gguf: ArrayOf %v: element %d is %v", elem, i, e.typ))
		}
	}
	switch elem {
	case TypeString:
		v.strs = make([]string, len(vs))
		for i, e := range vs {
			v.strs[i] = e.str
		}
	case TypeArray:
		v.arrs = append([]Value(nil), vs...)
	default:
		v.raw = make([]byte, 0, len(vs)*elem.size())
		for _, e := range vs {
			v.raw = appendScalar(v.raw, e)
		}
	}
	return v
}
