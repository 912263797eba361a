package experts

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// Kinds is a ready-made Factory for the standard kinds. Local experts
// share engines: one per model path, opened on first use and kept for the
// life of the process.
type Kinds struct {
	httpClient *http.Client
	defLocal   LocalEngine
	open       func(ctx context.Context, path string) (LocalEngine, error)

	mu      sync.Mutex
	engines map[string]LocalEngine
}

// NewKinds returns a factory. httpClient serves openai experts (nil:
// http.DefaultClient). defaultLocal answers local specs without a Model
// (nil: such specs fail with ErrInvalid). open loads the GGUF of a local
// spec that names one (nil: such specs fail with ErrInvalid).
func NewKinds(httpClient *http.Client, defaultLocal LocalEngine, open func(ctx context.Context, path string) (LocalEngine, error)) *Kinds {
	return &Kinds{httpClient: httpClient, defLocal: defaultLocal, open: open, engines: map[string]LocalEngine{}}
}

// Build implements Factory.
func (k *Kinds) Build(ctx context.Context, s Spec) (Expert, error) {
	switch s.Kind {
	case KindOpenAI:
		return NewOpenAI(s, k.httpClient)
	case KindLocal:
		eng, err := k.engine(ctx, s.Model)
		if err != nil {
			return nil, err
		}
		return NewLocal(s, eng), nil
	}
	return nil, invalid("kind", "%q is not %q or %q", s.Kind, KindOpenAI, KindLocal)
}

func (k *Kinds) engine(ctx context.Context, path string) (LocalEngine, error) {
	if path == "" {
		if k.defLocal == nil {
			return nil, invalid("model", "no default local model is loaded; give a GGUF path")
		}
		return k.defLocal, nil
	}
	if k.open == nil {
		return nil, invalid("model", "this gateway does not load extra local models")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.engines[path]; ok {
		return e, nil
	}
	e, err := k.open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%w: model %s: %w", ErrInvalid, path, err)
	}
	k.engines[path] = e
	return e, nil
}
