package embed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// embeddingsServer serves /v1/embeddings in OpenAI's shape. Each text's
// vector is derived from its length and first byte so the test can check
// order; tamper may change the response before it is sent.
func embeddingsServer(t *testing.T, dim int, tamper func(data []map[string]any) []map[string]any) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
			return
		}
		calls.Add(1)
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data := make([]map[string]any, len(req.Input))
		for i, s := range req.Input {
			v := make([]float32, dim)
			v[0] = float32(len(s) + 1)
			if len(s) > 0 {
				v[1] = float32(s[0])
			}
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
		}
		// Answer out of order: the index is what counts.
		for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
			data[i], data[j] = data[j], data[i]
		}
		if tamper != nil {
			data = tamper(data)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model, "data": data,
			"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestOpenAIEmbed(t *testing.T) {
	srv, calls := embeddingsServer(t, 8, nil)
	e := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "m", APIKey: "sk-test", Dim: 8, BatchSize: 3})
	texts := []string{"a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := calls.Load(), int32(3); got != want {
		t.Errorf("requests = %d, want %d (batches of 3)", got, want)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	for i, v := range vecs {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("vector %d norm² %v", i, ss)
		}
		// Ratio of the two components identifies the text.
		want := float64(texts[i][0]) / float64(len(texts[i])+1)
		if got := float64(v[1]) / float64(v[0]); math.Abs(got-want) > 1e-4 {
			t.Errorf("vector %d belongs to another text: ratio %v want %v", i, got, want)
		}
	}
}

func TestOpenAIDimFromFirstAnswer(t *testing.T) {
	srv, _ := embeddingsServer(t, 5, nil)
	e := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test"})
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 5 {
		t.Errorf("Dim = %d, want 5", e.Dim())
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		dim     int
		tamper  func([]map[string]any) []map[string]any
		badResp bool
	}{
		{name: "unauthorised", key: "wrong", dim: 4},
		{name: "wrong dimension", key: "sk-test", dim: 6, badResp: true},
		{name: "missing vector", key: "sk-test", dim: 4, badResp: true,
			tamper: func(d []map[string]any) []map[string]any { return d[1:] }},
		{name: "repeated index", key: "sk-test", dim: 4, badResp: true,
			tamper: func(d []map[string]any) []map[string]any { d[0]["index"] = d[1]["index"]; return d }},
		{name: "zero vector", key: "sk-test", dim: 4, badResp: true,
			tamper: func(d []map[string]any) []map[string]any { d[0]["embedding"] = make([]float32, 4); return d }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := embeddingsServer(t, 4, tt.tamper)
			e := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: tt.key, Dim: tt.dim})
			_, err := e.Embed(context.Background(), []string{"one", "two"})
			if err == nil {
				t.Fatal("want error")
			}
			if errors.Is(err, ErrBadResponse) != tt.badResp {
				t.Errorf("errors.Is(ErrBadResponse) = %v, want %v: %v", !tt.badResp, tt.badResp, err)
			}
		})
	}
}

func TestOpenAITimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	e := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "k", Dim: 4, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := e.Embed(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("want deadline error, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}
