package local

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/units"
)

var demo struct {
	once sync.Once
	dir  string
	eng  *engine.Engine
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if demo.eng != nil {
		demo.eng.Close()
	}
	if demo.dir != "" {
		os.RemoveAll(demo.dir)
	}
	os.Exit(code)
}

// demoEngine opens the engine's demo model (small, random weights) once
// for all tests in the package.
func demoEngine(t *testing.T) *engine.Engine {
	t.Helper()
	demo.once.Do(func() {
		demo.dir, demo.err = os.MkdirTemp("", "moegate-experts-test")
		if demo.err != nil {
			return
		}
		path := filepath.Join(demo.dir, "demo.gguf")
		if demo.err = modelgen.Write(path, modelgen.DemoSpec()); demo.err != nil {
			return
		}
		demo.eng, demo.err = engine.Open(context.Background(), path, engine.Options{Parallel: 2, Context: 512})
	})
	if demo.err != nil {
		t.Fatalf("demo model: %v", demo.err)
	}
	return demo.eng
}

// recordingEngine wraps the real engine and records what it was asked.
type recordingEngine struct {
	*engine.Engine
	mu     sync.Mutex
	msgs   []engine.Message
	params engine.Params
}

func (r *recordingEngine) Chat(ctx context.Context, msgs []engine.Message, p engine.Params, onToken func(string) error) (engine.Result, error) {
	r.mu.Lock()
	r.msgs, r.params = msgs, p
	r.mu.Unlock()
	return r.Engine.Chat(ctx, msgs, p, onToken)
}

func TestLocalMapsRequest(t *testing.T) {
	eng := &recordingEngine{Engine: demoEngine(t)}
	l := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal, SystemPrompt: "Be brief."}, eng, 0)
	resp, err := l.Complete(context.Background(), &experts.Request{
		Messages:  []experts.Message{{Role: "developer", Content: "d"}, {Role: "user", Content: "hello"}, {Role: "tool", Content: "42"}},
		MaxTokens: 5, Seed: ptr(0), Stop: []string{"\n\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens == 0 || resp.Usage.CompletionTokens > 5 || resp.Usage.PromptTokens == 0 ||
		resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("usage %+v", resp.Usage)
	}
	if resp.FinishReason != "length" && resp.FinishReason != "stop" {
		t.Fatalf("finish reason %q", resp.FinishReason)
	}
	roles := []string{}
	for _, m := range eng.msgs {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,system,user,user" || eng.msgs[0].Content != "Be brief." {
		t.Fatalf("messages %+v", eng.msgs)
	}
	p := eng.params
	if p.MaxTokens != 5 || p.Temperature != DefaultTemperature || p.Seed == 0 || len(p.Stop) != 1 {
		t.Fatalf("params %+v", p)
	}

	// Defaults when the request sets nothing.
	if _, err := l.Complete(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}, MaxTokens: 1}); err != nil {
		t.Fatal(err)
	}
	if _, p, _ := l.convert(&experts.Request{}); p.MaxTokens != DefaultMaxTokens || p.TopK != DefaultTopK || p.Seed != 0 {
		t.Fatalf("default params %+v", p)
	}
	if _, p, _ := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, eng, 99).convert(&experts.Request{}); p.MaxTokens != 99 {
		t.Fatalf("configured default max tokens: %+v", p)
	}
}

