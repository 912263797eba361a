package retrieval

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitText(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)
	tests := []struct {
		name  string
		text  string
		opts  ChunkOptions
		want  []string // exact chunks, if given
		count int      // else the number of chunks, if given
	}{
		{name: "empty", text: "", want: nil},
		{name: "blank", text: " \n\n \t\n", want: nil},
		{name: "short", text: "Hello, world.", want: []string{"Hello, world."}},
		{name: "paragraphs that fit stay together",
			text: "One para.\n\nTwo para.\n", want: []string{"One para.\n\nTwo para."}},
		{name: "headings start chunks",
			text: "# A\nIntro.\n\n## B\nBody.\n\nMore.\n# C\n",
			want: []string{"# A\nIntro.", "## B\nBody.\n\nMore.", "# C"}},
		{name: "hash without space is no heading",
			text: "#hashtag one\n#2 two\n", want: []string{"#hashtag one\n#2 two"}},
		{name: "headings inside a code fence are code",
			text: "# A\n```\n# comment\n```\n", want: []string{"# A\n```\n# comment\n```"}},
		{name: "paragraphs packed without overlap",
			text: "aaaa bbbb.\n\ncccc dddd.\n\neeee ffff.", opts: ChunkOptions{MaxChars: 24, Overlap: -1},
			want: []string{"aaaa bbbb.\n\ncccc dddd.", "eeee ffff."}},
		{name: "sentences with overlap",
			text: "First one here. Second one here. Third one here.", opts: ChunkOptions{MaxChars: 33, Overlap: 16},
			want: []string{"First one here. Second one here.", "Second one here. Third one here."}},
		{name: "words when a sentence is too long",
			text: "alpha beta gamma delta epsilon zeta eta theta", opts: ChunkOptions{MaxChars: 17, Overlap: -1},
			want: []string{"alpha beta gamma", "delta epsilon", "zeta eta theta"}},
		{name: "an overlong word is cut",
			text: "abcdefghijklmnopqrstuvwxyz", opts: ChunkOptions{MaxChars: 10, Overlap: -1},
			want: []string{"abcdefghij", "klmnopqrst", "uvwxyz"}},
		{name: "runes not bytes",
			text: "ééééé ééééé", opts: ChunkOptions{MaxChars: 11}, want: []string{"ééééé ééééé"}},
		// Four 44-character sentences fit in 200; each later chunk repeats
		// one (overlap 50) and adds three: 4 + 12×3 = 40 sentences.
		{name: "long text", text: long, opts: ChunkOptions{MaxChars: 200, Overlap: 50}, count: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitText(tt.text, tt.opts)
			if tt.want != nil || tt.count == 0 {
				if !slices.Equal(got, tt.want) {
					t.Errorf("SplitText = %q\nwant %q", got, tt.want)
				}
			} else if len(got) != tt.count {
				t.Errorf("%d chunks, want %d: %q", len(got), tt.count, got)
			}
			checkChunks(t, tt.text, tt.opts, got)
		})
	}
}

// checkChunks checks what holds for every split: chunks are non-empty and
// within the limit, no word is cut unless it alone exceeds the limit,
// every word of the text appears, in order, and consecutive chunks of a
// section overlap when asked to.
func checkChunks(t *testing.T, text string, opts ChunkOptions, chunks []string) {
	t.Helper()
	opts = opts.withDefaults()
	words := map[string]bool{}
	for _, w := range strings.Fields(text) {
		words[w] = true
	}
	for i, c := range chunks {
		if strings.TrimSpace(c) == "" {
			t.Errorf("chunk %d is blank", i)
		}
		if n := utf8.RuneCountInString(c); n > opts.MaxChars {
			t.Errorf("chunk %d has %d characters, limit %d", i, n, opts.MaxChars)
		}
		for _, w := range strings.Fields(c) {
			if !words[w] && !cutFromLongWord(w, text, opts.MaxChars) {
				t.Errorf("chunk %d has %q, not a word of the text", i, w)
			}
		}
	}
	// Every word appears, in order (overlap repeats some).
	j := 0
	all := strings.Fields(strings.Join(chunks, " "))
	for _, w := range strings.Fields(text) {
		if utf8.RuneCountInString(w) > opts.MaxChars {
			continue
		}
		for j < len(all) && all[j] != w {
			j++
		}
		if j == len(all) {
			t.Errorf("word %q missing or out of order", w)
			return
		}
		j++
	}
}

func cutFromLongWord(piece, text string, max int) bool {
	for _, w := range strings.Fields(text) {
		if utf8.RuneCountInString(w) > max && strings.Contains(w, piece) {
			return true
		}
	}
	return false
}

func TestSplitTextOverlap(t *testing.T) {
	text := strings.Repeat("Sentence number one is here. Another follows it closely. ", 30)
	chunks := SplitText(text, ChunkOptions{MaxChars: 150, Overlap: 60})
	if len(chunks) < 5 {
		t.Fatalf("only %d chunks", len(chunks))
	}
	for i := 1; i < len(chunks); i++ {
		// The next chunk starts with a sentence that ends the previous one.
		first, _, _ := strings.Cut(chunks[i], ". ")
		if !strings.Contains(chunks[i-1], first+".") {
			t.Errorf("chunk %d does not start with an overlap of chunk %d:\n%q\n%q", i, i-1, chunks[i-1], chunks[i])
		}
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("# Title\nSome text. More text!\n\nA second paragraph?\n## Sub\nx", 40, 10)
	f.Add(strings.Repeat("word ", 100), 23, 7)
	f.Add("averyveryverylongwordthatmustbecut and then short ones.", 8, 3)
	f.Add("ünïcödé téxt. «quoted» — dashes.\n\n\n", 5, 2)
	f.Fuzz(func(t *testing.T, text string, max, overlap int) {
		if !utf8.ValidString(text) || max < 1 || max > 500 {
			return
		}
		opts := ChunkOptions{MaxChars: max, Overlap: overlap % 500}
		checkChunks(t, text, opts, SplitText(text, opts))
	})
}
