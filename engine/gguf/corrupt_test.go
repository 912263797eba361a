package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine/tensor"
)

// raw builds GGUF bytes by hand, to make files the Writer refuses to.
type raw struct{ bytes.Buffer }

func (r *raw) u32(x uint32) *raw { r.Write(binary.LittleEndian.AppendUint32(nil, x)); return r }
func (r *raw) u64(x uint64) *raw { r.Write(binary.LittleEndian.AppendUint64(nil, x)); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }

// header starts a file with the given counts.
func header(version uint32, nTensors, nKV uint64) *raw {
	r := &raw{}
	r.WriteString("GGUF")
	return r.u32(version).u64(nTensors).u64(nKV)
}

// tensorInfo appends one tensor description.
func (r *raw) tensorInfo(name string, dims []uint64, typ tensor.Type, off uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// padTo pads with zeros to a multiple of a, then appends n data bytes.
func (r *raw) padData(a, n int) *raw {
	for r.Len()%a != 0 {
		r.WriteByte(0)
	}
	r.Write(make([]byte, n))
	return r
}

func validFile(t testing.TB) []byte {
	w, _ := testTensors(t, 3)
	for k, v := range allValues() {
		w.AddKV(k, v)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type corruptCase struct {
	name string
	data []byte
	want string // in the error message
	is   error
}

func corruptCases(t testing.TB) []corruptCase {
	valid := validFile(t)
	f, err := Parse(bytes.NewReader(valid), int64(len(valid)))
	if err != nil {
		t.Fatal(err)
	}
	headerEnd := int(f.DataOffset)
	lastTensor := f.Tensors[len(f.Tensors)-1]
	nested := header(3, 0, 1).str("deep").u32(uint32(TypeArray))
	for range maxNesting + 1 {
		nested.u32(uint32(TypeArray)).u64(1)
	}
	nested.u32(uint32(TypeUint8)).u64(0)

	cases := []corruptCase{
		{"empty", nil, "truncated reading magic", ErrCorrupt},
		{"bad magic", append([]byte("GGUX"), valid[4:]...), "bad magic", ErrCorrupt},
		{"version 1", header(1, 0, 0).Bytes(), "version 1", ErrUnsupported},
		{"version 4", header(4, 0, 0).Bytes(), "version 4", ErrUnsupported},
		{"big-endian", header(3<<24, 0, 0).Bytes(), "big-endian", ErrUnsupported},
		{"truncated in version", valid[:6], "truncated reading version", ErrCorrupt},
		{"truncated in counts", valid[:12], "tensor count", ErrCorrupt},
		{"truncated in metadata", valid[:headerEnd/2], "metadata key", ErrCorrupt},
		{"truncated in tensor infos", valid[:bytes.LastIndex(valid[:headerEnd], []byte(lastTensor.Name))+len(lastTensor.Name)+3], `tensor "t.`, ErrCorrupt},
		{"truncated in data", valid[:len(valid)-int(lastTensor.Size)/2], `tensor "` + lastTensor.Name + `"`, ErrCorrupt},
		{"huge tensor count", header(3, 1<<60, 0).Bytes(), "tensor count 1152921504606846976", ErrCorrupt},
		{"huge metadata count", header(3, 0, 1<<62).Bytes(), "metadata count", ErrCorrupt},
		{"huge string", header(3, 0, 1).u64(1<<62).padData(1, 16).Bytes(), "metadata key 0 length", ErrCorrupt},
		{"huge array", header(3, 0, 1).str("arr").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 61).Bytes(),
			`metadata key "arr" array length`, ErrCorrupt},
		{"huge string array", header(3, 0, 1).str("arr").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).Bytes(),
			`metadata key "arr" array length`, ErrCorrupt},
		{"unknown value type", header(3, 0, 1).str("k").u32(13).u64(0).Bytes(), `"k" has unknown value type 13`, ErrCorrupt},
		{"unknown array element type", header(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(42).u64(0).Bytes(), `"k" has unknown element type 42`, ErrCorrupt},
		{"arrays nested too deep", nested.Bytes(), "nested deeper", ErrCorrupt},
		{"duplicate key", header(3, 0, 2).str("k").u32(uint32(TypeUint8)).Bytes(), "", ErrCorrupt},
		{"tensor past end of file",
			header(3, 1, 0).tensorInfo("w", []uint64{32, 4}, tensor.F32, 0).padData(32, 100).Bytes(),
			`tensor "w" (512 bytes at data offset 0`, ErrCorrupt},
		{"tensor offset past end of file",
			header(3, 1, 0).tensorInfo("w", []uint64{8}, tensor.F32, 1<<40).padData(32, 32).Bytes(),
			`tensor "w"`, ErrCorrupt},
		{"unknown tensor type",
			header(3, 1, 0).tensorInfo("w", []uint64{32}, tensor.Type(99), 0).padData(32, 64).Bytes(),
			`tensor "w" has unknown tensor type 99`, ErrCorrupt},
		{"too many dimensions",
			header(3, 1, 0).tensorInfo("w", []uint64{1, 1, 1, 1, 1}, tensor.F32, 0).padData(32, 4).Bytes(),
			`tensor "w" has 5 dimensions`, ErrCorrupt},
		{"element count overflow",
			header(3, 1, 0).tensorInfo("w", []uint64{1 << 32, 1 << 32}, tensor.F32, 0).padData(32, 4).Bytes(),
			`tensor "w" has too many elements`, ErrCorrupt},
		{"partial block",
			header(3, 1, 0).tensorInfo("w", []uint64{33}, tensor.Q8_0, 0).padData(32, 68).Bytes(),
			`tensor "w": first dimension 33`, ErrCorrupt},
		{"misaligned tensor offset",
			header(3, 2, 0).tensorInfo("a", []uint64{1}, tensor.F32, 0).tensorInfo("b", []uint64{1}, tensor.F32, 4).padData(32, 64).Bytes(),
			`tensor "b" data offset 4 is not a multiple of the alignment 32`, ErrCorrupt},
		{"duplicate tensor",
			header(3, 2, 0).tensorInfo("a", []uint64{1}, tensor.F32, 0).tensorInfo("a", []uint64{1}, tensor.F32, 32).padData(32, 64).Bytes(),
			`duplicate tensor name "a"`, ErrCorrupt},
		{"alignment not a power of two",
			header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(48).Bytes(),
			"general.alignment = 48", ErrCorrupt},
		{"alignment zero",
			header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(0).Bytes(),
			"general.alignment = 0", ErrCorrupt},
		{"alignment a string",
			header(3, 0, 1).str(KeyAlignment).u32(uint32(TypeString)).str("32").Bytes(),
			"general.alignment", ErrCorrupt},
	}
	// The duplicate key case needs both entries complete.
	dup := header(3, 0, 2)
	dup.str("k").u32(uint32(TypeUint8)).WriteByte(1)
	dup.str("k").u32(uint32(TypeUint8)).WriteByte(2)
	for i := range cases {
		if cases[i].name == "duplicate key" {
			cases[i].data, cases[i].want = dup.Bytes(), `duplicate metadata key "k"`
		}
	}
	return cases
}

func TestParseCorrupt(t *testing.T) {
	for _, tc := range corruptCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseTruncatedEverywhere(t *testing.T) {
	valid := validFile(t)
	f, err := Parse(bytes.NewReader(valid), int64(len(valid)))
	if err != nil {
		t.Fatal(err)
	}
	// Every cut inside the header or the tensor data must fail cleanly;
	// only the padding after the last tensor may be dropped.
	last := f.Tensors[len(f.Tensors)-1]
	end := int(f.DataOffset + last.Offset + last.Size)
	for n := 0; n < end; n++ {
		if _, err := Parse(bytes.NewReader(valid[:n]), int64(n)); err == nil {
			t.Fatalf("Parse of the first %d of %d bytes succeeded", n, len(valid))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validFile(f))
	for _, version := range []uint32{2, 3} {
		w, _ := testTensors(f, version)
		w.SetAlignment(64)
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	var empty bytes.Buffer
	NewWriter(2).WriteTo(&empty)
	f.Add(empty.Bytes())
	for _, tc := range corruptCases(f) {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %q is neither ErrCorrupt nor ErrUnsupported", err)
			}
			return
		}
		if g.DataOffset > uint64(len(data)) {
			t.Fatalf("data offset %d past the end of %d bytes", g.DataOffset, len(data))
		}
		for _, ti := range g.Tensors {
			if ti.Offset%g.Alignment != 0 || g.DataOffset+ti.Offset+ti.Size > uint64(len(data)) {
				t.Fatalf("tensor %q at %d+%d outside %d bytes", ti.Name, ti.Offset, ti.Size, len(data))
			}
		}
		// What parses must write back and parse to the same metadata.
		w := NewWriter(g.Version)
		for _, k := range g.Keys {
			w.AddKV(k, g.Metadata[k])
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		h, err := Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range g.Keys {
			if !valuesEqual(g.Metadata[k], h.Metadata[k]) {
				t.Fatalf("key %q changed in a round trip", k)
			}
		}
	})
}

// bigFile is a reader of a 1 TiB file: a header, then 0xff bytes.
type bigFile struct{ header []byte }

const bigFileSize = 1 << 40

func (b bigFile) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		if o := off + int64(i); o < int64(len(b.header)) {
			p[i] = b.header[o]
		} else {
			p[i] = 0xff
		}
	}
	return len(p), nil
}

// In a big file the bytes-left bound lets large counts through; they must
// still not reserve memory up front.
func TestParseHugeCountsInBigFile(t *testing.T) {
	cases := map[string][]byte{
		"tensors":      header(3, 1<<36, 0).Bytes(),
		"metadata":     header(3, 0, 1<<36).Bytes(),
		"string array": header(3, 0, 1).str("a").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 36).Bytes(),
		"nested array": header(3, 0, 1).str("a").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1 << 36).Bytes(),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse(bigFile{h}, bigFileSize)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Parse: %v, want a corrupt-file error", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("Parse allocated %d MiB", grew>>20)
			}
		})
	}
}
