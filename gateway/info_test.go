package gateway

import (
	"testing"

	"github.com/moegate/moegate/router"
)

func TestInfoHeader(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Aggregate: "top1", Route: RouteInfo{Router: "learned", Version: 3, Experts: []router.Choice{{Name: "banking", Weight: 1}}}},
			"experts=banking:1; default=false; retrieval=false; aggregate=top1; router=learned/v3; cache=miss"},
		{Info{Aggregate: "parallel-best", Route: RouteInfo{Router: "learned", Experts: []router.Choice{{Name: "a", Weight: 0.66666}, {Name: "b", Weight: 0.00012345}}, Default: true},
			Excluded: []Excluded{{Name: "x"}, {Name: "y"}}, Cache: CacheInfo{Hit: true, Kind: "semantic"}},
			"experts=a:0.667,b:0.000123; default=true; retrieval=false; aggregate=parallel-best; router=learned/v0; excluded=x,y; cache=semantic"},
		{Info{Route: RouteInfo{Router: "none"}}, "experts=; default=false; retrieval=false; aggregate=; router=none/v0; cache=miss"},
	}
	for _, tt := range tests {
		if got := tt.info.Header(); got != tt.want {
			t.Errorf("Header() = %q, want %q", got, tt.want)
		}
	}
}
