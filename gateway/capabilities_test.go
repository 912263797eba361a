package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// A request is routed only among experts that can serve it; the moegate
// object names the experts skipped and why; no capable expert is a 400
// naming the parameter.
func TestCapabilityRouting(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	ctx := context.Background()
	declare := func(name string, c experts.Capabilities) {
		t.Helper()
		entry, _ := e.reg.Get(name)
		s := entry.Spec
		s.Capabilities = c
		if _, err := e.reg.Update(ctx, name, s); err != nil {
			t.Fatal(err)
		}
	}
	no := new(false)
	declare("local", experts.Capabilities{Tools: no, JSONSchema: no, Vision: no, MaxContext: 64})
	declare("weather", experts.Capabilities{Tools: no, Vision: no})
	declare("travel", experts.Capabilities{Tools: no})
	for name := range domains {
		if name != "weather" && name != "travel" {
			declare(name, experts.Capabilities{Vision: no})
		}
	}
	tools := json.RawMessage(`[{"type":"function","function":{"name":"f"}}]`)
	schema := json.RawMessage(`{"type":"json_schema","json_schema":{"name":"x","schema":{}}}`)
	long := strings.Repeat("lorem ipsum ", 100)
	tests := []struct {
		name     string
		model    string
		text     string
		set      func(*experts.Request)
		answered string // "" = anyone but the skipped
		skipped  []string
		code     string // an error's code
		param    string
	}{
		{"weather query without tools goes to weather", "auto", "will it rain tomorrow in the city", nil, "weather", nil, "", ""},
		{"with tools it skips weather", "auto", "will it rain tomorrow in the city", func(r *experts.Request) { r.Tools = tools }, "", []string{"weather"}, "", ""},
		{"structured output skips the local default", "auto", "zzqx vvrt plok", func(r *experts.Request) { r.ResponseFormat = schema }, "", []string{"local"}, "", ""},
		{"a prompt beyond the default's context", "auto", long, nil, "", []string{"local"}, "", ""},
		{"images go to the only vision expert", "auto", "will it rain tomorrow in the city", func(r *experts.Request) { r.Images = 1 }, "travel", []string{"weather", "local"}, "", ""},
		{"direct to an expert without tools", "weather", "hi", func(r *experts.Request) { r.Tools = tools }, "", nil, "unsupported_parameter", "tools"},
		{"no expert can serve", "auto", "will it rain tomorrow", func(r *experts.Request) { r.Images = 1; r.Tools = tools }, "", nil, "no_capable_expert", "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := chat(tt.text, policies.Extension{})
			r.Model = tt.model
			if tt.set != nil {
				tt.set(r.Chat)
			}
			p, err := e.gw.Plan(ctx, r)
			if tt.code != "" {
				var ee *errs.Error
				if !errs.Is(err, errs.Invalid) || !errors.As(err, &ee) || ee.Code != tt.code || ee.Param != tt.param {
					t.Fatalf("err = %v, want a 400 %s on %s", err, tt.code, tt.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := p.Info.Route.Experts[0].Name
			if tt.answered != "" && got != tt.answered {
				t.Fatalf("routed to %s, want %s (%+v)", got, tt.answered, p.Info)
			}
			for _, s := range tt.skipped {
				if got == s {
					t.Fatalf("routed to %s, which cannot serve the request", s)
				}
				found := false
				for _, x := range p.Info.Excluded {
					found = found || x.Name == s && strings.HasPrefix(x.Reason, "cannot serve this request: ")
				}
				if !found {
					t.Fatalf("%s is not reported as skipped: %+v", s, p.Info.Excluded)
				}
			}
		})
	}
}
