package policies

import (
	"strings"
	"testing"
)

// The keys' encoding is shared by replicas and outlives a process in
// Redis: a change of encoding must be deliberate, so the keys of fixed
// requests are pinned.
func TestCacheKeysAreStable(t *testing.T) {
	temp, seed := 0.0, 7
	tests := []struct {
		name                       string
		scope                      Scope
		req                        CacheRequest
		wantKey, wantScope, wantEx string
		// Three strings are returned (the scope's key is hashed in);
		// parameters and roles that need formatting add theirs.
		maxAllocs float64
	}{
		{"plain", Scope{Tenant: "default", Allowed: []string{"banking", "travel"}, DefaultAllowed: true},
			CacheRequest{Model: "auto", Messages: []CacheMessage{{Role: "user", Content: "  what is my   balance\n"}}},
			"f178efc5e16efc5c19b3633d4b443e89", "864b6823bdba45515a7800c9b095d59a", "a670d454acdd78a0d180a7a0a30dc12e", 3},
		{"full", Scope{Tenant: "acme", Allowed: []string{"a"}, ExcludedData: []string{"x", "y"}, AllowedData: []string{"z"}},
			CacheRequest{Model: "m", Temperature: &temp, MaxTokens: 12, Stop: []string{"\n", "END"}, Seed: &seed, Extra: `aggregate=top1 routed=["a"]`,
				Messages: []CacheMessage{{Role: " System", Content: "be brief"}, {Role: "user", Content: "héllo\tthere  ünïcode"}, {Role: "assistant", Content: "hi"}, {Role: "USER", Content: "and\u00a0now?"}}},
			"c5d90893c6365934490d04931fe1d4c4", "5314a5e1654d0e36601450994e309726", "c5f359365ffc5b49f8b1ae65d15d059f", 6},
	}
	for _, tt := range tests {
		if k := tt.scope.Key(); k != tt.wantKey {
			t.Errorf("%s: Scope.Key = %s, want %s", tt.name, k, tt.wantKey)
		}
		if sk, ek := CacheKeys(tt.scope, tt.req); sk != tt.wantScope || ek != tt.wantEx {
			t.Errorf("%s: CacheKeys = %s, %s; want %s, %s", tt.name, sk, ek, tt.wantScope, tt.wantEx)
		}
		if n := testing.AllocsPerRun(20, func() { CacheKeys(tt.scope, tt.req) }); n > tt.maxAllocs {
			t.Errorf("%s: CacheKeys allocates %.0f times, want at most %.0f", tt.name, n, tt.maxAllocs)
		}
	}
}

func TestAppendNormalizedIsFieldsJoined(t *testing.T) {
	for _, s := range []string{"", " ", "a", "  a  b\t\tc\n", "\u00a0x\u2003y\u3000", "héllo  wörld", "x\u0085y", "\xff bad  utf8 \xfe"} {
		want := strings.Join(strings.Fields(s), " ")
		if got := string(appendNormalized([]byte("prefix"), s)[len("prefix"):]); got != want {
			t.Errorf("appendNormalized(%q) = %q, want %q", s, got, want)
		}
	}
}
