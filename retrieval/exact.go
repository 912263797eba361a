package retrieval

import "github.com/moegate/moegate/internal/vec"

// exactTopK returns the indices of the k vectors in data nearest to the unit
// vector q by cosine, nearest first: the brute-force ground truth.
func exactTopK(data [][]float32, q []float32, k int) []candidate {
	var res maxHeap
	for i, v := range data {
		d := 1 - vec.Dot(q, v)
		if len(res) < k {
			res.push(candidate{d, uint32(i)})
		} else if d < res[0].dist {
			res[0] = candidate{d, uint32(i)}
			res.push(res.pop()) // restore heap order after replacing the top
		}
	}
	out := make([]candidate, len(res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = res.pop()
	}
	return out
}
