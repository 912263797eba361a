package embed

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestLocalNormalisedAndDeterministic(t *testing.T) {
	e := NewLocal(0)
	if e.Dim() != DefaultLocalDim {
		t.Fatalf("Dim = %d, want %d", e.Dim(), DefaultLocalDim)
	}
	texts := []string{
		"how much money is in my checking account",
		"HOW MUCH money is in my   checking account?!",
		"book a flight to Paris",
		"Ünïcödé wörds — and 12345 numbers",
		"",
		"...!!!",
	}
	a, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLocal(0).Embed(context.Background(), texts)
	for i, v := range a {
		if len(v) != e.Dim() {
			t.Fatalf("text %d: len %d", i, len(v))
		}
		n := dot(v, v)
		empty := texts[i] == "" || texts[i] == "...!!!"
		if empty && n != 0 {
			t.Errorf("text %q: norm² %v, want 0 for no words", texts[i], n)
		}
		if !empty && math.Abs(n-1) > 1e-5 {
			t.Errorf("text %q: norm² %v, want 1", texts[i], n)
		}
		for j := range v {
			if v[j] != b[i][j] {
				t.Fatalf("text %d not deterministic at %d", i, j)
			}
		}
	}
	// Case and punctuation do not matter; meaning-bearing words do.
	if s := dot(a[0], a[1]); s < 0.999 {
		t.Errorf("case/punctuation variant similarity %v, want ~1", s)
	}
	if s := dot(a[0], a[2]); s > 0.3 {
		t.Errorf("unrelated texts similarity %v, want small", s)
	}
}

func TestLocalSimilarityOrder(t *testing.T) {
	e := NewLocal(2048)
	vs, _ := e.Embed(context.Background(), []string{
		"what is my checking account balance",
		"tell me the balance of my checking account",
		"what's the weather like tomorrow",
	})
	near, far := dot(vs[0], vs[1]), dot(vs[0], vs[2])
	if near <= far {
		t.Errorf("paraphrase similarity %v <= unrelated %v", near, far)
	}
}

// Numbers share a token: "200" and "350" have nothing else in common.
func TestLocalNumberToken(t *testing.T) {
	e := NewLocal(1 << 16)
	vs, _ := e.Embed(context.Background(), []string{"200", "350", "abc", "xyz"})
	if s := dot(vs[0], vs[1]); s < 0.2 {
		t.Errorf("similarity of two numbers %v, want >= 0.2", s)
	}
	if s := dot(vs[2], vs[3]); math.Abs(s) > 0.05 {
		t.Errorf("similarity of two unrelated words %v, want ~0", s)
	}
}

func TestLocalCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewLocal(64).Embed(ctx, []string{"x"}); err == nil {
		t.Fatal("want error on cancelled context")
	}
}

func TestLocalNoAllocs(t *testing.T) {
	e := NewLocal(1024)
	v := make([]float32, e.Dim())
	allocs := testing.AllocsPerRun(100, func() {
		e.EmbedInto(v, "can you tell me how to say 'i do not speak much spanish', in spanish")
	})
	if allocs != 0 {
		t.Errorf("EmbedInto allocates %v times per call", allocs)
	}
}

