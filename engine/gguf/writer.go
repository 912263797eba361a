package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/internal/atomicfile"
)

// Writer builds a GGUF file in memory: add metadata and tensors, then
// write it out. Metadata keys keep the order they were first added in.
type Writer struct {
	version uint32
	keys    []string
	kv      map[string]Value
	tensors []wtensor
	names   map[string]bool
}

type wtensor struct {
	TensorInfo
	data []byte
}

// NewWriter returns a Writer for GGUF version 2 or 3 (the formats are the
// same for little-endian files).
func NewWriter(version uint32) *Writer {
	return &Writer{version: version, kv: map[string]Value{}, names: map[string]bool{}}
}

// SetAlignment sets the tensor data alignment, recorded as
// general.alignment. It must be a power of two; WriteTo checks.
func (w *Writer) SetAlignment(a uint64) { w.AddKV(KeyAlignment, Uint32(uint32(a))) }

// AddKV sets a metadata value, replacing any earlier value of the key.
func (w *Writer) AddKV(key string, v Value) {
	if _, ok := w.kv[key]; !ok {
		w.keys = append(w.keys, key)
	}
	w.kv[key] = v
}

// AddTensor adds a tensor whose data is already encoded as type t.
// dims are ne0 first.
func (w *Writer) AddTensor(name string, t tensor.Type, dims []uint64, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q has %d dimensions, at most %d allowed", name, len(dims), MaxDims)
	}
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	ne0 := uint64(1)
	if len(dims) > 0 {
		ne0 = dims[0]
	}
	if _, err := tensor.RowBytes(t, int(ne0)); err != nil { // also rejects unknown types
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	size := n / uint64(t.BlockSize()) * uint64(t.BlockBytes())
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q: %v%v needs %d bytes, got %d", name, t, dims, size, len(data))
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{
		TensorInfo: TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: t, Size: size},
		data:       data,
	})
	return nil
}

// AddTensorF32 adds a tensor given as float32 values, encoded as type t
// with tensor.Quantize.
func (w *Writer) AddTensorF32(name string, t tensor.Type, dims []uint64, values []float32) error {
	data, err := tensor.Quantize(t, values)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return w.AddTensor(name, t, dims, data)
}

func (w *Writer) alignment() (uint64, error) {
	v, ok := w.kv[KeyAlignment]
	if !ok {
		return DefaultAlignment, nil
	}
	a, ok := v.Uint64()
	if !ok || a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("gguf: %s = %s is not a power of two", KeyAlignment, v.GoString())
	}
	return a, nil
}

// countWriter counts bytes and remembers the first error.
type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) u32(x uint32) { c.Write(binary.LittleEndian.AppendUint32(nil, x)) }
func (c *countWriter) u64(x uint64) { c.Write(binary.LittleEndian.AppendUint64(nil, x)) }
func (c *countWriter) str(s string) { c.u64(uint64(len(s))); io.WriteString(c, s) }

func (c *countWriter) value(v Value) {
	switch v.typ {
	case TypeString:
		c.str(v.str)
	case TypeArray:
		c.u32(uint32(v.elem))
		c.u64(uint64(v.n))
		switch v.elem {
		case TypeString:
			for _, s := range v.strs {
				c.str(s)
			}
		case TypeArray:
			for _, a := range v.arrs {
				c.value(a)
			}
		default:
			c.Write(v.raw)
		}
	default:
		c.Write(appendScalar(nil, v))
	}
}

// WriteTo writes the file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.version != 2 && w.version != 3 {
		return 0, fmt.Errorf("%w: cannot write GGUF version %d", ErrUnsupported, w.version)
	}
	align, err := w.alignment()
	if err != nil {
		return 0, err
	}
	c := &countWriter{w: bufio.NewWriterSize(out, 1<<20)}
	io.WriteString(c, Magic)
	c.u32(w.version)
	c.u64(uint64(len(w.tensors)))
	c.u64(uint64(len(w.keys)))
	for _, k := range w.keys {
		v := w.kv[k]
		c.str(k)
		c.u32(uint32(v.typ))
		c.value(v)
	}
	var off uint64
	for i := range w.tensors {
		t := &w.tensors[i]
		t.Offset = off
		off = alignUp(off+t.Size, align)
		c.str(t.Name)
		c.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			c.u64(d)
		}
		c.u32(uint32(t.Type))
		c.u64(t.Offset)
	}
	var zeros [256]byte
	pad := func() {
		for p := alignUp(uint64(c.n), align) - uint64(c.n); p > 0; {
			k := min(p, uint64(len(zeros)))
			c.Write(zeros[:k])
			p -= k
		}
	}
	// Like ggml, pad the header and every tensor, the last one included.
	pad()
	for _, t := range w.tensors {
		c.Write(t.data)
		pad()
	}
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.n, c.err
}

// WriteFile writes the file to path atomically: to a temporary file in the
// same directory, then renamed over path.
func (w *Writer) WriteFile(path string) error {
	return atomicfile.Write(path, 0o644, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
}
