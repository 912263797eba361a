package router

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/moegate/moegate/internal/jsonenc"
)

// Probability is the gate's probability of one candidate expert.
type Probability struct {
	Name string
	P    float64
}

// Probabilities are a decision's probabilities of its candidate experts,
// sorted by name. Their JSON is that of a map[string]float64 of the
// probabilities rounded to six decimals, byte for byte. A slice, not a
// map: built for every routed request, a map of ten experts was three
// allocations (456 bytes) and its JSON a walk of the map and a sort of its
// keys, together 3.4k more instructions than this.
type Probabilities []Probability

// Get returns the probability of the expert name; ok is false if it was
// no candidate.
func (ps Probabilities) Get(name string) (p float64, ok bool) {
	for _, e := range ps {
		if e.Name == name {
			return e.P, true
		}
	}
	return 0, false
}

// sortByName sorts ps by name: by insertion for a gateway's few experts.
func (ps Probabilities) sortByName() {
	if len(ps) > 16 {
		slices.SortFunc(ps, func(a, b Probability) int { return strings.Compare(a.Name, b.Name) })
		return
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Name < ps[j-1].Name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// AppendJSON appends ps as json.Marshal writes the map[string]float64 of
// the same entries rounded to six decimals (jsonenc.Rounded): keys in
// order, null when ps is nil. Its error is
// encoding/json's for a NaN or infinite probability.
func (ps Probabilities) AppendJSON(b []byte) ([]byte, error) {
	if ps == nil {
		return append(b, "null"...), nil
	}
	if !slices.IsSortedFunc(ps, func(a, b Probability) int { return strings.Compare(a.Name, b.Name) }) {
		ps = slices.Clone(ps) // not built by a router: the bytes are still the map's
		ps.sortByName()
	}
	b = append(b, '{')
	var err error
	for i, e := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonenc.String(b, e.Name), ':')
		if b, err = jsonenc.Rounded(b, e.P); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON writes ps as a JSON object, as its map would be.
func (ps Probabilities) MarshalJSON() ([]byte, error) {
	return ps.AppendJSON(make([]byte, 0, 32*len(ps)+2))
}

// UnmarshalJSON reads the object MarshalJSON writes (null: nil).
func (ps *Probabilities) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*ps = nil
		return nil
	}
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*ps = make(Probabilities, 0, len(m))
	for name, p := range m {
		*ps = append(*ps, Probability{name, p})
	}
	ps.sortByName()
	return nil
}
