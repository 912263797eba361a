// Package tokenizer turns text into token ids and back for GGUF models:
// byte-level BPE ("gpt2"), SentencePiece ("llama") and BERT WordPiece
// ("bert"), following the
// behaviour of llama.cpp's llama-vocab.cpp.
package tokenizer

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Token types as stored in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Vocab is the plain data a Tokenizer is built from; FromGGUF fills it from
// a model file's metadata.
type Vocab struct {
	Model  string // "gpt2" (byte-level BPE), "llama" (SentencePiece) or "bert" (WordPiece)
	Pre    string // BPE pre-tokenizer name (tokenizer.ggml.pre); "" means "default"
	Tokens []string
	Scores []float32 // SentencePiece merge scores; may be nil for BPE
	Types  []int32   // token types (TypeNormal...); nil means all normal
	Merges []string  // BPE merges "left right", highest priority first

	BOS, EOS, EOT, UNK, PAD int32 // special ids, -1 when absent
	SEP                     int32 // separator (BERT's [SEP]), -1 when absent
	AddBOS                  bool  // the model expects BOS at the start of a prompt
	AddSEP                  bool  // the model expects SEP at the end of a prompt (BERT)

	// AddSpacePrefix makes SentencePiece prepend a space to the text, as
	// llama does; FromGGUF reads tokenizer.ggml.add_space_prefix
	// (default true for "llama").
	AddSpacePrefix bool

	// Name is the model's general.name. llama.cpp gives the special tokens
	// of some models (phi-3) white-space stripping by name.
	Name string
}

// Tokenizer encodes and decodes text. It is safe for concurrent use.
type Tokenizer struct {
	model    string
	tokens   []string
	types    []int32
	scores   []float32
	ids      map[string]int32
	bos, eos int32
	unk, sep int32
	addBOS   bool
	addSEP   bool
	addSpace bool
	eog      map[int32]bool

	// specials are the tokens matched as a whole in the text, by first byte,
	// longest first.
	specials map[byte][]int32
	// lstrip and rstrip are special tokens that swallow the white space
	// before or after them in the text.
	lstrip, rstrip map[int32]bool

	// BPE
	ranks map[[2]string]int
	pre   *preTokenizer
	// SPM byte-fallback tokens <0xXX>, -1 if absent.
	byteTokens [256]int32
	// WPM: the longest vocabulary entry in bytes.
	maxTokenLen int
}

// eogTexts are tokens that end a generation whatever ids the metadata names,
// as llama.cpp detects them by text.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|eom_id|>", "<｜end▁of▁sentence｜>"}

// New builds a Tokenizer from plain vocabulary data.
func New(v Vocab) (*Tokenizer, error) {
	if len(v.Tokens) == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	n := len(v.Tokens)
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	t := &Tokenizer{
		model:    v.Model,
		tokens:   v.Tokens,
		types:    v.Types,
		scores:   v.Scores,
		ids:      make(map[string]int32, n),
		bos:      checkID(v.BOS, n),
		eos:      checkID(v.EOS, n),
		unk:      checkID(v.UNK, n),
		sep:      checkID(v.SEP, n),
		addBOS:   v.AddBOS,
		addSEP:   v.AddSEP,
		addSpace: v.AddSpacePrefix,
		eog:      map[int32]bool{},
		specials: map[byte][]int32{},
	}
	if t.types == nil {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}
	for i, s := range v.Tokens {
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = int32(i)
		}
	}
	for _, id := range []int32{t.eos, checkID(v.EOT, n)} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.ids[s]; ok {
			t.eog[id] = true
		}
	}
	for i, s := range v.Tokens {
		switch t.types[i] {
		case TypeControl, TypeUserDefined, TypeUnknown:
			if s != "" {
				t.specials[s[0]] = append(t.specials[s[0]], int32(i))
			}
		}
	}
	for _, list := range t.specials {
		sort.SliceStable(list, func(a, b int) bool { return len(t.tokens[list[a]]) > len(t.tokens[list[b]]) })
	}
	t.lstrip, t.rstrip = stripAttrs(v, t.specials, t.ids)

	switch v.Model {
	case "gpt2":
		pre, err := newPreTokenizer(v.Pre)
		if err != nil {
			return nil, err
		}
		t.pre = pre
		t.ranks = make(map[[2]string]int, len(v.Merges))
		for i, m := range v.Merges {
			l, r, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("tokenizer: merge %d %q has no space", i, m)
			}
			if _, dup := t.ranks[[2]string{l, r}]; !dup {
				t.ranks[[2]string{l, r}] = i
			}
		}
	case "llama":
		for b := range t.byteTokens {
			id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]
			if !ok {
				id = -1
			}
			t.byteTokens[b] = id
		}
	case "bert":
		for _, s := range v.Tokens {
			t.maxTokenLen = max(t.maxTokenLen, len(s))
		}
	default:
		return nil, fmt.Errorf("tokenizer: unsupported model %q (want gpt2, llama or bert)", v.Model)
	}
	return t, nil
}

