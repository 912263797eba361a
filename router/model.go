package router

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/moegate/moegate/internal/atomicfile"
)

// OutOfScope is the class name of out-of-scope examples (Example.Expert
// empty); queries of that class go to the default expert.
const OutOfScope = ""

// Model is a trained learned router: a linear softmax gate over query
// embeddings, the out-of-scope threshold chosen at training time, and
// optionally a retrieval gate. A Model is immutable once trained; Learned
// swaps whole models.
type Model struct {
	Version int64  `json:"version"`
	Kind    string `json:"kind"` // "logreg" or "centroid"
	Dim     int    `json:"dim"`
	// Features is the embedder's feature version (see featureVersioner)
	// when it has one: a model is only valid over the features it was
	// trained on.
	Features string    `json:"features,omitempty"`
	Trained  time.Time `json:"trained"`
	// Examples counts the training examples (feedback duplicates included).
	Examples int `json:"examples"`
	// Negatives counts the generic negatives of the out-of-scope class
	// (TrainOptions.Negatives), 0 when it learnt from real examples.
	Negatives int `json:"negatives,omitempty"`
	// Experts are the expert names the gate knows, in class order.
	// OOSClass is their index of the out-of-scope class, or -1.
	Experts  []string `json:"experts"`
	OOSClass int      `json:"oos_class"`
	Gate     *Linear  `json:"gate"` // one class per entry of Experts
	// Threshold is the smallest probability of the best candidate expert
	// that routes to it; below it the query goes to the default expert.
	// Without out-of-scope examples it is the out-of-scope test, chosen for
	// the target coverage at training.
	Threshold float64 `json:"threshold"`
	// NullThreshold is the out-of-scope test of models with an
	// out-of-scope class (0 otherwise): the smallest share of the best
	// expert's probability against that class's, P(best) / (P(best) +
	// P(out of scope)) (see versusNull), chosen for the target coverage at
	// training. It separates better than the best expert's probability,
	// which is also low for queries between two experts, and than
	// 1 − P(out of scope), which the in-scope test of models before it was
	// (saved as in_scope_threshold; Load refuses such models, and the
	// gateway retrains).
	NullThreshold float64 `json:"null_threshold,omitempty"`
	// Exemplars are the examples of the experts whose exemplar weight
	// counts (see exemplar.go), ExemplarWeights each class's weight (−1 for
	// the out-of-scope class) and ExemplarTemp the softmax temperature over
	// their cosines. exemplarX caches the exemplars' features from
	// training; a loaded model embeds them again at Install.
	Exemplars       []Example `json:"exemplars,omitempty"`
	ExemplarWeights []float64 `json:"exemplar_weights,omitempty"`
	ExemplarTemp    float64   `json:"exemplar_temp,omitempty"`
	exemplarX       []sparse
	exemplarY       []int
	// Vocabulary counts the words of the training examples: queries are
	// spelling-corrected against it (see speller.go). Empty: no correction.
	Vocabulary map[string]int32 `json:"vocabulary,omitempty"`
	// Retrieval is the trained retrieval gate (class 1 = retrieve), nil
	// when no example was labelled for retrieval.
	Retrieval *Linear `json:"retrieval,omitempty"`
}

// InScope returns the expert names of the model without the out-of-scope
// class.
func (m *Model) InScope() []string {
	var out []string
	for i, e := range m.Experts {
		if i != m.OOSClass {
			out = append(out, e)
		}
	}
	return out
}

// Linear is a dense linear layer followed by a softmax: Dim×Classes
// weights and one bias per class.
type Linear struct {
	Classes int `json:"classes"`
	Dim     int `json:"dim"`
	// W is feature-major: the Classes weights of feature i are
	// W[i*Classes:(i+1)*Classes], so a sparse input reads one cache line
	// per feature.
	W []float32 `json:"-"`
	B []float32 `json:"-"`
}

// probs writes softmax(Wx+b) into p (length Classes) for a sparse x.
func (g *Linear) probs(x sparse, p []float64) {
	var acc [64]float32
	logits := withBias(&acc, g.B)
	for k, i := range x.idx {
		v := x.val[k]
		for c, w := range g.W[int(i)*g.Classes : int(i+1)*g.Classes] {
			logits[c] += w * v
		}
	}
	softmax(p, logits)
}

// withBias returns the logits' starting values, the biases b, in acc
// when they fit (most routers have few experts), so that no allocation
// is made.
func withBias(acc *[64]float32, b []float32) []float32 {
	if len(b) > len(acc) {
		return slices.Clone(b)
	}
	return append(acc[:0], b...)
}

// softmax writes the softmax of logits, computed in float64, to p.
func softmax(p []float64, logits []float32) {
	maxLogit := math.Inf(-1)
	for c, l := range logits {
		p[c] = float64(l)
		maxLogit = max(maxLogit, p[c])
	}
	var z float64
	for c := range p {
		p[c] = math.Exp(p[c] - maxLogit)
		z += p[c]
	}
	for c := range p {
		p[c] /= z
	}
}

