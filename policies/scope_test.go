package policies

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

var testExperts = []ExpertInfo{
	{Name: "banking", DataOwner: "acme", Enabled: true},
	{Name: "credit_cards", DataOwner: "acme", Enabled: true},
	{Name: "travel", DataOwner: "globex", Enabled: true},
	{Name: "legal", DataOwner: "initech", Enabled: true},
	{Name: "general", Enabled: true},
	{Name: "retired", Enabled: false},
}

func exclusionMap(s Scope) map[string]string {
	m := map[string]string{}
	for _, e := range s.Excluded {
		m[e.Name] = e.Reason
	}
	return m
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name         string
		tenant       Tenant
		opt          OptOut
		allowed      []string
		excluded     map[string]string
		excludedData []string
		defaultOK    bool
	}{
		{
			name:      "no restrictions",
			tenant:    Tenant{Name: "t"},
			allowed:   []string{"banking", "credit_cards", "general", "legal", "travel"},
			excluded:  map[string]string{},
			defaultOK: true,
		},
		{
			name:         "request excludes a data owner",
			tenant:       Tenant{Name: "t"},
			opt:          OptOut{ExcludeData: []string{"acme"}},
			allowed:      []string{"general", "legal", "travel"},
			excluded:     map[string]string{"banking": "data_owner acme excluded by request", "credit_cards": "data_owner acme excluded by request"},
			excludedData: []string{"acme"},
			defaultOK:    true,
		},
		{
			name:         "tenant denies expert and data",
			tenant:       Tenant{Name: "t", DeniedExperts: []string{"travel"}, DeniedData: []string{"initech"}},
			opt:          OptOut{ExcludeData: []string{"zeta"}},
			allowed:      []string{"banking", "credit_cards", "general"},
			excluded:     map[string]string{"travel": "denied by tenant policy", "legal": "data_owner initech denied by tenant policy"},
			excludedData: []string{"initech", "zeta"},
			defaultOK:    true,
		},
		{
			name:      "tenant allow list",
			tenant:    Tenant{Name: "t", AllowedExperts: []string{"banking", "general"}},
			allowed:   []string{"banking", "general"},
			excluded:  map[string]string{"credit_cards": "not in tenant allowed_experts", "travel": "not in tenant allowed_experts", "legal": "not in tenant allowed_experts"},
			defaultOK: true,
		},
		{
			name:      "tenant allowed data",
			tenant:    Tenant{Name: "t", AllowedData: []string{"globex"}},
			allowed:   []string{"general", "travel"},
			excluded:  map[string]string{"banking": "data_owner acme not in tenant allowed_data", "credit_cards": "data_owner acme not in tenant allowed_data", "legal": "data_owner initech not in tenant allowed_data"},
			defaultOK: true,
		},
		{
			name:      "only experts excludes the default too",
			tenant:    Tenant{Name: "t"},
			opt:       OptOut{OnlyExperts: []string{"banking"}, ExcludeExperts: []string{"travel"}},
			allowed:   []string{"banking"},
			excluded:  map[string]string{"credit_cards": "not in only_experts", "travel": "excluded by request", "legal": "not in only_experts", "general": "not in only_experts"},
			defaultOK: false,
		},
		{
			name:      "tenant reason wins over request reason",
			tenant:    Tenant{Name: "t", DeniedExperts: []string{"banking"}},
			opt:       OptOut{ExcludeExperts: []string{"banking"}},
			allowed:   []string{"credit_cards", "general", "legal", "travel"},
			excluded:  map[string]string{"banking": "denied by tenant policy"},
			defaultOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Resolve(tt.tenant, tt.opt, testExperts, "general")
			if !slices.Equal(s.Allowed, tt.allowed) {
				t.Errorf("Allowed = %v, want %v", s.Allowed, tt.allowed)
			}
			if got := exclusionMap(s); len(got) != len(tt.excluded) {
				t.Errorf("Excluded = %v, want %v", got, tt.excluded)
			} else {
				for k, v := range tt.excluded {
					if got[k] != v {
						t.Errorf("Excluded[%s] = %q, want %q", k, got[k], v)
					}
				}
			}
			if !slices.Equal(s.ExcludedData, tt.excludedData) {
				t.Errorf("ExcludedData = %v, want %v", s.ExcludedData, tt.excludedData)
			}
			if s.DefaultAllowed != tt.defaultOK {
				t.Errorf("DefaultAllowed = %v, want %v", s.DefaultAllowed, tt.defaultOK)
			}
			if s.Tenant != "t" {
				t.Errorf("Tenant = %q", s.Tenant)
			}
			for _, a := range s.Allowed {
				if _, bad := exclusionMap(s)[a]; bad || !s.Allows(a) {
					t.Errorf("%s both allowed and excluded", a)
				}
			}
			if s.Allows("retired") || exclusionMap(s)["retired"] != "" {
				t.Error("disabled expert appears in scope")
			}
		})
	}
}

