package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	sentinel := New(NotFound, "thing not found")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"sentinel", sentinel, NotFound},
		{"wrapped sentinel", fmt.Errorf("get %q: %w", "x", sentinel), NotFound},
		{"formatted", E(Invalid, "bad %s", "value"), Invalid},
		{"outermost wins", E(UpstreamFailed, "expert: %w", sentinel), UpstreamFailed},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), Timeout},
		{"canceled", context.Canceled, Canceled},
		{"plain", errors.New("boom"), Internal},
		{"nil", nil, Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if !errors.Is(fmt.Errorf("x: %w", sentinel), sentinel) {
		t.Error("a wrapped sentinel is no longer errors.Is the sentinel")
	}
	if e := Param("top_k", "want %d", 3); e.Param != "top_k" || e.Kind != Invalid || e.Error() != "want 3" {
		t.Errorf("Param = %+v", e)
	}
	if Kind(200).String() != "kind(200)" || Timeout.String() != "timeout" {
		t.Error("Kind.String")
	}
}
