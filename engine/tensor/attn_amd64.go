//go:build amd64 && !purego

package tensor

//go:noescape
func attnBlockAVX512(out, q, k, v, qt, p *float32, n, nq, hd, stride, ostride int, scale float32)

// useAttnArch says whether AttendSeq runs the assembly for heads of hd
// floats: whole vectors of sixteen.
func useAttnArch(hd int) bool { return haveGEMM512 && hd%16 == 0 }

// attnBlockArch is attnBlockGo in assembly.
func attnBlockArch(out, q, k, v, qt, p []float32, n, nq, hd, stride, ostride int, scale float32) {
	_, _ = qt[hd*attnLanes-1], p[(n+1)*attnLanes-1]
	_, _ = k[(n-1)*stride+hd-1], v[(n-1)*stride+hd-1]
	_, _ = out[(nq-1)*ostride+hd-1], q[(nq-1)*stride+hd-1]
	if nq < 1 || nq > attnLanes {
		panic("tensor: attention block out of range")
	}
	attnBlockAVX512(&out[0], &q[0], &k[0], &v[0], &qt[0], &p[0], n, nq, hd, stride, ostride, scale)
}
