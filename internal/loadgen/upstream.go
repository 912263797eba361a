package loadgen

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
)

// Upstream is an instant OpenAI-compatible chat completions endpoint: it
// answers every request at once with a fixed completion, or a fixed stream
// of chunks when the body asks for one. It is the "expert" of the
// overhead benchmark, so what is measured is everything in front of it.
func Upstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if bytes.Contains(body, []byte(`"stream":true`)) || bytes.Contains(body, []byte(`"stream": true`)) {
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			for _, c := range streamChunks {
				_, _ = w.Write(c)
			}
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(completionBody)))
		_, _ = w.Write(completionBody)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"instant","object":"model","owned_by":"bench"}]}`))
	})
	return mux
}

var completionBody = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"instant","choices":[{"index":0,"message":{"role":"assistant","content":"The instant upstream answers every question with this same short sentence."},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":12,"total_tokens":36}}` + "\n")

var streamChunks = func() [][]byte {
	var out [][]byte
	chunk := func(s string) {
		out = append(out, []byte("data: "+s+"\n\n"))
	}
	chunk(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"instant","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`)
	for _, w := range []string{"The ", "instant ", "upstream ", "streams ", "every ", "answer ", "in ", "eight pieces."} {
		chunk(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"instant","choices":[{"index":0,"delta":{"content":"` + w + `"},"finish_reason":null}]}`)
	}
	chunk(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"instant","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	chunk(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"instant","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":8,"total_tokens":32}}`)
	chunk(`[DONE]`)
	return out
}()

// Proxy is the trivial reverse proxy moegate is compared with: the
// standard library's, with a transport sized for conns connections.
func Proxy(target *url.URL, conns int) http.Handler {
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		DisableCompression:  true,
	}
	p.FlushInterval = -1 // flush streams at once, as a gateway must
	return p
}