func checkID(id int32, n int) int32 {
	if id < 0 || int(id) >= n {
		return -1
	}
	return id
}

// Model reports the tokenizer model, "gpt2", "llama" or "bert".
func (t *Tokenizer) Model() string { return t.model }

// Len is the vocabulary size.
func (t *Tokenizer) Len() int { return len(t.tokens) }

// BOS is the beginning-of-sequence id, -1 if the vocabulary has none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence id, -1 if the vocabulary has none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// AddBOS reports whether the model expects a BOS token before a prompt.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// TokenText is the raw vocabulary entry of id ("" if out of range).
func (t *Tokenizer) TokenText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// TokenID looks a token up by its raw vocabulary text.
func (t *Tokenizer) TokenID(text string) (int32, bool) {
	id, ok := t.ids[text]
	return id, ok
}

// IsEOG reports whether id ends a generation (eos, eot, <|im_end|>, ...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// IsControl reports whether id is a control token (rendered as nothing).
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.types) && t.types[id] == TypeControl
}

// Encode tokenizes text. With addBOS, a BOS token is put first when the
// vocabulary asks for one (tokenizer.ggml.add_bos_token), unless the text
// already starts with it. With parseSpecial, control tokens written in the
// text (such as "<|im_start|>") become their ids; user-defined tokens are
// always matched whole, as in llama.cpp.
func (t *Tokenizer) Encode(text string, addBOS, parseSpecial bool) []int32 {
	return t.EncodeSegments([]Segment{{text, parseSpecial}}, addBOS)
}

// Segment is a part of a text to encode. Special says whether control
// tokens written in it are parsed: on for a chat template's own markup, off
// for what users wrote, so that they cannot forge turns.
type Segment struct {
	Text    string
	Special bool
}

// EncodeSegments tokenizes the concatenation of segs. Plain text runs on
// across segment boundaries (it is tokenized as if written in one piece);
// only the parsing of special tokens differs per segment.
func (t *Tokenizer) EncodeSegments(segs []Segment, addBOS bool) []int32 {
	var out []int32
	if addBOS && t.addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	prevSpecial := true // SentencePiece adds a space prefix at the start and after special tokens
	var raw strings.Builder
	flush := func() {
		if raw.Len() > 0 {
			out = t.encodeText(out, raw.String(), prevSpecial)
			prevSpecial = false
			raw.Reset()
		}
	}
	for _, seg := range segs {
		text := seg.Text
		start := 0
		for i := 0; i < len(text); {
			id, n := t.matchSpecial(text[i:], seg.Special)
			if n == 0 {
				i++
				continue
			}
			if t.lstrip[id] {
				before := strings.TrimRight(raw.String()+text[start:i], asciiSpace)
				raw.Reset()
				raw.WriteString(before)
			} else {
				raw.WriteString(text[start:i])
			}
			flush()
			if !(len(out) == 1 && id == t.bos && out[0] == t.bos) {
				out = append(out, id)
			}
			prevSpecial = true
			i += n
			if t.rstrip[id] {
				for i < len(text) && strings.IndexByte(asciiSpace, text[i]) >= 0 {
					i++
				}
			}
			start = i
		}
		raw.WriteString(text[start:])
	}
	flush()
	if addBOS && t.addSEP && t.sep >= 0 {
		out = append(out, t.sep)
	}
	return out
}

