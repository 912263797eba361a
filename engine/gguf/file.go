package gguf

import (
	"fmt"
	"os"

	"github.com/moegate/moegate/engine/tensor"
)

// Open parses the GGUF file at path and maps it read-only into memory.
// Close releases the mapping.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	f, err := Parse(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data, unmap, err := mapFile(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf: mapping %s: %w", path, err)
	}
	f.data, f.unmap = data, unmap
	return f, nil
}

// Close releases the file's memory mapping; slices and matrices obtained
// from the File must not be used afterwards.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	return err
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	if f.byName == nil {
		f.byName = make(map[string]int, len(f.Tensors))
		for i, t := range f.Tensors {
			f.byName[t.Name] = i
		}
	}
	i, ok := f.byName[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of t, a slice of the mapping (not a copy).
// It returns nil for a File from Parse, which has no data.
func (f *File) TensorData(t *TensorInfo) []byte {
	if f.data == nil {
		return nil
	}
	start := f.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size]
}

func (f *File) lookup(name string) (*TensorInfo, []byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	data := f.TensorData(t)
	if data == nil && t.Size > 0 {
		return nil, nil, fmt.Errorf("gguf: tensor %q: file has no data (parsed, not opened)", name)
	}
	return t, data, nil
}

// Matrix returns the named tensor as a matrix of Dims[1] rows of Dims[0]
// columns (a 1-D tensor is one row). Trailing dimensions of size 1 are
// allowed. The matrix points into the mapping.
func (f *File) Matrix(name string) (*tensor.Matrix, error) {
	t, data, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) == 0 {
		return nil, fmt.Errorf("gguf: tensor %q is a scalar, not a matrix", name)
	}
	rows := uint64(1)
	if len(t.Dims) > 1 {
		rows = t.Dims[1]
	}
	for _, d := range t.Dims[min(2, len(t.Dims)):] {
		if d != 1 {
			return nil, fmt.Errorf("gguf: tensor %q has dimensions %v, want a matrix", name, t.Dims)
		}
	}
	m, err := tensor.NewMatrix(t.Type, int(rows), int(t.Dims[0]), data)
	if err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return m, nil
}

// Matrices3D returns a 3-D tensor (such as the stacked expert weights of a
// mixture-of-experts layer, Dims = [cols, rows, experts]) as one matrix per
// index of Dims[2], each a slice of the mapping.
func (f *File) Matrices3D(name string) ([]*tensor.Matrix, error) {
	t, data, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if len(t.Dims) != 3 && !(len(t.Dims) == 4 && t.Dims[3] == 1) {
		return nil, fmt.Errorf("gguf: tensor %q has dimensions %v, want 3", name, t.Dims)
	}
	cols, rows, n := int(t.Dims[0]), int(t.Dims[1]), int(t.Dims[2])
	rb, err := tensor.RowBytes(t.Type, cols)
	if err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	size := rb * rows
	out := make([]*tensor.Matrix, n)
	for i := range out {
		if out[i], err = tensor.NewMatrix(t.Type, rows, cols, data[i*size:(i+1)*size:(i+1)*size]); err != nil {
			return nil, fmt.Errorf("gguf: tensor %q slice %d: %w", name, i, err)
		}
	}
	return out, nil
}

// TensorF32 returns the named tensor decoded to float32 (a copy), for
// small tensors such as norm weights and biases.
func (f *File) TensorF32(name string) ([]float32, error) {
	t, data, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Elements())
	if err := tensor.Dequantize(t.Type, data, out); err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return out, nil
}

// Uint returns a non-negative integer metadata value.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Metadata[key]
	if !ok {
		return 0, false
	}
	return v.Uint64()
}

// Float returns a numeric metadata value as a float64.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Metadata[key]
	if !ok {
		return 0, false
	}
	return v.Float64()
}

// Str returns a string metadata value.
func (f *File) Str(key string) (string, bool) {
	v, ok := f.Metadata[key]
	if !ok {
		return "", false
	}
	return v.String()
}
