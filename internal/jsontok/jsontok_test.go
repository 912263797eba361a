package jsontok

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
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

// TestStr checks Str and AppendStr against encoding/json: what they
// accept must read as encoding/json reads it, and AppendStr must keep
// what dst held.
func TestStr(t *testing.T) {
	for _, in := range []string{
		`"plain"`, `""`, ` "héllo"`, `"a\"b\\c\/d\ne\tf\rg\bh\fi"`, `"\n"`, `"ends with \\"`,
		`"\u00e9"`, `"bad \x"`, `"tab	raw"`, `"unterminated`, `"\`, "\"\xff\"", `1`, `null`,
	} {
		var want string
		wantOK := json.Unmarshal([]byte(in), &want) == nil && in != `null` // null is no string
		d := New([]byte(in))
		got, ok := d.Str()
		// Strings with \u escapes or invalid bytes are refused (left to
		// encoding/json); anything accepted must match.
		if ok && (!wantOK || got != want) {
			t.Errorf("Str(%q) = %q, accepted; encoding/json: %q, %v", in, got, want, wantOK)
		}
		if !ok && wantOK && !strings.Contains(in, `\u`) && utf8.ValidString(in) {
			t.Errorf("Str(%q) refused; encoding/json reads %q", in, want)
		}
		d = New([]byte(in))
		b, aok := d.AppendStr([]byte("kept:"))
		if aok != ok || ok && string(b) != "kept:"+got || !ok && string(b) != "kept:" {
			t.Errorf("AppendStr(kept:, %q) = %q, %v; want kept:%q, %v", in, b, aok, got, ok)
		}
	}
}

// TestScan checks the eight-bytes-at-a-time scan against a byte loop, from
// every start in inputs where the byte that ends a run falls at every
// offset of a word, after every kind of byte.
func TestScan(t *testing.T) {
	naive := func(b []byte, i int, key bool) int {
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 || key && c >= utf8.RuneSelf {
				return i
			}
		}
		return i
	}
	var inputs [][]byte
	for _, end := range []byte{'"', '\\', 0, 0x1f, 0x80, 0xff, 'x'} {
		for _, before := range []byte{'a', ' ', '!', '#', '[', ']', 0x7f, 0x20, 0x21, 0xc3, 0xe9, 0x01} {
			for n := range 20 {
				b := make([]byte, n+1, n+9)
				for i := range n {
					b[i] = before
				}
				b[n] = end
				inputs = append(inputs, b, append(b, "tail\"\\x"...))
			}
		}
	}
	for _, b := range inputs {
		for i := range len(b) + 1 {
			for _, key := range []bool{false, true} {
				if got, want := scan(b, i, key), naive(b, i, key); got != want {
					t.Fatalf("scan(%q, %d, %v) = %d, want %d", b, i, key, got, want)
				}
			}
		}
	}
}
