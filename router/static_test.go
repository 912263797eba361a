package router

import (
	"context"
	"testing"
)

func TestStatic(t *testing.T) {
	cases := []struct {
		name        string
		r           Static
		q           Query
		wantExpert  string
		wantDefault bool
		wantRetr    bool
	}{
		{"to the expert", Static{Expert: "a"}, Query{Candidates: []string{"a", "b"}}, "a", false, false},
		{"expert excluded", Static{Expert: "a"}, Query{Candidates: []string{"b"}}, "", true, false},
		{"no expert configured", Static{}, Query{Candidates: []string{"a"}}, "", true, false},
		{"knowledge above threshold", Static{Expert: "a", RetrievalThreshold: 0.5}, Query{Candidates: []string{"a"}, RetrievalScore: 0.6}, "a", false, true},
		{"knowledge below threshold", Static{Expert: "a", RetrievalThreshold: 0.5}, Query{Candidates: []string{"a"}, RetrievalScore: 0.4}, "a", false, false},
		{"no threshold never retrieves", Static{Expert: "a"}, Query{Candidates: []string{"a"}, RetrievalScore: 1}, "a", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.r.Route(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(d.Experts) > 0 {
				got = d.Experts[0].Name
			}
			if got != tc.wantExpert || d.Default != tc.wantDefault || d.Retrieve != tc.wantRetr || d.Router != "static" {
				t.Fatalf("got %+v", d)
			}
		})
	}
}
