package tensor

import "encoding/binary"

// loadXor XORs the 64-bit words of p (whose length is a multiple of 128)
// together. It touches every byte of p as fast as the loads allow, which is
// what BenchmarkMemoryBandwidth measures; the result only keeps the loads
// from being optimised away.
func loadXor(p []byte) uint64 {
	if len(p)%128 != 0 {
		panic("tensor: loadXor length not a multiple of 128")
	}
	if len(p) == 0 {
		return 0
	}
	return loadXorArch(p)
}

func loadXorGo(p []byte) uint64 {
	var a, b, c, d uint64
	for i := 0; i+32 <= len(p); i += 32 {
		w := (*[32]byte)(p[i:])
		a ^= binary.LittleEndian.Uint64(w[0:])
		b ^= binary.LittleEndian.Uint64(w[8:])
		c ^= binary.LittleEndian.Uint64(w[16:])
		d ^= binary.LittleEndian.Uint64(w[24:])
	}
	return a ^ b ^ c ^ d
}
