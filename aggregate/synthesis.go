package aggregate

import (
	"fmt"
	"strings"

	"github.com/moegate/moegate/experts"
)

// answer is one expert's successful answer, as the synthesizer sees it.
type answer struct {
	name   string
	weight float64
	resp   *experts.Response
}

// synthesisInstructions tell the synthesizer how to merge. As in Mixture of
// Thoughts, the experts' answers are evidence to weigh, not text to paste:
// the gate weight says how much the router trusted each expert for this
// query.
const synthesisInstructions = `You combine the answers of several domain experts into one final answer.
You will see the conversation, then each expert's answer to its last message with the router's confidence in that expert (a weight between 0 and 1).
Write the single best reply to the conversation:
- keep what is correct and relevant from every answer, and resolve disagreements by reasoning about which is right; when in doubt prefer the higher-weighted expert;
- leave out repetition, and anything that is wrong or off-topic;
- answer in the language and format the user asked for;
- do not mention the experts, their weights or this process.
Reply with the final answer only.`

// synthesisRequest builds the synthesizer's request: the instructions, the
// original conversation, then the experts' answers. Sampling settings and
// the response format carry over; tools do not, because the synthesizer
// writes text.
func synthesisRequest(orig *experts.Request, answers []answer) *experts.Request {
	msgs := make([]experts.Message, 0, len(orig.Messages)+2)
	msgs = append(msgs, experts.Message{Role: "system", Content: synthesisInstructions})
	for _, m := range orig.Messages {
		// Without tools in the request servers refuse tool messages;
		// keep their text as plain context instead.
		switch {
		case m.Role == "tool":
			m = experts.Message{Role: "user", Content: "[tool result]\n" + m.Content}
		case len(m.ToolCalls) > 0:
			m = experts.Message{Role: m.Role, Content: strings.TrimSpace(m.Content + "\n[called tools: " + string(m.ToolCalls) + "]")}
		}
		msgs = append(msgs, m)
	}
	var b strings.Builder
	b.WriteString("Answers from the experts:\n")
	for i, a := range answers {
		fmt.Fprintf(&b, "\n### Expert %d: %s (weight %.2f)\n", i+1, a.name, a.weight)
		text := strings.TrimSpace(a.resp.Content)
		if text == "" && len(a.resp.ToolCalls) > 0 {
			text = "(requested tool calls: " + string(a.resp.ToolCalls) + ")"
		}
		b.WriteString(text)
		b.WriteString("\n")
	}
	b.WriteString("\nNow write the single best reply to the conversation above.")
	msgs = append(msgs, experts.Message{Role: "user", Content: b.String()})
	return &experts.Request{
		Messages:       msgs,
		Temperature:    orig.Temperature,
		TopP:           orig.TopP,
		MaxTokens:      orig.MaxTokens,
		Stop:           orig.Stop,
		Seed:           orig.Seed,
		User:           orig.User,
		ResponseFormat: orig.ResponseFormat,
	}
}