func TestResolveNoExpertAllowed(t *testing.T) {
	s := Resolve(Tenant{Name: "t"}, OptOut{OnlyExperts: []string{"nonexistent"}}, testExperts, "general")
	err := s.Err()
	if !errors.Is(err, ErrNoExpertAllowed) {
		t.Fatalf("Err() = %v, want ErrNoExpertAllowed", err)
	}
	if !strings.Contains(err.Error(), "not in only_experts") {
		t.Errorf("error lacks reasons: %v", err)
	}
	// Default expert not registered: name rules still apply to it.
	s = Resolve(Tenant{Name: "t", DeniedExperts: []string{"fallback"}}, OptOut{ExcludeExperts: []string{"banking"}},
		[]ExpertInfo{{Name: "banking", Enabled: true}}, "fallback")
	if !errors.Is(s.Err(), ErrNoExpertAllowed) || s.DefaultAllowed {
		t.Errorf("denied unregistered default: DefaultAllowed=%v err=%v", s.DefaultAllowed, s.Err())
	}
	s = Resolve(Tenant{Name: "t"}, OptOut{ExcludeExperts: []string{"banking"}}, []ExpertInfo{{Name: "banking", Enabled: true}}, "fallback")
	if s.Err() != nil || !s.DefaultAllowed || len(s.Allowed) != 0 {
		t.Errorf("default alone should serve: %+v, %v", s, s.Err())
	}
	if err := Resolve(Tenant{Name: "t"}, OptOut{}, nil, "").Err(); !errors.Is(err, ErrNoExpertAllowed) {
		t.Errorf("no experts at all: %v", err)
	}
}

func TestScopeClampK(t *testing.T) {
	s := Resolve(Tenant{Name: "t", MaxK: 2}, OptOut{}, testExperts, "general")
	for k, want := range map[int]int{0: 0, 1: 1, 2: 2, 5: 2} {
		if got := s.ClampK(k); got != want {
			t.Errorf("ClampK(%d) = %d, want %d", k, got, want)
		}
	}
	if got := Resolve(Tenant{Name: "t"}, OptOut{}, testExperts, "").ClampK(7); got != 7 {
		t.Errorf("no MaxK: ClampK(7) = %d", got)
	}
}

func TestScopeAllowsDataOwner(t *testing.T) {
	s := Resolve(Tenant{Name: "t", DeniedData: []string{"initech"}}, OptOut{ExcludeData: []string{"acme"}}, testExperts, "general")
	for owner, want := range map[string]bool{"": true, "acme": false, "initech": false, "globex": true} {
		if got := s.AllowsDataOwner(owner); got != want {
			t.Errorf("AllowsDataOwner(%q) = %v, want %v", owner, got, want)
		}
	}
	s = Resolve(Tenant{Name: "t", AllowedData: []string{"globex"}}, OptOut{}, testExperts, "general")
	for owner, want := range map[string]bool{"": true, "acme": false, "globex": true} {
		if got := s.AllowsDataOwner(owner); got != want {
			t.Errorf("allowed_data: AllowsDataOwner(%q) = %v, want %v", owner, got, want)
		}
	}
}

