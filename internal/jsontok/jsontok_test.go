package jsontok

import (
	"slices"
	"testing"
)

func TestArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int // nil: refused
	}{
		{`[]`, []int{}},
		{` [ 1 , 22,3 ]`, []int{1, 22, 3}},
		{`[1,]`, nil},
		{`[1 2]`, nil},
		{`[1`, nil},
		{`null`, nil},
		{`["a"]`, nil},
	} {
		d := New([]byte(tc.in))
		var got []int
		ok := Array(&d, &got, 2, func(v *int) bool {
			n, ok := d.Int()
			*v = n
			return ok
		})
		if ok != (tc.want != nil) || ok && (got == nil || !slices.Equal(got, tc.want)) {
			t.Errorf("Array(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}
