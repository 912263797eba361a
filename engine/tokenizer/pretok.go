package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// A preTokenizer splits text into words before BPE merging, as llama.cpp's
// unicode_regex_split: each stage splits every piece of the previous stage
// into its matches and the unmatched text between them.
type preTokenizer struct {
	stages       []stage
	ignoreMerges bool
}

// stage is one regular expression. Go's RE2 has no lookahead, so a pattern
// ending in `\s+(?!\S)|\s+` is stored without that tail (wsTail) and the
// tail is matched by hand in split.
type stage struct {
	re     *regexp.Regexp
	wsTail bool
}

// Patterns of llama.cpp's llama-vocab.cpp, by pre-tokenizer type. `\s` is
// Unicode white space here (see expandSpace); "+ws" marks the
// `\s+(?!\S)|\s+` tail. Lookaheads of the form (?=[\p{L}])([^a-z]) are
// written as the equivalent class [^\P{L}a-z].
const (
	contractions  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
	llama3Pattern = contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+`
	qwen2Pattern  = contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+`
	upperLower    = `[^\r\n\p{L}\p{N}]?[^\P{L}a-z]*[^\P{L}A-Z]+`
	upperLower2   = `[^\r\n\p{L}\p{N}]?[^\P{L}a-z]+[^\P{L}A-Z]*`
	cjkDeepseek   = `[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+`
	punctWord     = `[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + "`" + `{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+`
	bloomPattern  = ` ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+`
	wsTail        = "+ws"
)

var preTokenizers = map[string][]string{
	"default": {`[\p{P}\$\+<=>\^~\|]+`, gpt2Pattern + wsTail, `\p{N}+`, `[0-9][0-9][0-9]`},
	"gpt2":    {gpt2Pattern + wsTail},
	"llama3":  {llama3Pattern + wsTail},
	"qwen2":   {qwen2Pattern + wsTail},
	"qwen35":  {contractions + `|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+` + wsTail},
	"deepseek-llm": {
		`[\r\n]`,
		`\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+`,
		`\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+`,
		`\s+$`,
		`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`,
		`\p{N}+`,
	},
	"deepseek-coder": {`[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, `[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`, `\p{N}`},
	"deepseek-v3":    {`\p{N}{1,3}`, cjkDeepseek, punctWord + `| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+` + wsTail},
	"spark2_5":       {`\p{N}{1,3}`, cjkDeepseek, punctWord + `| ?[\p{P}\p{S}]+|[\r\n]` + wsTail, `\p{N}`},
	"starcoder":      {`\p{N}`, gpt2Pattern + wsTail},
	"falcon":         {`[\p{P}\$\+<=>\^~\|` + "`" + `]+`, gpt2Pattern + wsTail, `[0-9][0-9][0-9]`},
	"bloom":          {bloomPattern},
	"viking":         {bloomPattern, `\p{N}`},
	"tekken":         {upperLower + `|` + upperLower2 + `|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+` + wsTail},
	"gpt-4o":         {upperLower + contractions + `?|` + upperLower2 + contractions + `?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+` + wsTail},
	"granite-embed-multi-97m": {
		`[^\r\n\p{L}\p{N}]?(?:[^\P{L}a-z]|\p{M})*(?:[^\P{L}A-Z]|\p{M})+` + contractions + `?|[^\r\n\p{L}\p{N}]?(?:[^\P{L}a-z]|\p{M})+(?:[^\P{L}A-Z]|\p{M})*` + contractions + `?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+` + wsTail,
	},
	"seed-coder": {contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+` + wsTail},
	"bailingmoe": {`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]` + wsTail},
	"ufakzeka":   {`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+` + wsTail},
	"laguna":     {`[^\n]+|[\n]+`, qwen2Pattern + wsTail},
	"exaone-moe": {contractions + `|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]` + wsTail},
	"minicpm5":   {`\p{N}{1,3}`, contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+` + wsTail},
	"chameleon": {
		`<sentinel:[0-9]+>`, `(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z`, "([\t\n]|    |  )", `\p{N}`,
		`[\p{P}!-/:-@\[-` + "`" + `{-~]`, gpt2Pattern + wsTail,
	},
}

// A preName is what a tokenizer.ggml.pre name selects in llama.cpp: a
// pattern set, and whether words found whole in the vocabulary skip BPE
// merging (llama.cpp's ignore_merges).
type preName struct {
	patterns     string
	ignoreMerges bool
}

// preNames lists every byte-level BPE pre-tokenizer name llama.cpp's
// llama-vocab.cpp accepts, with the splitter it selects.
var preNames = func() map[string]preName {
	m := map[string]preName{}
	add := func(patterns string, ignoreMerges bool, names ...string) {
		for _, n := range names {
			m[n] = preName{patterns, ignoreMerges}
		}
	}
	add("default", false, "", "default")
	add("llama3", true, "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano")
	add("llama3", false, "dbrx", "smaug-bpe", "glm4", "chatglm-bpe")
	add("deepseek-llm", false, "deepseek-llm")
	add("deepseek-coder", false, "deepseek-coder")
	add("deepseek-v3", false, "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4")
	add("spark2_5", false, "spark2_5")
	add("falcon", false, "falcon")
	add("gpt2", false, "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
		"mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais",
		"trillion", "granite-docling")
	add("starcoder", false, "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2")
	add("qwen2", false, "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2")
	add("qwen35", false, "qwen35")
	add("bloom", false, "bloom", "poro-chat", "gpt3-finnish")
	add("viking", false, "viking")
	add("tekken", true, "tekken")
	add("gpt-4o", false, "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2")
	add("granite-embed-multi-97m", true, "granite-embed-multi-97m")
	add("seed-coder", false, "seed-coder")
	add("bailingmoe", false, "bailingmoe", "bailingmoe2", "llada-moe")
	add("ufakzeka", false, "ufakzeka")
	add("laguna", false, "laguna")
	add("exaone-moe", false, "exaone-moe")
	add("minicpm5", true, "minicpm5")
	add("chameleon", false, "chameleon")
	// Not llama.cpp names, kept because files and tests of this project
	// have used them.
	add("gpt2", false, "gpt2")
	add("qwen2", false, "qwen2.5", "qwen-2.5", "qwen3")
	return m
}()

// unsupportedPre are names llama.cpp accepts whose splitters need
// look-ahead this package does not implement, or no byte-level encoding.
var unsupportedPre = map[string]bool{
	"jais-2": true, "tiny_aya": true, "cohere2moe": true, "superbpe": true, "kimi-k2": true, "afmoe": true,
	"youtu": true, "gemma4": true, "granite-embed-multi-311m": true, "sarvam-moe": true, "whitespace": true,
}

func newPreTokenizer(name string) (*preTokenizer, error) {
	pn, ok := preNames[name]
	if !ok {
		if unsupportedPre[name] {
			return nil, fmt.Errorf("tokenizer: pre-tokenizer %q (tokenizer.ggml.pre) is not supported", name)
		}
		return nil, fmt.Errorf("tokenizer: unknown pre-tokenizer %q (tokenizer.ggml.pre)", name)
	}
	pats, ok := preTokenizers[pn.patterns]
	if !ok {
		return nil, fmt.Errorf("tokenizer: pre-tokenizer %q: no patterns %q", name, pn.patterns)
	}
	p := &preTokenizer{ignoreMerges: pn.ignoreMerges}
	for _, pat := range pats {
		st := stage{}
		if p, ok := strings.CutSuffix(pat, wsTail); ok {
			pat, st.wsTail = p, true
		}
		re, err := regexp.Compile(expandSpace(pat))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre-tokenizer %q: %w", name, err)
		}
		st.re = re
		p.stages = append(p.stages, st)
	}
	return p, nil
}