func TestScopeKey(t *testing.T) {
	base := Resolve(Tenant{Name: "t"}, OptOut{}, testExperts, "general")
	// Same inputs in a different order give the same key.
	shuffled := slices.Clone(testExperts)
	slices.Reverse(shuffled)
	if k := Resolve(Tenant{Name: "t"}, OptOut{}, shuffled, "general").Key(); k != base.Key() {
		t.Errorf("key depends on expert order")
	}
	if k := Resolve(Tenant{Name: "t"}, OptOut{ExcludeExperts: []string{"nonexistent"}}, testExperts, "general").Key(); k != base.Key() {
		t.Errorf("excluding an unknown expert changed the key")
	}
	different := map[string]Scope{
		"other tenant":      Resolve(Tenant{Name: "u"}, OptOut{}, testExperts, "general"),
		"expert excluded":   Resolve(Tenant{Name: "t"}, OptOut{ExcludeExperts: []string{"travel"}}, testExperts, "general"),
		"data excluded":     Resolve(Tenant{Name: "t"}, OptOut{ExcludeData: []string{"acme"}}, testExperts, "general"),
		"unused data owner": Resolve(Tenant{Name: "t"}, OptOut{ExcludeData: []string{"nobody"}}, testExperts, "general"),
		"allowed data":      Resolve(Tenant{Name: "t", AllowedData: []string{"acme", "globex", "initech"}}, OptOut{}, testExperts, "general"),
		"default out":       Resolve(Tenant{Name: "t", DeniedExperts: []string{"other"}}, OptOut{}, testExperts, "other"),
	}
	seen := map[string]string{base.Key(): "base"}
	for name, s := range different {
		k := s.Key()
		if prev, dup := seen[k]; dup {
			t.Errorf("%s has the same key as %s", name, prev)
		}
		seen[k] = name
	}
}

func TestParseExcludeHeaderAndMerge(t *testing.T) {
	if got := ParseExcludeHeader(" b, a,,b , c "); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ParseExcludeHeader = %v", got)
	}
	if got := ParseExcludeHeader(" , "); got != nil {
		t.Errorf("ParseExcludeHeader(empty) = %v, want nil", got)
	}
	body := OptOut{ExcludeExperts: []string{"x"}, ExcludeData: []string{"b"}, OnlyExperts: []string{"p", "q"}}
	m := body.Merge(OptOut{ExcludeData: ParseExcludeHeader("a,b")})
	if !slices.Equal(m.ExcludeData, []string{"a", "b"}) || !slices.Equal(m.ExcludeExperts, []string{"x"}) || !slices.Equal(m.OnlyExperts, []string{"p", "q"}) {
		t.Errorf("Merge = %+v", m)
	}
	m = body.Merge(OptOut{OnlyExperts: []string{"z"}})
	if m.OnlyExperts == nil || len(m.OnlyExperts) != 0 {
		t.Errorf("disjoint only_experts should allow nothing, got %#v", m.OnlyExperts)
	}
	if err := Resolve(Tenant{Name: "t"}, m, testExperts, "general").Err(); !errors.Is(err, ErrNoExpertAllowed) {
		t.Errorf("disjoint only_experts resolved to %v", err)
	}
}

func TestParseRequestExtension(t *testing.T) {
	tests := []struct {
		raw     string
		want    Extension
		wantErr string
	}{
		{``, Extension{}, ""},
		{`null`, Extension{}, ""},
		{`{}`, Extension{}, ""},
		{`{"exclude_data":["b","a","b"],"only_experts":[],"top_k":2,"top_p":0.9,"aggregate":"synthesize","retrieval":"never"}`,
			Extension{OptOut: OptOut{ExcludeData: []string{"a", "b"}}, TopK: 2, TopP: 0.9, Aggregate: "synthesize", Retrieval: "never"}, ""},
		{`{"only_experts":["x"],"exclude_experts":["y"]}`, Extension{OptOut: OptOut{OnlyExperts: []string{"x"}, ExcludeExperts: []string{"y"}}}, ""},
		{`{"top_k":-1}`, Extension{}, "top_k"},
		{`{"top_k":1000}`, Extension{}, "top_k"},
		{`{"top_p":1.5}`, Extension{}, "top_p"},
		{`{"aggregate":"vote"}`, Extension{}, "aggregate"},
		{`{"retrieval":"sometimes"}`, Extension{}, "retrieval"},
		{`{"exclude_data":"acme"}`, Extension{}, "exclude_data"},
		{`{"exclude_data":[""]}`, Extension{}, "exclude_data"},
		{`{"exclude_expert":["x"]}`, Extension{}, "unknown field"},
		{`{"top_k":"2"}`, Extension{}, "top_k"},
		{`{} {}`, Extension{}, "trailing"},
		{`[1]`, Extension{}, "moegate"},
	}
	for _, tt := range tests {
		got, err := ParseRequestExtension(json.RawMessage(tt.raw))
		if tt.wantErr != "" {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRequestExtension(%s) err = %v, want ErrInvalid mentioning %q", tt.raw, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRequestExtension(%s) err = %v", tt.raw, err)
			continue
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(tt.want)
		if string(gj) != string(wj) || (got.OnlyExperts == nil) != (tt.want.OnlyExperts == nil) {
			t.Errorf("ParseRequestExtension(%s) = %s, want %s", tt.raw, gj, wj)
		}
	}
}