// linearJSON carries the weights as little-endian float32 bytes (base64 in
// JSON): a tenth of the size of decimal text and exact.
type linearJSON struct {
	Classes int    `json:"classes"`
	Dim     int    `json:"dim"`
	W       []byte `json:"w"`
	B       []byte `json:"b"`
}

func floatsToBytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, x := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesToFloats(b []byte) []float32 {
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// MarshalJSON implements json.Marshaler.
func (g *Linear) MarshalJSON() ([]byte, error) {
	return json.Marshal(linearJSON{g.Classes, g.Dim, floatsToBytes(g.W), floatsToBytes(g.B)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (g *Linear) UnmarshalJSON(data []byte) error {
	var j linearJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if j.Classes <= 0 || j.Dim <= 0 || len(j.W) != 4*j.Classes*j.Dim || len(j.B) != 4*j.Classes {
		return fmt.Errorf("router: linear layer %dx%d with %d weight and %d bias bytes", j.Classes, j.Dim, len(j.W), len(j.B))
	}
	*g = Linear{Classes: j.Classes, Dim: j.Dim, W: bytesToFloats(j.W), B: bytesToFloats(j.B)}
	return nil
}

// ErrBadModel reports a model file that cannot be used.
var ErrBadModel = errors.New("router: bad model")

func (m *Model) validate() error {
	switch {
	case m.Gate == nil:
		return fmt.Errorf("%w: no gate", ErrBadModel)
	case m.Gate.Dim != m.Dim || m.Gate.Classes != len(m.Experts):
		return fmt.Errorf("%w: gate %dx%d for %d experts of dim %d", ErrBadModel, m.Gate.Classes, m.Gate.Dim, len(m.Experts), m.Dim)
	case len(m.Gate.W) != m.Gate.Dim*m.Gate.Classes || len(m.Gate.B) != m.Gate.Classes:
		return fmt.Errorf("%w: gate %dx%d with %d weights and %d biases", ErrBadModel, m.Gate.Classes, m.Gate.Dim, len(m.Gate.W), len(m.Gate.B))
	case m.OOSClass >= len(m.Experts) || m.OOSClass >= 0 && m.Experts[m.OOSClass] != OutOfScope:
		return fmt.Errorf("%w: out-of-scope class %d", ErrBadModel, m.OOSClass)
	case len(m.ExemplarWeights) != 0 && (len(m.ExemplarWeights) != len(m.Experts) || m.ExemplarTemp <= 0):
		return fmt.Errorf("%w: %d exemplar weights for %d experts, temperature %v", ErrBadModel, len(m.ExemplarWeights), len(m.Experts), m.ExemplarTemp)
	case m.Retrieval != nil && (m.Retrieval.Dim != m.Dim || m.Retrieval.Classes != 2):
		return fmt.Errorf("%w: retrieval gate %dx%d", ErrBadModel, m.Retrieval.Classes, m.Retrieval.Dim)
	}
	return nil
}

// described returns a copy of m without what only saving and installing
// read: the gate's weights, which an installed model's scorer holds
// packed (its kept rows only), and the exemplars' features. Kept beside
// the scorer, they were 2.8 MB of live heap for ten experts, about twice
// that in resident memory.
func (m *Model) described() *Model {
	d := *m
	d.Gate = &Linear{Classes: m.Gate.Classes, Dim: m.Gate.Dim}
	d.exemplarX, d.exemplarY = nil, nil
	return &d
}

// Save writes the model as JSON.
func (m *Model) Save(w io.Writer) error {
	return json.NewEncoder(w).Encode(m)
}

// Load reads a model written by Save.
func Load(r io.Reader) (*Model, error) {
	var m struct {
		Model
		// A model saved before NullThreshold carries its in-scope test
		// here, on another score: without a retrain it would route with no
		// out-of-scope test at all.
		LegacyInScope *float64 `json:"in_scope_threshold"`
	}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	if m.LegacyInScope != nil {
		return nil, fmt.Errorf("%w: saved with in_scope_threshold, before the out-of-scope test against the null class; retrain it", ErrBadModel)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m.Model, nil
}

// SaveFile writes the model to path atomically: readers see the old file or
// the new one, never a torn one.
func (m *Model) SaveFile(path string) error {
	if err := atomicfile.Write(path, 0o644, m.Save); err != nil {
		return fmt.Errorf("router: save model: %w", err)
	}
	return nil
}

// LoadFile reads a model saved by SaveFile. A missing file is reported with
// an error satisfying errors.Is(err, fs.ErrNotExist).
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("router: load model: %w", err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("router: load model %s: %w", path, err)
	}
	return m, nil
}