func FuzzLocal(f *testing.F) {
	for _, s := range []string{"", "a", "hello world", "ÄÖÜ ß 漢字 😀", "don't stop", "\xff\xfe bad utf8", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	e := NewLocal(128)
	f.Fuzz(func(t *testing.T, s string) {
		v := e.Vector(s)
		n := dot(v, v)
		if n != 0 && math.Abs(n-1) > 1e-4 {
			t.Fatalf("norm² %v", n)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.Abs(float64(x)) > 1 {
				t.Fatalf("bad component %v", x)
			}
		}
	})
}

var sink []float32

func BenchmarkLocalEmbed(b *testing.B) {
	e := NewLocal(0)
	q := "can you tell me how to say 'i do not speak much spanish', in spanish"
	b.ReportAllocs()
	for b.Loop() {
		sink = e.Vector(q)
	}
}

func TestLocalSparseMatchesDense(t *testing.T) {
	e := NewLocal(1 << 16)
	for _, s := range []string{"", "hello", "how do i say good bye in french", "a a a a b b", "Ünïcödé and more words here 42"} {
		dense := e.Vector(s)
		idx, val := e.AppendSparse(nil, nil, s)
		nz := 0
		for _, x := range dense {
			if x != 0 {
				nz++
			}
		}
		if nz != len(idx) {
			t.Fatalf("%q: %d sparse entries, %d dense non-zeros", s, len(idx), nz)
		}
		for k, i := range idx {
			if k > 0 && idx[k-1] >= i {
				t.Fatalf("%q: indices not increasing", s)
			}
			if math.Abs(float64(dense[i]-val[k])) > 1e-6 {
				t.Fatalf("%q: entry %d dense %v sparse %v", s, i, dense[i], val[k])
			}
		}
	}
}

func BenchmarkLocalAppendSparse(b *testing.B) {
	e := NewLocal(1 << 16)
	q := "can you tell me how to say 'i do not speak much spanish', in spanish"
	var idx []int32
	var val []float32
	b.ReportAllocs()
	for b.Loop() {
		idx, val = e.AppendSparse(idx[:0], val[:0], q)
	}
}

// EmbedWith must give what the two embedders give separately: the gateway
// caches and retrieves by the small vector and the router routes by the
// wide features, whichever way they were computed.
func TestLocalEmbedWithMatchesSeparatePasses(t *testing.T) {
	texts := []string{
		"how much money is in my checking account",
		"HOW MUCH money is in my   checking account?!",
		"Ünïcödé wörds — and 12345 numbers",
		"the the the the the the the the the the the the", // repeats merge
		"",
		"...!!!",
		strings.Repeat("a long question about mortgage interest rates and loans ", 40), // spills the stack buffer
	}
	for _, dims := range []struct {
		small, wide int
		ok          bool
	}{{1024, 1 << 16, true}, {256, 1024, true}, {1024, 1024, true}, {1000, 1 << 16, false}} {
		small, wide := NewLocal(dims.small), NewLocal(dims.wide)
		for _, text := range texts {
			v := make([]float32, dims.small)
			nz, idx, val, ok := small.EmbedWith(wide, v, nil, nil, nil, text)
			if ok != dims.ok {
				t.Fatalf("%d into %d: ok = %v, want %v", dims.small, dims.wide, ok, dims.ok)
			}
			if !ok {
				if nz != nil || idx != nil || val != nil {
					t.Fatalf("%d into %d: wrote features though the dimensions do not fold", dims.small, dims.wide)
				}
				continue
			}
			// nz lists, ascending and once each, a superset of the
			// non-zero coordinates.
			k := 0
			for i, x := range v {
				if k < len(nz) && int(nz[k]) == i {
					k++
				} else if x != 0 {
					t.Fatalf("%d/%d %.30q: v[%d] = %g is not in nz %v", dims.small, dims.wide, text, i, x, nz)
				}
			}
			if k != len(nz) {
				t.Fatalf("%d/%d %.30q: nz %v is not ascending within [0, %d)", dims.small, dims.wide, text, nz, dims.small)
			}
			want := small.Vector(text)
			for i := range want {
				if math.Abs(float64(want[i]-v[i])) > 1e-5 {
					t.Fatalf("%d/%d %.30q: v[%d] = %g, separate pass %g", dims.small, dims.wide, text, i, v[i], want[i])
				}
			}
			wi, wv := wide.AppendSparse(nil, nil, text)
			if len(wi) != len(idx) {
				t.Fatalf("%d/%d %.30q: %d wide features, separate pass %d", dims.small, dims.wide, text, len(idx), len(wi))
			}
			for k := range wi {
				if wi[k] != idx[k] || math.Abs(float64(wv[k]-val[k])) > 1e-6 {
					t.Fatalf("%d/%d %.30q: feature %d = (%d, %g), separate pass (%d, %g)", dims.small, dims.wide, text, k, idx[k], val[k], wi[k], wv[k])
				}
			}
		}
	}
}

func BenchmarkLocalQuery(b *testing.B) {
	const text = "what interest rate should I expect on a mortgage loan for my savings account (ref 3k2j4h5)?"
	small, wide := NewLocal(DefaultLocalDim), NewLocal(1<<16)
	v := make([]float32, DefaultLocalDim)
	var nz, idx []int32
	var val []float32
	b.Run("two passes", func(b *testing.B) {
		for b.Loop() {
			small.EmbedInto(v, text)
			idx, val = wide.AppendSparse(idx[:0], val[:0], text)
		}
	})
	b.Run("one pass", func(b *testing.B) {
		for b.Loop() {
			nz, idx, val, _ = small.EmbedWith(wide, v, nz[:0], idx[:0], val[:0], text)
		}
	})
}

// The radix sort of a text's buckets gives slices.Sort's order (index,
// then weight bits) at dimensions of one, two and three radix digits,
// with repeated indexes, for short texts (one radix pass and an insertion
// sort) and long ones (all radix passes).
func TestLocalSortMatchesSlicesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := range 300 {
		l := NewLocal([]int{1, 200, 1 << 16, 3 << 16}[trial%4])
		n := trial
		if trial%5 == 0 {
			n = trial * 12 // up to 3,588: past shortText
		}
		bs := make([]bucket, n)
		for k := range bs {
			w := []float32{wordWeight, -bigramWeight, charWeight, float32(r.NormFloat64())}[r.IntN(4)]
			bs[k] = bucket(r.IntN(min(l.dim, 30+trial*50)))<<32 | bucket(math.Float32bits(w))
		}
		want := slices.Clone(bs)
		slices.Sort(want)
		if got, _ := l.sort(slices.Clone(bs), nil); !slices.Equal(got, want) {
			t.Fatalf("dim %d: got %v, want %v", l.dim, got, want)
		}
	}
}

