package embed

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/errs"
)

// scripted embeds with the local features, fails, or stalls until its
// caller gives up, as its mode says.
type scripted struct {
	*Local
	mode  string // "ok", "fail", "stall"
	calls int
}

func (s *scripted) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	s.calls++
	switch s.mode {
	case "fail":
		return nil, errors.New("503 from the endpoint")
	case "stall":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Local.Embed(ctx, texts)
}

func TestGuarded(t *testing.T) {
	clock := time.Unix(1000, 0)
	s := &scripted{Local: NewLocal(32), mode: "ok"}
	g := NewGuarded(s, 20*time.Millisecond, 5*time.Second)
	g.gate.Now = func() time.Time { return clock }
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, step := range []struct {
		name      string
		ctx       context.Context
		mode      string
		advance   time.Duration
		wantErr   bool
		wantKind  errs.Kind
		wantSkip  bool
		wantCalls int
		wantText  string // in the error
	}{
		{"healthy", ctx, "ok", 0, false, 0, false, 1, ""},
		{"the caller's own cancellation starts no cooldown", canceled, "stall", 0, true, errs.Canceled, false, 2, ""},
		{"healthy after the caller left", ctx, "ok", 0, false, 0, false, 3, ""},
		{"failure", ctx, "fail", 0, true, errs.Internal, false, 4, ""},
		{"skipped while cooling down, saying why", ctx, "ok", 4 * time.Second, true, errs.Unavailable, true, 4, "503 from the endpoint"},
		{"called again after the cooldown", ctx, "stall", 2 * time.Second, true, errs.Timeout, false, 5, ""},
		{"a stall cools down too", ctx, "ok", time.Second, true, errs.Unavailable, true, 5, "did not answer within 20ms"},
		{"recovered", ctx, "ok", 5 * time.Second, false, 0, false, 6, ""},
	} {
		clock = clock.Add(step.advance)
		s.mode = step.mode
		vecs, err := g.Embed(step.ctx, []string{"book a flight"})
		switch {
		case !step.wantErr && (err != nil || len(vecs) != 1 || len(vecs[0]) != 32):
			t.Errorf("%s: %v, %d vectors; want one of 32", step.name, err, len(vecs))
		case step.wantErr && errs.KindOf(err) != step.wantKind:
			t.Errorf("%s: error %v of kind %v, want %v", step.name, err, errs.KindOf(err), step.wantKind)
		case errors.Is(err, ErrSkipped) != step.wantSkip:
			t.Errorf("%s: skipped %v, want %v", step.name, errors.Is(err, ErrSkipped), step.wantSkip)
		case s.calls != step.wantCalls:
			t.Errorf("%s: %d calls to the embedder, want %d", step.name, s.calls, step.wantCalls)
		case step.wantText != "" && !strings.Contains(err.Error(), step.wantText):
			t.Errorf("%s: error %q does not say %q", step.name, err, step.wantText)
		}
	}
	if g.Dim() != 32 {
		t.Errorf("Dim %d, want the wrapped embedder's 32", g.Dim())
	}
}
