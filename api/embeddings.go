package api

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

type embeddingRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string of little-endian float32s
}

const maxEmbeddingInputs = 2048

// embeddings serves the configured embedder in OpenAI's shape. OpenAI's
// Python SDK asks for base64 by default, so both formats are supported.
func (s *Server) embeddings(c *gin.Context) error {
	if _, err := s.authenticate(c); err != nil {
		return err
	}
	var req embeddingRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return invalid("model", "You must provide a model parameter (%s).", strings.Join(s.gw.EmbedModels(), " or "))
	}
	dims := 0
	if req.Dimensions != nil {
		if dims = *req.Dimensions; dims < 1 {
			return invalid("dimensions", "'dimensions' must be at least 1; got %d.", dims)
		}
	}
	var inputs []string
	raw := bytes.TrimSpace(req.Input)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return invalid("input", "'input' is required.")
	case raw[0] == '"':
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return fieldErr("input", err)
		}
		inputs = []string{one}
	default:
		if err := json.Unmarshal(raw, &inputs); err != nil {
			return invalid("input", "'input' must be a string or an array of strings (token arrays are not supported).")
		}
	}
	if len(inputs) == 0 || len(inputs) > maxEmbeddingInputs {
		return invalid("input", "'input' must hold between 1 and %d strings; got %d.", maxEmbeddingInputs, len(inputs))
	}
	for i, in := range inputs {
		if in == "" {
			return invalid("input", "'input[%d]' is empty.", i)
		}
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		return invalid("encoding_format", "'encoding_format' must be 'float' or 'base64'.")
	}
	vecs, err := s.gw.EmbedAs(c.Request.Context(), req.Model, dims, inputs)
	if err != nil {
		return err
	}
	data := make([]embeddingData, len(vecs))
	tokens := 0
	for i, v := range vecs {
		data[i] = embeddingData{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(buf)
		}
		tokens += len(bytes.Fields([]byte(inputs[i])))
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data, "model": req.Model,
		"usage": gin.H{"prompt_tokens": tokens, "total_tokens": tokens}})
	return nil
}