// The looked-up damped weights of single features are Damp's, bit for
// bit, and other sums are damped by Damp.
func TestSublinear(t *testing.T) {
	for _, w := range []float32{charWeight, -charWeight, wordWeight, -wordWeight, bigramWeight, -bigramWeight,
		2 * charWeight, wordWeight + charWeight, -3 * wordWeight, 0} {
		if got, want := sublinear(w), Damp(w); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("sublinear(%v) = %v, want %v", w, got, want)
		}
	}
}

// TestFNVRune checks fnvRune's one-byte shortcut against FNV-1a over the
// rune's bytes from the lowest, stopping at the last non-zero one: the
// buckets, and so every vector and model, stay those of local-v2.
func TestFNVRune(t *testing.T) {
	for _, r := range []rune{0, 1, 'a', 'Z', '0', 0x7f, 0x80, 0xff, 0x100, 0x1ff, 'é', 'ß', '語', '😀', 0x10FFFF} {
		want := uint64(fnvOffset)
		for v := uint32(r); v != 0; v >>= 8 {
			want = (want ^ uint64(v&0xff)) * fnvPrime
		}
		if got := fnvRune(fnvOffset, r); got != want {
			t.Errorf("fnvRune(%U) = %#x, want %#x", r, got, want)
		}
	}
}

// TestByteGrams checks the unrolled n-grams of words of one-byte runes
// against the n-grams of every start and length hashed by fnvRune, as a
// set (the buckets are sorted whole): words shorter than, as long as and
// longer than an n-gram, with Latin-1 letters and digits, at dimensions
// of a mask and of a division.
func TestByteGrams(t *testing.T) {
	for _, dim := range []int{1 << 16, 1000} {
		l := NewLocal(dim)
		for _, w := range []string{"", "a", "ab", "abc", "abcd", "hello", "naïve", "straße", "ÿ1z", "supercalifragilistic"} {
			word := []rune("<" + w + ">")
			var want []bucket
			for s := 0; s+minGram <= len(word); s++ {
				h := uint64(fnvOffset)
				for j := s; j < len(word) && j < s+maxGram; j++ {
					h = fnvRune(h, word[j])
					if j-s+1 >= minGram {
						want = l.add(want, Mix(h, 3), charWeight)
					}
				}
			}
			got := l.byteGrams(nil, word)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("dim %d, %q: got %v, want %v", dim, w, got, want)
			}
		}
	}
}
