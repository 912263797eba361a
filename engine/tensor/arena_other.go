//go:build !linux

package tensor

import "unsafe"

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func adviseHuge([]byte) {}
