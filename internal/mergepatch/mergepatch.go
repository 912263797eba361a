// Package mergepatch applies JSON merge patches (RFC 7396): an object
// patch sets the members it names, removes those it sets to null and
// leaves the others alone; any other patch replaces the document.
package mergepatch

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Apply returns doc with patch applied. Numbers keep their text.
func Apply(doc, patch []byte) ([]byte, error) {
	var d, p any
	if len(bytes.TrimSpace(doc)) > 0 {
		if err := unmarshal(doc, &d); err != nil {
			return nil, fmt.Errorf("mergepatch: document: %w", err)
		}
	}
	if err := unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("mergepatch: patch: %w", err)
	}
	return json.Marshal(merge(d, p))
}

func unmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

func merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = merge(t[k], v)
	}
	return t
}
