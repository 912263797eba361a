package experts

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// checked is a kind that needs a model.
type checked struct{ Factory }

func (checked) Check(s Spec) error {
	if s.Model == "" {
		return invalid("model", "required")
	}
	return nil
}

func TestKindsCheckBeforeAnythingIsStored(t *testing.T) {
	tf := &testFactory{}
	kinds := Kinds{"a": checked{Factory(tf.build)}, "b": Factory(tf.build)}
	r := NewRegistry(NewFileStore(filepath.Join(t.TempDir(), "e.json")), kinds, nil)
	ctx := context.Background()
	tests := []struct {
		spec  Spec
		field string // "" = accepted
	}{
		{Spec{Name: "x", Kind: "a", Model: "m"}, ""},
		{Spec{Name: "y", Kind: "b"}, ""},
		{Spec{Name: "z", Kind: "a"}, "model"},
		{Spec{Name: "w", Kind: "grpc"}, "kind"},
	}
	for _, tt := range tests {
		_, err := r.Add(ctx, tt.spec)
		var ve *ValidationError
		switch {
		case tt.field == "" && err != nil:
			t.Fatalf("%+v: %v", tt.spec, err)
		case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
			t.Fatalf("%+v: err = %v, want invalid %s", tt.spec, err, tt.field)
		}
	}
	if got := len(r.List()); got != 2 || tf.builds.Load() != 2 {
		t.Fatalf("%d experts listed after %d builds, want 2 and 2", got, tf.builds.Load())
	}
	if err := r.Seed(ctx, []Spec{{Name: "v", Kind: "a"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("seeding a spec its kind refuses: %v", err)
	}
}
