package experts

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/units"
	"gopkg.in/yaml.v3"
)

func validOpenAI() Spec {
	return Spec{Name: "banking", Kind: KindOpenAI, BaseURL: "http://127.0.0.1:8000", Model: "m"}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Spec)
		field string // "" = valid
	}{
		{"valid openai", func(s *Spec) {}, ""},
		{"valid local", func(s *Spec) { *s = Spec{Name: "tiny", Kind: KindLocal} }, ""},
		{"name with dots and dashes", func(s *Spec) { s.Name = "a.b_c-9" }, ""},
		{"empty name", func(s *Spec) { s.Name = "" }, "name"},
		{"upper-case name", func(s *Spec) { s.Name = "Banking" }, "name"},
		{"leading dash", func(s *Spec) { s.Name = "-x" }, "name"},
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("a", 65) }, "name"},
		{"reserved auto", func(s *Spec) { s.Name = "auto" }, "name"},
		{"missing kind", func(s *Spec) { s.Kind = "" }, "kind"},
		{"bad env name", func(s *Spec) { s.APIKeyEnv = "1KEY" }, "api_key_env"},
		{"bad header name", func(s *Spec) { s.Headers = map[string]string{"X Bad": "v"} }, "headers"},
		{"header value newline", func(s *Spec) { s.Headers = map[string]string{"X-A": "v\r\nX-B: w"} }, "headers"},
		{"negative timeout", func(s *Spec) { s.Timeout = units.Duration(-time.Second) }, "timeout"},
		{"huge timeout", func(s *Spec) { s.Timeout = units.Duration(2 * time.Hour) }, "timeout"},
		{"negative concurrency", func(s *Spec) { s.MaxConcurrency = -1 }, "max_concurrency"},
		{"negative cost", func(s *Spec) { s.CostPer1KTokens = -1 }, "cost_per_1k_tokens"},
		{"NaN cost", func(s *Spec) { s.CostPer1KTokens = math.NaN() }, "cost_per_1k_tokens"},
		{"negative latency", func(s *Spec) { s.LatencyHintMS = -5 }, "latency_hint_ms"},
		{"bad data owner", func(s *Spec) { s.DataOwner = "Acme Corp" }, "data_owner"},
		{"too many tags", func(s *Spec) {
			s.Tags = make([]string, maxTags+1)
			for i := range s.Tags {
				s.Tags[i] = strings.Repeat("t", i+1)
			}
		}, "tags"},
		{"too many examples", func(s *Spec) {
			s.Examples = make([]string, maxExamples+1)
			for i := range s.Examples {
				s.Examples[i] = "q"
			}
		}, "examples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validOpenAI()
			tt.edit(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want *ValidationError wrapping ErrInvalid", err)
			}
			if ve.Field != tt.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, tt.field, err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	s := Spec{
		Name: " banking ", Kind: " OpenAI ", BaseURL: "http://h/v1/ ", Model: " m ",
		Tags: []string{" a", "", "a", "b "}, Examples: []string{"  ", "q"}, Headers: map[string]string{},
	}
	s.Normalize()
	if s.Name != "banking" || s.Kind != "openai" || s.BaseURL != "http://h/v1" || s.Model != "m" {
		t.Fatalf("trimmed fields wrong: %+v", s)
	}
	if strings.Join(s.Tags, ",") != "a,b" || strings.Join(s.Examples, ",") != "q" {
		t.Fatalf("tags %q examples %q", s.Tags, s.Examples)
	}
	if s.Headers != nil {
		t.Fatalf("empty headers kept: %v", s.Headers)
	}
	if s.Enabled == nil || !*s.Enabled || !s.IsEnabled() {
		t.Fatalf("Enabled not defaulted to true")
	}
	f := false
	s.Enabled = &f
	s.Normalize()
	if s.IsEnabled() {
		t.Fatal("Normalize overrode an explicit enabled=false")
	}
}

func TestDurationEncoding(t *testing.T) {
	var s struct {
		T units.Duration `json:"t" yaml:"t"`
	}
	for _, in := range []string{`{"t":"1m30s"}`, `{"t":90}`, `{"t":"90"}`} {
		if err := json.Unmarshal([]byte(in), &s); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if s.T.Std() != 90*time.Second {
			t.Fatalf("%s: got %v", in, s.T.Std())
		}
	}
	if err := json.Unmarshal([]byte(`{"t":"soon"}`), &s); err == nil {
		t.Fatal("accepted \"soon\"")
	}
	b, _ := json.Marshal(s)
	if string(b) != `{"t":"1m30s"}` {
		t.Fatalf("json = %s", b)
	}
	if err := yaml.Unmarshal([]byte("t: 45s\n"), &s); err != nil || s.T.Std() != 45*time.Second {
		t.Fatalf("yaml: %v %v", s.T.Std(), err)
	}
	y, _ := yaml.Marshal(s)
	if strings.TrimSpace(string(y)) != "t: 45s" {
		t.Fatalf("yaml = %q", y)
	}
}

func TestSpecJSONContract(t *testing.T) {
	in := `{"name":"n","kind":"openai","base_url":"http://h","model":"m","api_key_env":"K",
		"headers":{"X-A":"1"},"timeout":"5s","max_concurrency":3,"system_prompt":"sp","description":"d",
		"tags":["t"],"examples":["e"],"data_owner":"acme","cost_per_1k_tokens":0.5,"latency_hint_ms":200,"enabled":false}`
	var s Spec
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Timeout.Std() != 5*time.Second || s.MaxConcurrency != 3 || s.IsEnabled() || s.DataOwner != "acme" || s.CostPer1KTokens != 0.5 {
		t.Fatalf("decoded %+v", s)
	}
	out, _ := json.Marshal(s)
	if strings.Contains(string(out), "created_at") {
		t.Fatalf("zero created_at not omitted: %s", out)
	}
}

func TestUpstreamErrorRetryable(t *testing.T) {
	tests := []struct {
		e    UpstreamError
		want bool
	}{
		{UpstreamError{Status: 500}, true},
		{UpstreamError{Status: 503}, true},
		{UpstreamError{Status: 429}, true},
		{UpstreamError{Status: 400}, false},
		{UpstreamError{Status: 401}, false},
		{UpstreamError{Timeout: true}, true},
		{UpstreamError{Err: errors.New("connection refused")}, true},
		{UpstreamError{Err: &ValidationError{Field: "tools"}}, false},
	}
	for _, tt := range tests {
		if got := tt.e.Retryable(); got != tt.want {
			t.Errorf("%v: Retryable = %v, want %v", &tt.e, got, tt.want)
		}
	}
}
