package gateway

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moegate/moegate/router"
)

// plainInfo is Info without its MarshalJSON: what encoding/json writes.
type plainInfo Info

func reflectJSON(m *Info) ([]byte, error) { return json.Marshal((*plainInfo)(m)) }

// probsOf is m's entries in the map's own (random) order: AppendJSON
// must sort them as encoding/json sorts a map's keys.
func probsOf(m map[string]float64) router.Probabilities {
	ps := router.Probabilities{}
	for name, p := range m {
		ps = append(ps, router.Probability{Name: name, P: p})
	}
	return ps
}

// fillAll sets every field reachable from v to a non-zero value, so that a
// field added to Info and forgotten by AppendJSON fails the test.
func fillAll(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(0.125)
	case reflect.Struct:
		for i := range v.NumField() {
			fillAll(v.Field(i), s+"/"+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(v.Index(i), s)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"z", "a<b", "m"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fillAll(e, s)
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		v.Set(m)
	default:
		panic("fillAll: add a case for " + v.Kind().String())
	}
}

func TestInfoJSONMatchesEncodingJSON(t *testing.T) {
	full := &Info{}
	fillAll(reflect.ValueOf(full).Elem(), "x\u2028<&>\"\\\xff")
	probs := map[string]float64{}
	var choices []router.Choice
	for i, n := range []string{"travel", "banking", "legal", "medical", "code", "math", "chef", "sports", "music", "art"} {
		probs[n] = 1 / float64(i+3)
		choices = append(choices, router.Choice{Name: n, Weight: 1e-7 * float64(i)})
	}
	for _, tc := range []struct {
		name string
		info *Info
	}{
		{"nil", nil},
		{"zero", &Info{}},
		{"empty slices", &Info{Excluded: []Excluded{}, Experts: []ExpertCall{}, Route: RouteInfo{Experts: []router.Choice{}, Probabilities: router.Probabilities{}}, Notes: []string{}}},
		{"auto, ten experts", &Info{RequestID: "req_1", Route: RouteInfo{Router: "learned", Version: 3, Model: "auto", Experts: choices[:2], Probabilities: probsOf(probs)},
			Excluded: []Excluded{}, Retrieval: RetrievalInfo{Mode: "auto"}, Aggregate: "top1",
			Experts: []ExpertCall{{Name: "travel", Status: "ok", LatencyMS: 0.4213}}, AnsweredBy: "travel", Cache: CacheInfo{Mode: "on"}}},
		{"every field", full},
		{"large and small numbers", &Info{Route: RouteInfo{Experts: choices, Version: math.MaxInt64}, Cache: CacheInfo{Hit: true, Kind: "semantic", Similarity: 0.9999999}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := reflectJSON(tc.info)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.info.AppendJSON(nil)
			if err != nil || string(got) != string(want) {
				t.Fatalf("AppendJSON:\n got %s, %v\nwant %s", got, err, want)
			}
			// A stream's second object reuses the first's route.
			first, route, err := tc.info.AppendJSONRoute([]byte("prefix"), nil)
			if err != nil || string(first) != "prefix"+string(want) {
				t.Fatalf("AppendJSONRoute:\n got %s, %v\nwant prefix%s", first, err, want)
			}
			kept := slices.Clone(route)
			clear(first) // the returned route was first's bytes
			if again, _, err := tc.info.AppendJSONRoute(nil, kept); err != nil || string(again) != string(want) {
				t.Fatalf("AppendJSONRoute with the first route:\n got %s, %v\nwant %s", again, err, want)
			}
			if tc.info != nil {
				if marked, _, _ := tc.info.AppendJSONRoute(nil, []byte(`"given"`)); !strings.Contains(string(marked), `,"route":"given",`) {
					t.Fatalf("AppendJSONRoute encoded the route it was given: %s", marked)
				}
				if viaMarshal, _ := json.Marshal(tc.info); string(viaMarshal) != string(want) {
					t.Fatalf("json.Marshal:\n got %s\nwant %s", viaMarshal, want)
				}
			}
		})
	}
}

func TestInfoJSONRejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, m := range []*Info{
		{Route: RouteInfo{Probabilities: router.Probabilities{{Name: "a", P: math.NaN()}}}},
		{Route: RouteInfo{Experts: []router.Choice{{Name: "a", Weight: math.Inf(1)}}}},
		{Experts: []ExpertCall{{LatencyMS: math.NaN()}}},
		{Cache: CacheInfo{Similarity: math.Inf(-1)}},
		{Retrieval: RetrievalInfo{Passages: []Passage{{Score: math.NaN()}}}},
	} {
		if _, err := reflectJSON(m); err == nil {
			t.Fatal("encoding/json accepted it")
		}
		if _, err := m.AppendJSON(nil); err == nil {
			t.Errorf("AppendJSON accepted %+v", m)
		}
	}
}

func FuzzInfoJSON(f *testing.F) {
	f.Add("req_1", "travel", "<b>&", 0.5, 1e-9, int64(3), true)
	f.Fuzz(func(t *testing.T, id, name, reason string, w, sim float64, version int64, hit bool) {
		m := &Info{RequestID: id, Tenant: reason,
			Route:     RouteInfo{Router: name, Version: version, Experts: []router.Choice{{Name: name, Weight: w}}, Probabilities: probsOf(map[string]float64{name: w, reason: sim}), DefaultReason: reason},
			Excluded:  []Excluded{{Name: name, Reason: reason}},
			Retrieval: RetrievalInfo{Passages: []Passage{{Doc: name, Score: sim, Owner: reason}}},
			Experts:   []ExpertCall{{Name: name, LatencyMS: sim, Error: reason}},
			Cache:     CacheInfo{Hit: hit, Similarity: sim, Reason: reason}, Notes: []string{reason}}
		want, werr := reflectJSON(m)
		got, err := m.AppendJSON(nil)
		if (werr != nil) != (err != nil) || (err == nil && string(got) != string(want)) {
			t.Fatalf("AppendJSON:\n got %s, %v\nwant %s, %v", got, err, want, werr)
		}
	})
}

func BenchmarkInfoJSON(b *testing.B) {
	probs := map[string]float64{}
	for i, n := range []string{"travel", "banking", "legal", "medical", "code", "math", "chef", "sports", "music", "art"} {
		probs[n] = 1 / float64(i+3)
	}
	m := &Info{RequestID: "req_0123456789", Route: RouteInfo{Router: "learned", Version: 3, Model: "auto",
		Experts: []router.Choice{{Name: "travel", Weight: 0.8}}, Probabilities: probsOf(probs)}, Excluded: []Excluded{},
		Retrieval: RetrievalInfo{Mode: "auto"}, Aggregate: "top1", Experts: []ExpertCall{{Name: "travel", Status: "ok", LatencyMS: 0.42}}}
	b.Run("reflect", func(b *testing.B) {
		for b.Loop() {
			_, _ = reflectJSON(m)
		}
	})
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf, _ = m.AppendJSON(buf[:0])
		}
	})
}
