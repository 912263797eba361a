package engine

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// TestEmbedMatchesLlamaCpp embeds the golden sentences with the engine's
// benchmark encoder (modelgen.EmbedSpec) in F32, F16 and Q8_0 and compares
// each vector with llama.cpp's for the same file (testdata/
// llamacpp-embed.json, with its provenance) by cosine similarity.
func TestEmbedMatchesLlamaCpp(t *testing.T) {
	raw, err := os.ReadFile("testdata/llamacpp-embed.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Sentences  []string               `json:"sentences"`
		Embeddings map[string][][]float64 `json:"embeddings"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	// F32 and F16 weights give the same numbers up to float rounding. With
	// Q8_0 both quantize the activations, and a rounding difference far
	// below 1e-6 can move an activation to the next integer step: a
	// looser bound.
	minCos := map[string]float64{"F32": 0.9999, "F16": 0.9999, "Q8_0": 0.999}
	for typName, want := range g.Embeddings {
		t.Run(typName, func(t *testing.T) {
			typ, err := tensor.ParseType(typName)
			if err != nil {
				t.Fatal(err)
			}
			e := openEmbedder(t, writeBERT(t, modelgen.EmbedSpec(typ)), EmbedOptions{Threads: 1})
			got, err := e.Embed(context.Background(), g.Sentences)
			if err != nil {
				t.Fatal(err)
			}
			worst := 1.0
			for i, v := range got {
				var dot, a, b float64
				for j, x := range v {
					dot += float64(x) * want[i][j]
					a += float64(x) * float64(x)
					b += want[i][j] * want[i][j]
				}
				worst = min(worst, dot/math.Sqrt(a*b))
			}
			t.Logf("%s: lowest cosine with llama.cpp over %d sentences: %.7f", typName, len(got), worst)
			if worst < minCos[typName] {
				t.Errorf("cosine %.7f with llama.cpp, want ≥ %v", worst, minCos[typName])
			}
		})
	}
}