// spaceSet is Unicode White_Space, which llama.cpp means by \s; Go's \s is
// ASCII only.
const spaceSet = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// expandSpace rewrites \s (inside or outside a character class) and \S
// (outside one) to spaceSet.
func expandSpace(pat string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\' && i+1 < len(pat):
			switch n := pat[i+1]; {
			case n == 's' && inClass:
				b.WriteString(spaceSet)
			case n == 's':
				b.WriteString("[" + spaceSet + "]")
			case n == 'S' && !inClass:
				b.WriteString("[^" + spaceSet + "]")
			default:
				b.WriteByte(c)
				b.WriteByte(n)
			}
			i++
			continue
		case c == '[' && !inClass:
			inClass = true
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isSpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r == ' ', r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

func (p *preTokenizer) split(text string) []string {
	pieces := []string{text}
	for _, st := range p.stages {
		next := make([]string, 0, len(pieces))
		for _, s := range pieces {
			next = st.split(next, s)
		}
		pieces = next
	}
	return pieces
}

// split appends to dst the matches of the stage in s and the unmatched
// text between them. The `\s+(?!\S)|\s+` tail is tried at a position only
// where the rest of the pattern does not match, as leftmost-first
// alternation would: a run of white space is taken whole at the end of s,
// and short of its last character when something else follows (that
// character then goes with the next word).
func (st stage) split(dst []string, s string) []string {
	gap, pos := 0, 0
	emit := func(from, to int) {
		if gap < from {
			dst = append(dst, s[gap:from])
		}
		dst = append(dst, s[from:to])
		gap, pos = to, to
	}
	// The last search result, in absolute offsets (start -1: none); it
	// stays the leftmost match while pos has not passed its start, which
	// saves rescanning after each white-space run.
	next, nextEnd, searched := -1, -1, false
	for pos < len(s) {
		if !searched || (next >= 0 && next < pos) {
			next, nextEnd, searched = -1, -1, true
			if loc := st.re.FindStringIndex(s[pos:]); loc != nil {
				next, nextEnd = pos+loc[0], pos+loc[1]
			}
		}
		m := len(s)
		if next >= 0 {
			m = next
		}
		if st.wsTail {
			if w := indexSpace(s[pos:m]); w >= 0 {
				w += pos
				end, last := w, w
				for end < len(s) {
					r, n := utf8.DecodeRuneInString(s[end:])
					if !isSpace(r) {
						break
					}
					last = end
					end += n
				}
				if end < len(s) && last > w {
					end = last
				}
				emit(w, end)
				continue
			}
		}
		if next < 0 {
			break
		}
		searched = false
		if next == nextEnd { // empty match: step over one character
			_, n := utf8.DecodeRuneInString(s[m:])
			pos = m + max(n, 1)
			continue
		}
		emit(m, nextEnd)
	}
	if gap < len(s) {
		dst = append(dst, s[gap:])
	}
	return dst
}

func indexSpace(s string) int {
	for i, r := range s {
		if isSpace(r) {
			return i
		}
	}
	return -1
}
