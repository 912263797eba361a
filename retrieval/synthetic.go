package retrieval

import (
	"math"
	"math/rand/v2"

	"github.com/moegate/moegate/internal/vec"
)

// Synthetic generates clustered unit vectors for benchmarks and tests:
// Clusters Gaussian centres on the unit sphere, each point its centre plus
// isotropic Gaussian noise of expected norm Spread, normalised. Like real
// embeddings, the data has topics (clusters) with structure inside them;
// unlike uniform random vectors, it has near neighbours worth finding.
type Synthetic struct {
	Dim      int
	Clusters int     // default 100
	Spread   float64 // default 0.6
	centers  [][]float32
	rng      *rand.Rand
}

// NewSynthetic returns a generator with a fixed seed, so runs compare.
func NewSynthetic(dim, clusters int, spread float64, seed uint64) *Synthetic {
	if clusters <= 0 {
		clusters = 100
	}
	if spread <= 0 {
		spread = 0.6
	}
	g := &Synthetic{Dim: dim, Clusters: clusters, Spread: spread, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	g.centers = make([][]float32, clusters)
	for i := range g.centers {
		c := make([]float32, dim)
		for j := range c {
			c[j] = float32(g.rng.NormFloat64())
		}
		vec.Normalize(c)
		g.centers[i] = c
	}
	return g
}

// Next returns a new unit vector.
func (g *Synthetic) Next() []float32 {
	c := g.centers[g.rng.IntN(len(g.centers))]
	v := make([]float32, g.Dim)
	s := g.Spread / math.Sqrt(float64(g.Dim))
	for j := range v {
		v[j] = c[j] + float32(s*g.rng.NormFloat64())
	}
	vec.Normalize(v)
	return v
}

// NextN returns n new unit vectors.
func (g *Synthetic) NextN(n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}
