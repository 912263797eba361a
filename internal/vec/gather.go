package vec

// GatherDot16 returns the sum of val[k]*raw[idx[k]] over the common
// length of idx and val: the inner product of a sparse vector (indexes in
// 16 bits, as the semantic cache stores them) with a dense one. Four sums
// run side by side, element k into sum k%4, each product rounded before
// it is added, and they are added as (s0+s1)+(s2+s3): the same bits with
// the assembly as with the Go loop. It panics when an index is out of raw.
func GatherDot16(raw []float32, idx []uint16, val []float32) float32 {
	n := min(len(idx), len(val))
	if s, ok := gatherDot16(raw, idx[:n], val[:n]); ok {
		return s
	}
	return GatherDot(raw, idx[:n], val[:n])
}

// GatherDot is GatherDot16's loop in Go, for indexes of either width: the
// same sums in the same order. idx must not be longer than val.
func GatherDot[I uint16 | int32](raw []float32, idx []I, val []float32) float32 {
	val = val[:len(idx)]
	var t0, t1, t2, t3 float32
	k := 0
	for ; k+4 <= len(idx); k += 4 {
		i4, v4 := idx[k:k+4:k+4], val[k:k+4:k+4]
		t0 += v4[0] * raw[i4[0]]
		t1 += v4[1] * raw[i4[1]]
		t2 += v4[2] * raw[i4[2]]
		t3 += v4[3] * raw[i4[3]]
	}
	for ; k < len(idx); k++ {
		t0 += val[k] * raw[idx[k]]
	}
	return (t0 + t1) + (t2 + t3)
}
