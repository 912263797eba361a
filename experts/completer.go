package experts

import (
	"context"
	"fmt"
)

// Completer asks one registered expert a single-turn question: how a part
// of the gateway (the router's teacher, say) uses an expert as its model.
// The expert is looked up at each call, so it may be added, changed or
// replaced at runtime.
type Completer struct {
	Registry interface {
		Get(name string) (Entry, bool)
	}
	Name string
}

// Complete sends prompt as the only user message and returns the answer.
func (c Completer) Complete(ctx context.Context, prompt string) (string, error) {
	e, ok := c.Registry.Get(c.Name)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNotFound, c.Name)
	}
	if !e.Ready() {
		return "", fmt.Errorf("expert %q is not available: %v", c.Name, e.Err)
	}
	resp, err := e.Expert.Complete(ctx, &Request{Messages: []Message{{Role: "user", Content: prompt}}})
	if err != nil {
		return "", err
	}
	return resp.Content, nil
}