func TestLocalDeterministicWithSeed(t *testing.T) {
	l := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, demoEngine(t), 0)
	req := &experts.Request{Messages: []experts.Message{{Role: "user", Content: "tell me a story"}}, MaxTokens: 12, Seed: ptr(42), Temperature: ptr(float32(1))}
	a, err := l.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	b, err := l.Stream(context.Background(), req, func(d experts.Delta) error {
		pieces = append(pieces, d.Content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Content != b.Content || strings.Join(pieces, "") != b.Content {
		t.Fatalf("complete %q, stream %q, pieces %q", a.Content, b.Content, pieces)
	}
}

func TestLocalRejectsWhatItCannotDo(t *testing.T) {
	l := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, demoEngine(t), 0)
	for name, req := range map[string]*experts.Request{
		"tools":       {Tools: json.RawMessage(`[{"type":"function","function":{"name":"f"}}]`)},
		"json_object": {ResponseFormat: json.RawMessage(`{"type":"json_object"}`)},
		"images":      {Images: 1, Messages: []experts.Message{{Role: "user", Content: "what is this?"}}},
	} {
		if _, err := l.Complete(context.Background(), req); !errors.Is(err, experts.ErrInvalid) {
			t.Errorf("%s: %v, want experts.ErrInvalid", name, err)
		}
	}
	if _, err := l.Complete(context.Background(), &experts.Request{ResponseFormat: json.RawMessage(`{"type":"text"}`), MaxTokens: 1,
		Messages: []experts.Message{{Role: "user", Content: "x"}}}); err != nil {
		t.Errorf("response_format text: %v", err)
	}
	long := strings.Repeat("word ", 2000) // beyond the 512-token test context
	if _, err := l.Complete(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: long}}}); !errors.Is(err, experts.ErrInvalid) {
		t.Errorf("prompt too long: %v, want experts.ErrInvalid", err)
	}
}

// Parameters of the client's body the engine cannot honour are a 400
// naming them, not silently ignored.
func TestLocalNamesWhatItCannotHonour(t *testing.T) {
	l := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, demoEngine(t), 0)
	msgs := []experts.Message{{Role: "user", Content: "x"}}
	for _, tt := range []struct{ body, param string }{
		{`{"presence_penalty":0.5}`, "presence_penalty"},
		{`{"frequency_penalty":-1}`, "frequency_penalty"},
		{`{"logit_bias":{"50256":-100}}`, "logit_bias"},
		{`{"logprobs":true,"top_logprobs":2}`, "logprobs"},
		{`{"top_logprobs":2}`, "top_logprobs"},
		{`{"n":2}`, "n"},
		{`{"reasoning_effort":"low"}`, "reasoning_effort"},
		{`{"modalities":["text","audio"]}`, "modalities"},
		{`{"audio":{"voice":"alloy","format":"wav"}}`, "audio"},
		{`{"prediction":{"type":"content","content":"x"}}`, "prediction"},
		{`{"web_search_options":{}}`, "web_search_options"},
	} {
		_, err := l.Complete(context.Background(), &experts.Request{Messages: msgs, MaxTokens: 1, Body: []byte(tt.body)})
		var ve *experts.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.param || !strings.Contains(ve.Message, tt.param) {
			t.Errorf("%s: %v, want a 400 naming %s", tt.body, err, tt.param)
		}
	}
	// What it honours, or neutral values, pass.
	body := `{"model":"tiny","temperature":0,"top_p":1,"seed":1,"stop":["x"],"presence_penalty":0,"logprobs":false,"n":1,"modalities":["text"],"user":"u"}`
	if _, err := l.Complete(context.Background(), &experts.Request{Messages: msgs, MaxTokens: 1, Body: []byte(body)}); err != nil {
		t.Errorf("neutral parameters: %v", err)
	}
}

// The local expert states its capabilities from the loaded model: text
// only, within the engine's context; its spec may narrow them.
func TestLocalCapabilities(t *testing.T) {
	eng := demoEngine(t)
	c := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, eng, 0).Capabilities()
	if *c.Tools || *c.JSONSchema || *c.Vision || c.MaxContext != eng.Info().Context || c.MaxContext == 0 {
		t.Fatalf("capabilities %+v, engine context %d", c, eng.Info().Context)
	}
	c = New(experts.Spec{Name: "tiny", Kind: experts.KindLocal, Capabilities: experts.Capabilities{MaxOutput: 64}}, eng, 0).Capabilities()
	if c.MaxOutput != 64 || c.MaxContext != eng.Info().Context {
		t.Fatalf("narrowed by the spec: %+v", c)
	}
	if l := c.Lacks(experts.NeedsOf(&experts.Request{MaxTokens: 100})); l == nil || l.Param != "max_tokens" {
		t.Fatalf("max_tokens 100 over max_output 64: %+v", l)
	}
	long := experts.NeedsOf(&experts.Request{Messages: []experts.Message{{Role: "user", Content: strings.Repeat("word ", 2000)}}})
	if l := c.Lacks(long); l == nil || l.Param != "messages" {
		t.Fatalf("a prompt over the context: %+v", l)
	}
}

