// Package chat renders a conversation into the prompt text a model was
// trained on. It knows the common templates by name (no Jinja): ChatML,
// Llama 2, Mistral, Llama 3 and Tulu (OLMoE), and picks one from a GGUF
// model's tokenizer.chat_template or, failing that, its architecture.
//
// The rendered text contains special tokens written out (such as
// "<|im_start|>"): encode it with special-token parsing on. It does not
// start with BOS; the tokenizer adds that when the model wants it.
package chat

import (
	"strings"
)

// Message is one turn of a conversation; Role is "system", "user" or
// "assistant".
type Message struct {
	Role, Content string
}

// Template names a prompt format.
type Template string

const (
	// ChatML: <|im_start|>role\ncontent<|im_end|>\n (Qwen and many others).
	ChatML Template = "chatml"
	// Llama2: [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
	Llama2 Template = "llama2"
	// Mistral: [INST] user [/INST]answer</s>[INST] ...; a system message is
	// put before the first user message.
	Mistral Template = "mistral"
	// Llama3: <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
	Llama3 Template = "llama3"
	// Tulu (OLMoE instruct): <|user|>\ncontent\n<|assistant|>\ncontent<|endoftext|>
	Tulu Template = "tulu"
)

// Detect picks the template for a model. tmpl is the model's
// tokenizer.chat_template (may be ""), arch its general.architecture, and
// hasToken reports whether the vocabulary has a token (may be nil).
//
// Markers in tmpl win; then the architecture: qwen* → ChatML, llama →
// Llama3 if the vocabulary has <|start_header_id|> else Llama2, olmoe →
// Tulu. Anything else falls back to ChatML, the most widespread format.
func Detect(tmpl, arch string, hasToken func(string) bool) Template {
	switch {
	case strings.Contains(tmpl, "<|im_start|>"):
		return ChatML
	case strings.Contains(tmpl, "<|start_header_id|>"):
		return Llama3
	case strings.Contains(tmpl, "[INST]") && strings.Contains(tmpl, "<<SYS>>"):
		return Llama2
	case strings.Contains(tmpl, "[INST]"):
		return Mistral
	case strings.Contains(tmpl, "<|user|>") && strings.Contains(tmpl, "<|assistant|>"):
		return Tulu
	}
	has := func(s string) bool { return hasToken != nil && hasToken(s) }
	switch {
	case strings.HasPrefix(arch, "qwen"):
		return ChatML
	case arch == "llama" && has("<|start_header_id|>"):
		return Llama3
	case arch == "llama":
		return Llama2
	case arch == "olmoe":
		return Tulu
	}
	return ChatML
}

// Apply renders msgs in tmpl's format. With addGenerationPrompt the text
// ends where the assistant's next answer begins. An unknown template is
// rendered as ChatML.
func Apply(tmpl Template, msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	for _, p := range Parts(tmpl, msgs, addGenerationPrompt) {
		b.WriteString(p.Text)
	}
	return b.String()
}

// Part is a piece of a rendered conversation: the template's markup, or
// (Content) text that came from a message and must be tokenized without
// parsing special tokens in it.
type Part struct {
	Text    string
	Content bool
}

type parts []Part

func (p *parts) markup(s ...string) {
	for _, x := range s {
		if x == "" {
			continue
		}
		if n := len(*p); n > 0 && !(*p)[n-1].Content {
			(*p)[n-1].Text += x
		} else {
			*p = append(*p, Part{Text: x})
		}
	}
}

func (p *parts) content(s string) {
	if s != "" {
		*p = append(*p, Part{Text: s, Content: true})
	}
}

// Parts is Apply split into markup and message content.
func Parts(tmpl Template, msgs []Message, addGenerationPrompt bool) []Part {
	var p parts
	switch tmpl {
	case Llama2, Mistral:
		applyInst(&p, tmpl, msgs)
	case Llama3:
		for _, m := range msgs {
			p.markup("<|start_header_id|>")
			p.content(m.Role)
			p.markup("<|end_header_id|>\n\n")
			p.content(strings.TrimSpace(m.Content))
			p.markup("<|eot_id|>")
		}
		if addGenerationPrompt {
			p.markup("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case Tulu:
		for i, m := range msgs {
			switch m.Role {
			case "assistant":
				p.markup("<|assistant|>\n")
				p.content(m.Content)
				p.markup("<|endoftext|>")
				if i < len(msgs)-1 {
					p.markup("\n")
				}
			default:
				p.markup("<|" + m.Role + "|>\n")
				p.content(m.Content)
				p.markup("\n")
			}
		}
		if addGenerationPrompt {
			p.markup("<|assistant|>\n")
		}
	default:
		for _, m := range msgs {
			p.markup("<|im_start|>")
			p.content(m.Role)
			p.markup("\n")
			p.content(m.Content)
			p.markup("<|im_end|>\n")
		}
		if addGenerationPrompt {
			p.markup("<|im_start|>assistant\n")
		}
	}
	return p
}

// applyInst renders the [INST] formats. System messages are folded into the
// next user turn (Llama 2 inside <<SYS>>, Mistral as a leading paragraph).
// The generation prompt is implicit: the text ends after [/INST].
func applyInst(p *parts, tmpl Template, msgs []Message) {
	var system []string
	first := true
	for _, m := range msgs {
		content := strings.TrimSpace(m.Content)
		switch m.Role {
		case "system":
			system = append(system, content)
		case "assistant":
			if tmpl == Llama2 {
				p.markup(" ")
				p.content(content)
				p.markup(" </s>")
			} else {
				p.content(content)
				p.markup("</s>")
			}
		default:
			if !first && tmpl == Llama2 {
				p.markup("<s>")
			}
			p.markup("[INST] ")
			if len(system) > 0 {
				sys := strings.Join(system, "\n\n")
				if tmpl == Llama2 {
					p.markup("<<SYS>>\n")
					p.content(sys)
					p.markup("\n<</SYS>>\n\n")
				} else {
					p.content(sys)
					p.markup("\n\n")
				}
				system = nil
			}
			p.content(content)
			p.markup(" [/INST]")
			first = false
		}
	}
}
