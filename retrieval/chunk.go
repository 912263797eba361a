package retrieval

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ChunkOptions sizes chunks. Sizes count characters (runes).
type ChunkOptions struct {
	MaxChars int // default 1000
	Overlap  int // characters of the previous chunk repeated at the start of the next; default MaxChars/8; negative: none
}

func (o ChunkOptions) withDefaults() ChunkOptions {
	if o.MaxChars <= 0 {
		o.MaxChars = 1000
	}
	if o.Overlap == 0 {
		o.Overlap = o.MaxChars / 8
	}
	o.Overlap = min(max(o.Overlap, 0), o.MaxChars/2)
	return o
}

// SplitText splits text into chunks of at most MaxChars characters. It
// packs whole paragraphs when they fit, else whole sentences, else whole
// words; only a single word longer than MaxChars is cut. A Markdown
// heading always starts a new chunk, so a chunk never spans two sections.
// Each chunk after the first in a section begins with up to Overlap
// characters from the end of the one before (whole sentences if possible,
// else whole words), so a passage cut at a boundary is still found whole.
func SplitText(text string, opts ChunkOptions) []string {
	opts = opts.withDefaults()
	var out []string
	for _, section := range sections(text) {
		out = append(out, packSection(section, opts)...)
	}
	return out
}

// sections splits text at Markdown ATX headings ("# Title").
func sections(text string) []string {
	var out []string
	var cur strings.Builder
	inFence := false
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
		}
		if !inFence && isHeading(trimmed) && strings.TrimSpace(cur.String()) != "" {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(line)
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func isHeading(line string) bool {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	return n >= 1 && n <= 6 && (n == len(line) || line[n] == ' ' || line[n] == '\t')
}

// piece is a unit of packing with the separator that joins it to the
// previous piece.
type piece struct {
	text string
	sep  string
	size int // runes
}

// pieces breaks a section into units no longer than max: paragraphs that
// fit, else their lines, sentences, words, and as a last resort slices of
// an overlong word.
func pieces(section string, max int) []piece {
	var out []piece
	for _, para := range splitParagraphs(section) {
		first := len(out)
		addUnits(&out, para, max, 0)
		if first < len(out) {
			out[first].sep = "\n\n"
		}
	}
	return out
}

// levels of splitting, from paragraphs down.
const (
	byLine = iota
	bySentence
	byWord
	byRune
)

func addUnits(out *[]piece, text string, max, level int) {
	if n := utf8.RuneCountInString(text); n <= max {
		sep := " "
		if level == byLine+1 { // a line of a paragraph
			sep = "\n"
		}
		*out = append(*out, piece{text: text, sep: sep, size: n})
		return
	}
	var parts []string
	switch level {
	case byLine:
		parts = splitLines(text)
	case bySentence:
		parts = splitSentences(text)
	case byWord:
		parts = strings.Fields(text)
	default:
		parts = splitRunes(text, max)
	}
	for _, p := range parts {
		addUnits(out, p, max, level+1)
	}
}

func splitParagraphs(s string) []string {
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
		}
	}
	for line := range strings.Lines(s) {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}

func splitLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// splitSentences cuts after '.', '!' or '?' (and closing quotes or
// brackets) followed by white space.
func splitSentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && c != '!' && c != '?' {
			continue
		}
		j := i + 1
		for j < len(s) && strings.IndexByte(`"')]`, s[j]) >= 0 {
			j++
		}
		if j < len(s) && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t') {
			if t := strings.TrimSpace(s[start:j]); t != "" {
				out = append(out, t)
			}
			start, i = j, j
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

func splitRunes(s string, max int) []string {
	var out []string
	for s != "" {
		n, i := 0, 0
		for i < len(s) && n < max {
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
			n++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// packSection greedily fills chunks with pieces, starting each chunk after
// the first with an overlap taken from the end of the previous one.
func packSection(section string, opts ChunkOptions) []string {
	ps := pieces(section, opts.MaxChars)
	var out []string
	var cur []piece // pieces of the current chunk; cur[0].sep is ignored
	size := 0
	fresh := 0 // how many pieces of cur are not overlap
	for _, p := range ps {
		if len(cur) > 0 && size+utf8.RuneCountInString(p.sep)+p.size > opts.MaxChars {
			out = append(out, join(cur))
			cur = overlap(cur, opts.Overlap)
			size = joinedSize(cur)
			fresh = 0
			// Drop overlap until the new piece fits.
			for len(cur) > 0 && size+utf8.RuneCountInString(p.sep)+p.size > opts.MaxChars {
				cur = cur[1:]
				size = joinedSize(cur)
			}
		}
		if len(cur) > 0 {
			size += utf8.RuneCountInString(p.sep)
		}
		cur = append(cur, p)
		size += p.size
		fresh++
	}
	if fresh > 0 {
		out = append(out, join(cur))
	}
	return out
}

// overlap returns the trailing pieces of a chunk, refined to sentences or
// words, whose joined length is at most n.
func overlap(chunk []piece, n int) []piece {
	if n <= 0 || len(chunk) == 0 {
		return nil
	}
	// Work on the last piece's sentences and words when the last piece is
	// longer than the overlap, so long paragraphs still overlap.
	var units []piece
	for _, p := range chunk {
		if p.size <= n {
			units = append(units, p)
			continue
		}
		first := len(units)
		for _, s := range splitSentences(p.text) {
			if sz := utf8.RuneCountInString(s); sz <= n {
				units = append(units, piece{text: s, sep: " ", size: sz})
				continue
			}
			for _, w := range strings.Fields(s) {
				units = append(units, piece{text: w, sep: " ", size: utf8.RuneCountInString(w)})
			}
		}
		if first < len(units) {
			units[first].sep = p.sep
		}
	}
	var tail []piece
	size := 0
	for i := len(units) - 1; i >= 0; i-- {
		add := units[i].size
		if len(tail) > 0 {
			add += utf8.RuneCountInString(tail[0].sep)
		}
		if size+add > n {
			break
		}
		tail = append([]piece{units[i]}, tail...)
		size += add
	}
	return tail
}

func join(ps []piece) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(p.sep)
		}
		b.WriteString(p.text)
	}
	return b.String()
}

func joinedSize(ps []piece) int {
	n := 0
	for i, p := range ps {
		if i > 0 {
			n += utf8.RuneCountInString(p.sep)
		}
		n += p.size
	}
	return n
}
