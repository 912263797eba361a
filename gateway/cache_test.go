package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// The cache serves a repeated request only when the request allows it:
// sampled requests get a fresh answer by default, moegate.cache overrides,
// and refresh replaces the stored answer without reading it.
func TestCacheSemantics(t *testing.T) {
	f := func(v float32) *float32 { return &v }
	tests := []struct {
		name       string
		sampled    bool // Options.CacheSampled
		temp, topP *float32
		mode       string
		wantHit    bool // on the second identical request
		wantMode   string
	}{
		{"default greedy request is cached", false, nil, nil, "", true, "on"},
		{"temperature 0 is cached", false, f(0), nil, "", true, "on"},
		{"temperature 1.5 is not", false, f(1.5), nil, "", false, "off"},
		{"top_p 0.5 is not", false, nil, f(0.5), "", false, "off"},
		{"configured to cache sampled requests", true, f(1.5), nil, "", true, "on"},
		{"request turns it on for a sampled request", false, f(1.5), nil, "on", true, "on"},
		{"request turns it off", false, nil, nil, "off", false, "off"},
		{"refresh never reads", false, nil, nil, "refresh", false, "refresh"},
	}
	e := newEnv(t, router.Options{}, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.gw.opts.CacheSampled = tt.sampled
			e.gw.deps.Cache = policies.NewMemoryCache(policies.CacheOptions{})
			ctx := context.Background()
			var last *Result
			for range 2 {
				r := chat("will it rain tomorrow in the city", policies.Extension{Cache: tt.mode})
				r.Chat.Temperature, r.Chat.TopP = tt.temp, tt.topP
				p, err := e.gw.Plan(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if last, err = e.gw.Execute(ctx, p, nil); err != nil {
					t.Fatal(err)
				}
			}
			if c := last.Info.Cache; c.Hit != tt.wantHit || c.Mode != tt.wantMode {
				t.Fatalf("second request: cache %+v, want hit=%t mode=%s", c, tt.wantHit, tt.wantMode)
			}
			if !tt.wantHit && last.Info.Cache.Reason == "" {
				t.Fatalf("a skipped cache must say why: %+v", last.Info.Cache)
			}
		})
	}

	// refresh stores: a later plain request is served the refreshed answer.
	e.gw.opts.CacheSampled = false
	e.gw.deps.Cache = policies.NewMemoryCache(policies.CacheOptions{})
	ctx := context.Background()
	for i, mode := range []string{"refresh", ""} {
		p, err := e.gw.Plan(ctx, chat("will it rain tomorrow in the city", policies.Extension{Cache: mode}))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.gw.Execute(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Info.Cache.Hit != (i == 1) {
			t.Fatalf("request %d (%q): cache %+v", i, mode, res.Info.Cache)
		}
	}
}

// The cache keys' extra field is built by hand for speed: it must read as
// the fmt format it replaced, or every stored answer would miss.
func TestCacheKeysExtraAsFormatted(t *testing.T) {
	tests := []struct {
		name       string
		candidates []aggregate.Candidate
		passages   []Passage
		format     string
		body       string
		bare       bool // Request.BareBody: the body is not scanned for params
	}{
		{"routed", []aggregate.Candidate{{Name: "banking"}, {Name: "local", FallbackFor: "banking"}}, nil, "", `{"model":"auto","messages":[]}`, false},
		{"routed, bare", []aggregate.Candidate{{Name: "banking"}, {Name: "local", FallbackFor: "banking"}}, nil, "",
			`{"model":"auto","messages":[],"stream":true,"stream_options":{"include_usage":true},"user":"u","moegate":{"top_k":2}}`, true},
		{"several, passages, format and params", []aggregate.Candidate{{Name: "a\"b"}, {Name: "c"}, {Name: "d", FallbackFor: "c"}},
			[]Passage{{Chunk: "doc1#0"}, {Chunk: "dóc\n2"}}, `{"type":"json_object"}`, `{"model":"auto","seed":3,"logit_bias":{"1":2},"messages":[]}`, false},
		{"nothing", nil, nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat := &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}, Body: []byte(tt.body)}
			if tt.format != "" {
				chat.ResponseFormat = []byte(tt.format)
			}
			p := &Plan{Info: &Info{}, req: &Request{Model: "auto", Chat: chat, BareBody: tt.bare}, candidates: tt.candidates, strategy: aggregate.Top1,
				scope: policies.Scope{Tenant: "t"}}
			p.Info.Retrieval.Passages = tt.passages
			var routed, passages []string
			for _, c := range tt.candidates {
				if c.FallbackFor == "" {
					routed = append(routed, c.Name)
				}
			}
			for _, ps := range tt.passages {
				passages = append(passages, ps.Chunk)
			}
			want := policies.CacheRequest{Model: "auto", Messages: []policies.CacheMessage{{Role: "user", Content: "hi"}},
				Extra: fmt.Sprintf("aggregate=%s routed=%q passages=%q format=%s params=%s", aggregate.Top1, routed, passages, chat.ResponseFormat, otherParams(chat.Body))}
			ws, we := policies.CacheKeys(p.scope, want)
			// Without a memo, then twice through one: the remembered
			// scope key must be the one computed.
			var k policies.CacheKeyer
			for _, keyer := range []*policies.CacheKeyer{nil, &k, &k} {
				if gs, ge := p.cacheKeys(keyer); gs != ws || ge != we {
					t.Fatalf("keys %s %s, want %s %s", gs, ge, ws, we)
				}
			}
		})
	}
}
