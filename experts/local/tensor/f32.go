package tensor

// dotF32F32Go is the dot product of two float32 vectors of equal length.
func dotF32F32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa := (*[4]float32)(a[i:])
		bb := (*[4]float32)(b[i:])
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4F32Go computes the dot products of four rows with x, reading x once.
func dot4F32Go(r0, r1, r2, r3, x []float32) (a, b, c, d float32) {
	n := len(x)
	r0, r1, r2, r3 = r0[:n], r1[:n], r2[:n], r3[:n]
	for i, v := range x {
		a += r0[i] * v
		b += r1[i] * v
		c += r2[i] * v
		d += r3[i] * v
	}
	return a, b, c, d
}
