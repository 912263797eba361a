// Package gguf reads and writes GGUF files, the container format of ggml
// and llama.cpp models: a header of typed key-value metadata and tensor
// descriptions, followed by the aligned tensor data.
//
// Open maps the file read-only, so tensor data is used in place: a
// tensor.Matrix built from a File points into the mapping.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/moegate/moegate/engine/tensor"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the tensor data alignment when general.alignment is
// absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the tensor data alignment.
const KeyAlignment = "general.alignment"

// MaxDims is the largest number of dimensions of a tensor (ggml's
// GGML_MAX_DIMS).
const MaxDims = 4

// maxNesting bounds arrays of arrays, so a hostile file cannot recurse
// without end.
const maxNesting = 16

var (
	// ErrUnsupported is wrapped by errors for well-formed files this
	// package cannot read: GGUF v1, big-endian files, future versions.
	ErrUnsupported = errors.New("gguf: unsupported file")
	// ErrCorrupt is wrapped by errors for files that are not valid GGUF:
	// bad magic, truncation, impossible counts, out-of-range tensors.
	ErrCorrupt = errors.New("gguf: corrupt file")
)

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name   string
	Dims   []uint64 // ne0 first, as in the file
	Type   tensor.Type
	Offset uint64 // from the start of the data section
	Size   uint64 // bytes
}

// Elements is the number of elements of the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. The tensor data of a File from Open stays
// valid until Close.
type File struct {
	Version    uint32
	Alignment  uint64
	DataOffset uint64 // absolute offset of the data section
	Metadata   map[string]Value
	Keys       []string // metadata keys in file order
	Tensors    []TensorInfo

	data   []byte // the whole file, when opened with Open
	unmap  func() error
	byName map[string]int
}

// decoder reads the header sequentially, tracking the offset for error
// messages and the bytes left for bounding counts.
type decoder struct {
	r    *bufio.Reader
	off  int64
	size int64
	buf  [8]byte
}

func (d *decoder) remaining() int64 { return d.size - d.off }

func (d *decoder) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func (d *decoder) read(p []byte, what string) error {
	if int64(len(p)) > d.remaining() {
		return d.corrupt("truncated reading %s at offset %d: need %d bytes, %d left", what, d.off, len(p), d.remaining())
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		return fmt.Errorf("gguf: reading %s at offset %d: %w", what, d.off, err)
	}
	d.off += int64(len(p))
	return nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.read(d.buf[:4], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.read(d.buf[:8], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.buf[:8]), nil
}

// count reads an element count and checks that count elements of at least
// minSize bytes each fit in the rest of the file.
func (d *decoder) count(what string, minSize int64) (int, error) {
	at := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(d.remaining()/minSize) {
		return 0, d.corrupt("%s %d at offset %d does not fit in the %d bytes left", what, n, at, d.remaining())
	}
	return int(n), nil
}

// prealloc caps capacity reserved ahead of parsing: a count that passed
// the bytes-left check can still be far too many for the header when the
// tensor data follows, so slices and maps grow as entries are really read.
func prealloc(n int) int { return min(n, 1024) }

// bytes reads n bytes, in pieces for large n so memory is only taken for
// bytes that are really there.
func (d *decoder) bytes(n int, what string) ([]byte, error) {
	const piece = 1 << 20
	if n <= piece {
		b := make([]byte, n)
		return b, d.read(b, what)
	}
	if int64(n) > d.remaining() {
		return nil, d.corrupt("truncated reading %s at offset %d: need %d bytes, %d left", what, d.off, n, d.remaining())
	}
	b := make([]byte, 0, piece)
	for len(b) < n {
		k := min(piece, n-len(b))
		b = append(b, make([]byte, k)...)
		if err := d.read(b[len(b)-k:], what); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.count(what+" length", 1)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n, what)
	return string(b), err
}

// value reads a value of type t; what names it for errors.
func (d *decoder) value(t ValueType, what string, depth int) (Value, error) {
	switch {
	case t == TypeString:
		s, err := d.str(what)
		return String(s), err
	case t == TypeArray:
		return d.array(what, depth)
	case t.Valid():
		sz := t.size()
		if err := d.read(d.buf[:sz], what); err != nil {
			return Value{}, err
		}
		return scalarFromBytes(t, d.buf[:sz]), nil
	}
	return Value{}, d.corrupt("%s has unknown value type %d at offset %d", what, uint32(t), d.off-4)
}

func (d *decoder) array(what string, depth int) (Value, error) {
	if depth >= maxNesting {
		return Value{}, d.corrupt("%s: arrays nested deeper than %d at offset %d", what, maxNesting, d.off)
	}
	at := d.off
	et, err := d.u32(what + " element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if !elem.Valid() {
		return Value{}, d.corrupt("%s has unknown element type %d at offset %d", what, et, at)
	}
	minSize := int64(elem.size())
	switch elem {
	case TypeString:
		minSize = 8
	case TypeArray:
		minSize = 12
	}
	n, err := d.count(what+" array length", minSize)
	if err != nil {
		return Value{}, err
	}
	v := Value{typ: TypeArray, elem: elem, n: n}
	switch elem {
	case TypeString:
		v.strs = make([]string, 0, prealloc(n))
		for i := range n {
			s, err := d.str(fmt.Sprintf("%s[%d]", what, i))
			if err != nil {
				return Value{}, err
			}
			v.strs = append(v.strs, s)
		}
	case TypeArray:
		v.arrs = make([]Value, 0, prealloc(n))
		for i := range n {
			a, err := d.array(fmt.Sprintf("%s[%d]", what, i), depth+1)
			if err != nil {
				return Value{}, err
			}
			v.arrs = append(v.arrs, a)
		}
	default:
		if v.raw, err = d.bytes(n*elem.size(), what); err != nil {
			return Value{}, err
		}
		if elem == TypeBool {
			for i, b := range v.raw {
				if b > 1 {
					v.raw[i] = 1
				}
			}
		}
	}
	return v, nil
}

// Parse reads the header of a GGUF file of the given size: metadata and
// tensor descriptions. It checks that every tensor lies inside the file
// but does not read tensor data; the returned File has no data (see Open).
func Parse(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size}
	var magic [4]byte
	if err := d.read(magic[:], "magic"); err != nil {
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, d.corrupt("bad magic %q, want %q", magic[:], Magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, fmt.Errorf("%w: GGUF version 1 (only versions 2 and 3 are supported)", ErrUnsupported)
	case version&0xffff == 0:
		return nil, fmt.Errorf("%w: big-endian GGUF (version field %#x)", ErrUnsupported, version)
	default:
		return nil, fmt.Errorf("%w: GGUF version %d (only versions 2 and 3 are supported)", ErrUnsupported, version)
	}
	const minTensorInfo = 8 + 4 + 4 + 8 // name length, n_dims, type, offset
	const minKV = 8 + 4 + 1             // key length, type, smallest value
	nTensors, err := d.count("tensor count", minTensorInfo)
	if err != nil {
		return nil, err
	}
	nKV, err := d.count("metadata count", minKV)
	if err != nil {
		return nil, err
	}
	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		Metadata:  make(map[string]Value, prealloc(nKV)),
		Keys:      make([]string, 0, prealloc(nKV)),
		Tensors:   make([]TensorInfo, 0, prealloc(nTensors)),
		byName:    make(map[string]int, prealloc(nTensors)),
	}
	for i := range nKV {
		at := d.off
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := f.Metadata[key]; dup {
			return nil, d.corrupt("duplicate metadata key %q at offset %d", key, at)
		}
		t, err := d.u32(fmt.Sprintf("type of metadata key %q", key))
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), fmt.Sprintf("metadata key %q", key), 0)
		if err != nil {
			return nil, err
		}
		f.Metadata[key] = v
		f.Keys = append(f.Keys, key)
	}
	if v, ok := f.Metadata[KeyAlignment]; ok {
		a, ok := v.Uint64()
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<30 {
			return nil, d.corrupt("%s = %s (%v) is not a power of two", KeyAlignment, v.GoString(), v.Type())
		}
		f.Alignment = a
	}
	for i := range nTensors {
		if err := d.tensorInfo(f, i); err != nil {
			return nil, err
		}
	}
	f.DataOffset = alignUp(uint64(d.off), f.Alignment)
	if f.DataOffset > uint64(size) {
		if nTensors > 0 {
			return nil, d.corrupt("data section at offset %d is past the end of the %d-byte file", f.DataOffset, size)
		}
		f.DataOffset = uint64(size)
	}
	dataSize := uint64(size) - f.DataOffset
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset > dataSize || t.Size > dataSize-t.Offset {
			return nil, d.corrupt("tensor %q (%d bytes at data offset %d, file offset %d) extends past the end of the %d-byte file",
				t.Name, t.Size, t.Offset, f.DataOffset+t.Offset, size)
		}
	}
	return f, nil
}

