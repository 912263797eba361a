//go:build !linux

package gguf

// PageOut does nothing here (see the Linux version).
func (f *File) PageOut(b []byte) {}
