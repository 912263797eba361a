package jsonenc

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>",
		"\x00\x01\x1f\x7f", "\b\f\n\r\t", "café ünïcödé 日本語 🎉",
		"\u2028 and \u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", "end\xe2\x82",
	} {
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, 1.0 / 3, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-10,
		1e20, 1e21, 1.234e21, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789.125,
	} {
		want, _ := json.Marshal(f)
		got, err := Float(nil, f)
		if err != nil || string(got) != string(want) {
			t.Errorf("Float(%v) = %s, %v, want %s", f, got, err, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Float(nil, f); err == nil {
			t.Errorf("Float(%v): no error", f)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a<b", "\xff", "\u2028", "\x00\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
	})
}

func FuzzFloat(f *testing.F) {
	for _, x := range []float64{0, 1e-7, 1e21, 0.1} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		want, werr := json.Marshal(x)
		got, err := Float(nil, x)
		if (werr != nil) != (err != nil) || (err == nil && string(got) != string(want)) {
			t.Fatalf("Float(%v) = %s, %v, want %s, %v", x, got, err, want, werr)
		}
	})
}

// Every byte at every offset of a word, in a run of safe bytes long
// enough for String's eight-at-a-time scan, is encoded as encoding/json
// encodes it.
func TestStringEveryByteEveryOffset(t *testing.T) {
	for c := range 256 {
		for at := range 18 {
			b := []byte("abcdefghijklmnopqrstuvwxyz")
			b[at] = byte(c)
			s := string(b)
			want, _ := json.Marshal(s)
			if got := String(nil, s); string(got) != string(want) {
				t.Fatalf("String(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

// Floats across the range the plain (not exponent) form covers, with
// every number of digits, written as encoding/json writes them.
func TestFloatPlainRangeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		// log-uniform over [1e-7, 1e22), so both edges of the plain form
		// are crossed, with a random number of significant digits.
		f := math.Pow(10, -7+29*r.Float64())
		if d := r.IntN(18); d < 17 {
			f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', d+1, 64), 64)
		}
		if r.IntN(2) == 0 {
			f = -f
		}
		want, _ := json.Marshal(f)
		got, err := Float(nil, f)
		if err != nil || string(got) != string(want) {
			t.Fatalf("Float(%v) = %s, %v, want %s", f, got, err, want)
		}
	}
}

// Rounded writes what Float writes for the number rounded to six
// decimals (-0 as 0), and so what encoding/json writes for it: across [0, 1], its
// edges and the halves between steps, and outside it.
func TestRoundedMatchesFloatOfRounded(t *testing.T) {
	fs := []float64{
		0, math.Copysign(0, -1), 1, 0.5, 0.1, 1.0 / 3, 2.0 / 3, 1e-6, 4.9e-7, 5e-7, 1e-7,
		0.9999994, 0.9999995, 0.0000015, 0.1234565, 0.0367001342146403, 0.5996451706863565,
		-0.25, -4e-7, 1.5, 2.891, 123456.7654321, 1e21, 1e-300,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		fs = append(fs, r.Float64(), float64(r.IntN(1e6+1))/1e6, (float64(r.IntN(1e6))+0.5)/1e6)
	}
	for _, f := range fs {
		want, werr := Float(nil, math.Round(f*1e6)/1e6+0) // +0: -0 is 0
		got, err := Rounded(nil, f)
		if err != nil || werr != nil || string(got) != string(want) {
			t.Fatalf("Rounded(%v) = %s, %v, want %s, %v", f, got, err, want, werr)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Rounded(nil, f); err == nil {
			t.Errorf("Rounded(%v): no error", f)
		}
	}
}

func BenchmarkRounded(b *testing.B) {
	probs := []float64{0.0367001342146403, 0.03469747147928642, 0.5996451706863565, 1, 0.75, 0}
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, f := range probs {
			buf, _ = Rounded(buf[:0], f)
		}
	}
}

func BenchmarkFloat(b *testing.B) {
	probs := []float64{0.0367001342146403, 0.03469747147928642, 0.5996451706863565, 2.891, 1, 0.75}
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, f := range probs {
			buf, _ = Float(buf[:0], f)
		}
	}
}
