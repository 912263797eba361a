//go:build amd64 && !purego

package tensor

//go:noescape
func attnBlockAVX512(out, qt, k, v, p *float32, n, nq, hd, stride, ostride int, scale float32)

// useAttnArch says whether AttendSeq runs the assembly for heads of hd
// floats: whole vectors of sixteen.
func useAttnArch(hd int) bool { return haveGEMM512 && hd%16 == 0 }

// attnBlockArch is attnBlockGo in assembly; AttendSeq has checked the
// lengths of q, k, v and out, and sized qt and p.
func attnBlockArch(out, qt, k, v, p []float32, n, nq, hd, stride, ostride int, scale float32) {
	_, _ = qt[hd*attnLanes-1], p[(n+1)*attnLanes-1]
	_, _ = k[(n-1)*stride+hd-1], v[(n-1)*stride+hd-1]
	_ = out[(nq-1)*ostride+hd-1]
	attnBlockAVX512(&out[0], &qt[0], &k[0], &v[0], &p[0], n, nq, hd, stride, ostride, scale)
}
