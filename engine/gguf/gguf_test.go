package gguf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine/tensor"
)

// allValues has one value of every type, arrays of every element type and
// nested arrays.
func allValues() map[string]Value {
	return map[string]Value{
		"u8":        Uint8(200),
		"i8":        Int8(-100),
		"u16":       Uint16(60000),
		"i16":       Int16(-30000),
		"u32":       Uint32(4000000000),
		"i32":       Int32(-2000000000),
		"f32":       Float32(1.5),
		"bool":      Bool(true),
		"str":       String("héllo"),
		"u64":       Uint64(1 << 63),
		"i64":       Int64(-1 << 62),
		"f64":       Float64(math.Pi),
		"empty.str": String(""),

		"a.u8":    ArrayOf(TypeUint8, []Value{Uint8(1), Uint8(255)}),
		"a.i8":    ArrayOf(TypeInt8, []Value{Int8(-1), Int8(127)}),
		"a.u16":   ArrayOf(TypeUint16, []Value{Uint16(65535)}),
		"a.i16":   ArrayOf(TypeInt16, []Value{Int16(-32768)}),
		"a.u32":   ArrayOf(TypeUint32, []Value{Uint32(7), Uint32(8)}),
		"a.i32":   Int32s([]int32{-5, 0, 5}),
		"a.f32":   Float32s([]float32{0.25, -1e10}),
		"a.bool":  ArrayOf(TypeBool, []Value{Bool(true), Bool(false)}),
		"a.str":   Strings([]string{"a", "", "ccc"}),
		"a.u64":   ArrayOf(TypeUint64, []Value{Uint64(math.MaxUint64)}),
		"a.i64":   ArrayOf(TypeInt64, []Value{Int64(math.MinInt64)}),
		"a.f64":   ArrayOf(TypeFloat64, []Value{Float64(-0.5)}),
		"a.empty": ArrayOf(TypeUint32, nil),
		"a.nested": ArrayOf(TypeArray, []Value{
			Strings([]string{"x", "y"}),
			ArrayOf(TypeArray, []Value{Int32s([]int32{1, 2})}),
			Float32s(nil),
		}),
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, version := range []uint32{2, 3} {
		w := NewWriter(version)
		vals := allValues()
		var keys []string
		for k, v := range vals {
			w.AddKV(k, v)
			keys = append(keys, k)
		}
		var buf bytes.Buffer
		n, err := w.WriteTo(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(buf.Len()) {
			t.Errorf("WriteTo returned %d, wrote %d", n, buf.Len())
		}
		f, err := Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		if f.Version != version {
			t.Errorf("version %d, want %d", f.Version, version)
		}
		if !reflect.DeepEqual(f.Keys, keys) {
			t.Errorf("keys %v, want file order %v", f.Keys, keys)
		}
		for k, want := range vals {
			got, ok := f.Metadata[k]
			if !ok {
				t.Errorf("v%d: key %q missing", version, k)
				continue
			}
			if !valuesEqual(got, want) {
				t.Errorf("v%d: %q = %#v (%v), want %#v (%v)", version, k, got, got.Type(), want, want.Type())
			}
		}
	}
}

// valuesEqual compares through the public accessors, so it does not
// depend on the internal representation.
func valuesEqual(a, b Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case TypeArray:
		ea, _ := a.Array()
		eb, _ := b.Array()
		if a.ElemType() != b.ElemType() || len(ea) != len(eb) {
			return false
		}
		for i := range ea {
			if !valuesEqual(ea[i], eb[i]) {
				return false
			}
		}
		return true
	case TypeString:
		sa, _ := a.String()
		sb, _ := b.String()
		return sa == sb
	case TypeBool:
		ba, _ := a.Bool()
		bb, _ := b.Bool()
		return ba == bb
	case TypeFloat32, TypeFloat64:
		fa, _ := a.Float64()
		fb, _ := b.Float64()
		return fa == fb || fa != fa && fb != fb // NaN
	}
	ia, oka := a.Int64()
	ib, okb := b.Int64()
	ua, _ := a.Uint64()
	ub, _ := b.Uint64()
	return oka == okb && ia == ib && ua == ub
}

func TestValueAccessors(t *testing.T) {
	if u, ok := Int32(5).Uint64(); !ok || u != 5 {
		t.Errorf("Int32(5).Uint64() = %d, %v", u, ok)
	}
	if _, ok := Int32(-5).Uint64(); ok {
		t.Error("negative Int32 converted to Uint64")
	}
	if _, ok := Uint64(math.MaxUint64).Int64(); ok {
		t.Error("MaxUint64 converted to Int64")
	}
	if f, ok := Uint32(7).Float64(); !ok || f != 7 {
		t.Errorf("Uint32(7).Float64() = %g, %v", f, ok)
	}
	if _, ok := Uint64(1<<60 + 1).Float64(); ok {
		t.Error("inexact integer converted to Float64")
	}
	if _, ok := String("x").Uint64(); ok {
		t.Error("string converted to Uint64")
	}
	if s, ok := String("x").String(); !ok || s != "x" {
		t.Errorf("String = %q, %v", s, ok)
	}
	if _, ok := Uint8(1).Bool(); ok {
		t.Error("Uint8 converted to Bool")
	}
	if v, ok := ArrayOf(TypeUint8, []Value{Uint8(3), Uint8(250)}).Int32s(); !ok || !reflect.DeepEqual(v, []int32{3, 250}) {
		t.Errorf("Int32s of UINT8 array = %v, %v", v, ok)
	}
	if _, ok := ArrayOf(TypeUint32, []Value{Uint32(math.MaxUint32)}).Int32s(); ok {
		t.Error("Int32s of a UINT32 too big succeeded")
	}
	if v, ok := Float32s([]float32{1, 2}).Float32s(); !ok || !reflect.DeepEqual(v, []float32{1, 2}) {
		t.Errorf("Float32s = %v, %v", v, ok)
	}
	if _, ok := Strings([]string{"a"}).Float32s(); ok {
		t.Error("Float32s of a string array succeeded")
	}
	if _, ok := Uint32(1).Array(); ok {
		t.Error("Array of a scalar succeeded")
	}
}

// testTensors returns a writer with one tensor of every type.
func testTensors(t testing.TB, version uint32) (*Writer, map[string][]float32) {
	w := NewWriter(version)
	w.AddKV("general.architecture", String("test"))
	want := map[string][]float32{}
	for i, typ := range tensor.SupportedTypes() {
		cols := typ.BlockSize() * 2
		if typ.BlockSize() == 1 {
			cols = 8
		}
		vals := make([]float32, 3*cols)
		for j := range vals {
			vals[j] = float32(math.Sin(float64(i*100+j))) * 2
		}
		name := "t." + typ.String()
		if err := w.AddTensorF32(name, typ, []uint64{uint64(cols), 3}, vals); err != nil {
			t.Fatal(err)
		}
		want[name] = vals
	}
	return w, want
}

func TestTensorsRoundTrip(t *testing.T) {
	for _, version := range []uint32{2, 3} {
		for _, align := range []uint64{0, 1, 64, 4096} {
			w, want := testTensors(t, version)
			if align != 0 {
				w.SetAlignment(align)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			wantAlign := align
			if align == 0 {
				wantAlign = DefaultAlignment
			}
			if f.Alignment != wantAlign || f.DataOffset%wantAlign != 0 {
				t.Errorf("alignment %d data offset %d, want alignment %d", f.Alignment, f.DataOffset, wantAlign)
			}
			if arch, _ := f.Str("general.architecture"); arch != "test" {
				t.Errorf("architecture %q", arch)
			}
			for name, vals := range want {
				ti, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("no tensor %q", name)
				}
				if ti.Offset%wantAlign != 0 {
					t.Errorf("%s offset %d not aligned to %d", name, ti.Offset, wantAlign)
				}
				q, _ := tensor.Quantize(ti.Type, vals)
				if !bytes.Equal(f.TensorData(ti), q) {
					t.Errorf("%s: data differs", name)
				}
				m, err := f.Matrix(name)
				if err != nil {
					t.Fatal(err)
				}
				if m.Rows != 3 || m.Cols != len(vals)/3 || m.Type != ti.Type {
					t.Errorf("%s: matrix %v %dx%d", name, m.Type, m.Rows, m.Cols)
				}
				got, err := f.TensorF32(name)
				if err != nil || len(got) != len(vals) {
					t.Fatalf("%s: TensorF32: %d values, %v", name, len(got), err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMatrices3D(t *testing.T) {
	const cols, rows, experts = 64, 3, 4
	vals := make([]float32, cols*rows*experts)
	for i := range vals {
		vals[i] = float32(i % 97)
	}
	w := NewWriter(3)
	if err := w.AddTensorF32("ffn_up_exps", tensor.Q8_0, []uint64{cols, rows, experts}, vals); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "e.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := f.Matrices3D("ffn_up_exps")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != experts {
		t.Fatalf("%d matrices, want %d", len(ms), experts)
	}
	row := make([]float32, cols)
	for e, m := range ms {
		for r := range rows {
			if err := m.RowF32(r, row); err != nil {
				t.Fatal(err)
			}
			for c, got := range row {
				want := vals[(e*rows+r)*cols+c]
				if math.Abs(float64(got-want)) > 0.5 {
					t.Fatalf("expert %d row %d col %d = %g, want %g", e, r, c, got, want)
				}
			}
		}
	}
	if _, err := f.Matrix("ffn_up_exps"); err == nil {
		t.Error("Matrix of a 3-D tensor succeeded")
	}
	if _, err := f.Matrices3D("missing"); err == nil {
		t.Error("Matrices3D of a missing tensor succeeded")
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(3)
	if err := w.AddTensor("a", tensor.Q8_0, []uint64{32}, make([]byte, 33)); err == nil {
		t.Error("wrong data size accepted")
	}
	if err := w.AddTensor("a", tensor.Q8_0, []uint64{31}, make([]byte, 34)); err == nil {
		t.Error("partial block accepted")
	}
	if err := w.AddTensor("a", tensor.Type(99), []uint64{4}, make([]byte, 4)); err == nil {
		t.Error("unknown type accepted")
	}
	if err := w.AddTensor("a", tensor.F32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("a", tensor.F32, []uint64{1}, make([]byte, 4)); err == nil {
		t.Error("duplicate tensor accepted")
	}
	w.SetAlignment(48)
	if _, err := w.WriteTo(new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("alignment 48: %v", err)
	}
	if _, err := NewWriter(1).WriteTo(new(bytes.Buffer)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("version 1: %v", err)
	}
	if err := NewWriter(3).WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// A tensor of a known ggml type without kernels (Q3_K) does not stop the
// file from opening; only using it as a matrix fails.
func TestUnsupportedTensorType(t *testing.T) {
	q3k := tensor.Type(11) // Q3_K
	w := NewWriter(3)
	if err := w.AddTensor("q3k", q3k, []uint64{256, 2}, make([]byte, 2*110)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensorF32("ok", tensor.F32, []uint64{4}, []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "q3k.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ti, ok := f.Tensor("q3k"); !ok || ti.Size != 2*110 || ti.Type != q3k {
		t.Fatalf("q3k tensor: %+v", ti)
	}
	if _, err := f.Matrix("q3k"); err == nil || !strings.Contains(err.Error(), "Q3_K") {
		t.Errorf("Matrix of a Q3_K tensor: %v", err)
	}
	if v, err := f.TensorF32("ok"); err != nil || !reflect.DeepEqual(v, []float32{1, 2, 3, 4}) {
		t.Errorf("TensorF32 = %v, %v", v, err)
	}
}
