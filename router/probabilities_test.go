package router

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// probsOf is m's entries in the map's own (random) order.
func probsOf(m map[string]float64) Probabilities {
	if m == nil {
		return nil
	}
	ps := Probabilities{}
	for name, p := range m {
		ps = append(ps, Probability{name, p})
	}
	return ps
}

// The JSON of Probabilities is, byte for byte, that of the map of the
// same entries rounded to six decimals, built in any order; and it reads
// back sorted.
func TestProbabilitiesJSONMatchesMap(t *testing.T) {
	many := map[string]float64{}
	for i := range 40 {
		many[string(rune('a'+i%26))+string(rune('A'+i))] = float64(i) / 7
	}
	for _, m := range []map[string]float64{
		nil, {}, {"one": 1}, {"b": 0.25, "a": 0.75, "<&>": 1e-9, "ü": 0, "a\u2028": 1e21, "z": -2},
		{"travel-up": 0.024998109471244277, "banking-up": 0.6567818551290954, "astronomy-up": 0.02874430396094052},
		many,
	} {
		var rounded map[string]float64
		if m != nil {
			rounded = map[string]float64{}
			for k, p := range m {
				rounded[k] = math.Round(p*1e6)/1e6 + 0 // +0: -0 is 0
			}
		}
		want, _ := json.Marshal(rounded)
		ps := probsOf(m)
		if got, err := ps.AppendJSON(nil); err != nil || string(got) != string(want) {
			t.Errorf("AppendJSON(%v) = %s, %v, want %s", m, got, err, want)
		}
		if got, err := json.Marshal(ps); err != nil || string(got) != string(want) {
			t.Errorf("json.Marshal(%v) = %s, %v, want %s", m, got, err, want)
		}
		var back Probabilities
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := back.AppendJSON(nil)
		if string(again) != string(want) || !slices.IsSortedFunc(back, func(a, b Probability) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("read back %v: %s, want %s", back, again, want)
		}
	}
	if _, err := (Probabilities{{"x", math.NaN()}}).AppendJSON(nil); err == nil {
		t.Error("AppendJSON with NaN: no error")
	}
}

func TestProbabilitiesGet(t *testing.T) {
	ps := Probabilities{{"a", 0.25}, {"b", 0.75}}
	for _, tt := range []struct {
		name string
		p    float64
		ok   bool
	}{{"a", 0.25, true}, {"b", 0.75, true}, {"c", 0, false}, {"", 0, false}} {
		if p, ok := ps.Get(tt.name); p != tt.p || ok != tt.ok {
			t.Errorf("Get(%q) = %v, %v, want %v, %v", tt.name, p, ok, tt.p, tt.ok)
		}
	}
}

// A routed request's probabilities: ten experts, as a router sorts them.
func BenchmarkProbabilitiesJSON(b *testing.B) {
	ps := probsOf(map[string]float64{"astronomy": 0.0367001342146403, "banking": 0.03469747147928642, "cooking": 0.03112291878168006,
		"gardening": 0.036477382395750664, "law": 0.02456654184763424, "medicine": 0.03778807821698739, "music": 0.036876835647872704,
		"programming": 0.5996451706863565, "sports": 0.05350685532282833, "travel": 0.04049007937667898})
	ps.sortByName()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf, _ = ps.AppendJSON(buf[:0])
	}
}