// asciiSpace is C's isspace, which llama.cpp strips around special tokens.
const asciiSpace = " \t\n\v\f\r"

// stripAttrs returns the special tokens that strip white space on their
// left and right, as llama.cpp sets them by model and pre-tokenizer name.
func stripAttrs(v Vocab, specials map[byte][]int32, ids map[string]int32) (lstrip, rstrip map[int32]bool) {
	lstrip, rstrip = map[int32]bool{}, map[int32]bool{}
	name := strings.ToLower(v.Name)
	switch {
	case v.Pre == "jina-v2-de" || v.Pre == "jina-v2-es" || v.Pre == "jina-v2-code":
		if id, ok := ids["<mask>"]; ok {
			lstrip[id] = true
		}
	case strings.Contains(name, "phi-3") || strings.Contains(name, "phi3"):
		for _, list := range specials {
			for _, id := range list {
				rstrip[id] = true
			}
		}
		if id, ok := ids["</s>"]; ok {
			rstrip[id] = true
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if id, ok := ids[s]; ok {
				delete(rstrip, id)
			}
		}
	}
	return lstrip, rstrip
}

// matchSpecial returns the longest special token at the start of s.
func (t *Tokenizer) matchSpecial(s string, parseSpecial bool) (int32, int) {
	for _, id := range t.specials[s[0]] {
		if !parseSpecial && t.types[id] != TypeUserDefined {
			continue
		}
		if tok := t.tokens[id]; strings.HasPrefix(s, tok) {
			return id, len(tok)
		}
	}
	return 0, 0
}

func (t *Tokenizer) encodeText(out []int32, text string, afterSpecial bool) []int32 {
	switch t.model {
	case "llama":
		return t.encodeSPM(out, text, afterSpecial && t.addSpace)
	case "bert":
		return t.encodeWPM(out, text)
	}
	return t.encodeBPE(out, text)
}

// Decode renders ids as text. Control tokens render as nothing; for
// SentencePiece the space the encoder put in front is removed.
func (t *Tokenizer) Decode(ids []int32) string {
	var b []byte
	first := true
	for _, id := range ids {
		n := len(b)
		b = t.appendPiece(b, id)
		if first && len(b) > n {
			if ((t.model == "llama" && t.addSpace) || t.model == "bert") && b[n] == ' ' {
				b = append(b[:n], b[n+1:]...)
			}
			first = false
		}
	}
	if t.model == "bert" {
		// WordPiece splits punctuation off words; join it back as
		// llama.cpp's clean_spaces does.
		for _, p := range []string{" ?", " !", " .", " ,"} {
			b = bytes.ReplaceAll(b, []byte(p), []byte(p[1:]))
		}
	}
	return string(b)
}

// Piece is the text of one token as bytes (which may be part of a UTF-8
// sequence); control tokens give nothing.
func (t *Tokenizer) Piece(id int32) []byte { return t.appendPiece(nil, id) }

func (t *Tokenizer) appendPiece(b []byte, id int32) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return b
	}
	tok := t.tokens[id]
	switch t.types[id] {
	case TypeControl, TypeUnused:
		return b
	case TypeUnknown:
		if t.model == "llama" {
			return append(b, "\u2047"...) // llama.cpp renders <unk> as ⁇
		}
		return append(b, tok...)
	case TypeUserDefined:
		return append(b, tok...)
	case TypeByte:
		if v, ok := parseByteToken(tok); ok {
			return append(b, v)
		}
	}
	if t.model == "llama" || t.model == "bert" {
		return append(b, strings.ReplaceAll(tok, "\u2581", " ")...)
	}
	return appendBPEDecoded(b, tok)
}

// parseByteToken parses "<0xAB>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(s[3:5]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= c - '0'
		case c >= 'A' && c <= 'F':
			v |= c - 'A' + 10
		case c >= 'a' && c <= 'f':
			v |= c - 'a' + 10
		default:
			return 0, false
		}
	}
	return v, true
}
