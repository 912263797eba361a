//go:build amd64 && !purego

package tensor

//go:noescape
func attnScoresAVX512(sc *float32, q *float32, kt *float32, hd, n, np int, scale float32)

//go:noescape
func softmaxAVX512(sc *float32, np int) float32

//go:noescape
func attnPVAVX512(out *float32, p *float32, v *float32, n, stride, hd int, inv float32)

// useAttnArch says whether AttendSeq runs the assembly for heads of hd
// floats: whole vectors of sixteen.
func useAttnArch(hd int) bool { return haveGEMM512 && hd%16 == 0 }

// attnKernelsArch wrap the assembly; AttendSeq has checked the lengths
// (len(sc) = np, a multiple of 16; kt hd×np; q, v and out rows of hd).
var attnKernelsArch = attnKernels{
	scores: func(sc, q, kt []float32, n, np int, scale float32) {
		_, _ = kt[len(q)*np-1], sc[np-1]
		attnScoresAVX512(&sc[0], &q[0], &kt[0], len(q), n, np, scale)
	},
	softmax: func(sc []float32) float32 { return softmaxAVX512(&sc[0], len(sc)) },
	pv: func(out, p, v []float32, n, stride int, inv float32) {
		_, _ = p[n-1], v[(n-1)*stride+len(out)-1]
		attnPVAVX512(&out[0], &p[0], &v[0], n, stride, len(out), inv)
	},
}