func FuzzParseOptOut(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"exclude_data":["acme"],"top_k":3}`, `{"only_experts":[]}`,
		`{"top_p":1e309}`, `{"retrieval":"always","aggregate":"top1"}`, `{"exclude_experts":["a\u0000"]}`, `{"top_k":1.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := ParseRequestExtension(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("parsed extension fails Validate: %v", err)
		}
		if !slices.IsSorted(e.ExcludeData) || !slices.IsSorted(e.ExcludeExperts) || !slices.IsSorted(e.OnlyExperts) {
			t.Fatalf("lists not sorted: %+v", e)
		}
		// Whatever was parsed must resolve without panicking.
		Resolve(Tenant{Name: "t"}, e.OptOut, testExperts, "general").Key()
	})
}

func FuzzResolve(f *testing.F) {
	f.Add("acme", "travel", "banking", "initech", "banking", "general")
	f.Add("", "", "", "", "", "")
	f.Add("acme,globex", "a,b", "x", "y", "", "nope")
	f.Fuzz(func(t *testing.T, exclData, exclExperts, only, tenantDenyData, tenantDenyExperts, defaultExpert string) {
		o := OptOut{ExcludeData: ParseExcludeHeader(exclData), ExcludeExperts: ParseExcludeHeader(exclExperts)}
		if only != "" {
			o.OnlyExperts = ParseExcludeHeader(only)
		}
		tn := Tenant{Name: "t", DeniedData: ParseExcludeHeader(tenantDenyData), DeniedExperts: ParseExcludeHeader(tenantDenyExperts)}
		s := Resolve(tn, o, testExperts, defaultExpert)
		if !slices.IsSorted(s.Allowed) || !slices.IsSorted(s.ExcludedData) {
			t.Fatalf("not sorted: %+v", s)
		}
		ex := exclusionMap(s)
		for _, e := range testExperts {
			_, isEx := ex[e.Name]
			if !e.Enabled {
				if isEx || s.Allows(e.Name) {
					t.Fatalf("disabled %s in scope", e.Name)
				}
				continue
			}
			if isEx == s.Allows(e.Name) {
				t.Fatalf("%s: excluded=%v allowed=%v", e.Name, isEx, s.Allows(e.Name))
			}
			// The invariants that matter: nothing excluded by the request
			// or the tenant is ever allowed.
			if s.Allows(e.Name) {
				if slices.Contains(o.ExcludeExperts, e.Name) || slices.Contains(tn.DeniedExperts, e.Name) ||
					(o.OnlyExperts != nil && !slices.Contains(o.OnlyExperts, e.Name)) ||
					(e.DataOwner != "" && !s.AllowsDataOwner(e.DataOwner)) {
					t.Fatalf("%s allowed despite exclusion: %+v", e.Name, s)
				}
			}
		}
		for _, d := range append(o.ExcludeData, tn.DeniedData...) {
			if s.AllowsDataOwner(d) {
				t.Fatalf("data owner %q excluded but allowed", d)
			}
		}
		if (s.Err() == nil) != (len(s.Allowed) > 0 || s.DefaultAllowed) {
			t.Fatalf("Err() = %v for %+v", s.Err(), s)
		}
		if s.Key() != Resolve(tn, o, testExperts, defaultExpert).Key() {
			t.Fatal("key not deterministic")
		}
	})
}

// A name listed twice counts once, whether the list is sorted (the
// registry's order, resolved without a set) or not.
func TestResolveRepeatedNames(t *testing.T) {
	for _, names := range [][]string{{"a", "b", "b", "c"}, {"c", "b", "a", "b"}, {"a", "a"}} {
		var infos []ExpertInfo
		for _, n := range names {
			infos = append(infos, ExpertInfo{Name: n, Enabled: true})
		}
		s := Resolve(Tenant{Name: "t"}, OptOut{}, infos, "a")
		want := slices.Compact(slices.Sorted(slices.Values(names)))
		if !slices.Equal(s.Allowed, want) || !s.DefaultAllowed {
			t.Errorf("%v: allowed %v (default %v), want %v", names, s.Allowed, s.DefaultAllowed, want)
		}
	}
}