// endlessEngine produces tokens until its context ends, so timeouts and
// cancellation are tested without depending on when a real model stops.
type endlessEngine struct{}

func (endlessEngine) Chat(ctx context.Context, _ []engine.Message, _ engine.Params, onToken func(string) error) (engine.Result, error) {
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return engine.Result{CompletionTokens: n}, err
		}
		if onToken != nil {
			if err := onToken("tok "); err != nil {
				return engine.Result{CompletionTokens: n}, err
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func (endlessEngine) Info() engine.Info { return engine.Info{Name: "endless"} }

func TestLocalCancelAndTimeout(t *testing.T) {
	var eng endlessEngine
	long := &experts.Request{Messages: []experts.Message{{Role: "user", Content: "go on"}}, MaxTokens: 100000}

	l := New(experts.Spec{Name: "tiny", Kind: experts.KindLocal, Timeout: units.Duration(20 * time.Millisecond)}, eng, 0)
	start := time.Now()
	_, err := l.Complete(context.Background(), long)
	var ue *experts.UpstreamError
	if !errors.As(err, &ue) || !ue.Timeout {
		t.Fatalf("timeout: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("timeout took %v", time.Since(start))
	}

	l = New(experts.Spec{Name: "tiny", Kind: experts.KindLocal}, eng, 0)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = l.Stream(ctx, long, func(experts.Delta) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}

	stop := errors.New("client gone")
	if _, err := l.Stream(context.Background(), long, func(experts.Delta) error { return stop }); err != stop {
		t.Fatalf("callback error: %v, want it unchanged", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCheck(t *testing.T) {
	tests := []struct {
		spec  experts.Spec
		field string // "" = valid
	}{
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal}, ""},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Model: "/models/m.gguf"}, ""},
		{experts.Spec{Name: "tiny", Kind: experts.KindOpenAI}, "kind"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, BaseURL: "http://h"}, "base_url"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, APIKeyEnv: "KEY"}, "api_key_env"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Headers: map[string]string{"X-A": "b"}}, "headers"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Capabilities: experts.Capabilities{Tools: new(true)}}, "capabilities.tools"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Deployments: []experts.Deployment{{BaseURL: "http://a"}}}, "deployments"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Capabilities: experts.Capabilities{Vision: new(true)}}, "capabilities.vision"},
		{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Capabilities: experts.Capabilities{Tools: new(false), MaxOutput: 64}}, ""},
	}
	fifo := filepath.Join(t.TempDir(), "model.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		spec  experts.Spec
		field string
	}{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Model: fifo}, "model"}, struct {
		spec  experts.Spec
		field string
	}{experts.Spec{Name: "tiny", Kind: experts.KindLocal, Model: t.TempDir()}, "model"})
	// Building a FIFO fails at once instead of blocking on open.
	done := make(chan error, 1)
	go func() {
		_, err := Kind(nil, 0).Build(context.Background(), experts.Spec{Name: "tiny", Kind: experts.KindLocal, Model: fifo})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Build on a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Build on a FIFO blocked")
	}
	for _, tt := range tests {
		err := Check(tt.spec)
		var ve *experts.ValidationError
		switch {
		case tt.field == "" && err != nil:
			t.Fatalf("%+v: %v", tt.spec, err)
		case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
			t.Fatalf("%+v: Check = %v, want invalid %s", tt.spec, err, tt.field)
		}
	}
}