func (d *decoder) tensorInfo(f *File, i int) error {
	at := d.off
	name, err := d.str(fmt.Sprintf("name of tensor %d", i))
	if err != nil {
		return err
	}
	if _, dup := f.byName[name]; dup {
		return d.corrupt("duplicate tensor name %q at offset %d", name, at)
	}
	what := fmt.Sprintf("tensor %q", name)
	nDims, err := d.u32(what + " dimension count")
	if err != nil {
		return err
	}
	if nDims > MaxDims {
		return d.corrupt("%s has %d dimensions at offset %d, at most %d allowed", what, nDims, at, MaxDims)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nDims)}
	elements := uint64(1)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64(fmt.Sprintf("%s dimension %d", what, j)); err != nil {
			return err
		}
		hi, lo := bits.Mul64(elements, t.Dims[j])
		if hi != 0 || lo > math.MaxInt64 {
			return d.corrupt("%s has too many elements (dimensions %v) at offset %d", what, t.Dims[:j+1], at)
		}
		elements = lo
	}
	typ, err := d.u32(what + " type")
	if err != nil {
		return err
	}
	t.Type = tensor.Type(typ)
	// Known but unsupported types (Q5_K, IQ4_XS...) parse, so the rest of
	// a file is usable; Matrix reports them.
	if !t.Type.Known() {
		return d.corrupt("%s has unknown tensor type %d", what, typ)
	}
	if t.Offset, err = d.u64(what + " offset"); err != nil {
		return err
	}
	if t.Offset%f.Alignment != 0 {
		return d.corrupt("%s data offset %d is not a multiple of the alignment %d", what, t.Offset, f.Alignment)
	}
	ne0 := uint64(1)
	if nDims > 0 {
		ne0 = t.Dims[0]
	}
	bs := uint64(t.Type.BlockSize())
	if ne0%bs != 0 {
		return d.corrupt("%s: first dimension %d is not a multiple of the %v block size %d", what, ne0, t.Type, bs)
	}
	hi, lo := bits.Mul64(elements/bs, uint64(t.Type.BlockBytes()))
	if hi != 0 || lo > math.MaxInt64 {
		return d.corrupt("%s is too large (dimensions %v)", what, t.Dims)
	}
	t.Size = lo
	f.Tensors = append(f.Tensors, t)
	f.byName[name] = i
	return nil
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }
