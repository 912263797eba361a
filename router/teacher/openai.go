package teacher

import (
	"context"
	"errors"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAI is a Completer over an OpenAI-compatible chat completions
// endpoint (another moegate included).
type OpenAI struct {
	client *openai.Client
	model  string
}

// NewOpenAI returns a Completer calling model at baseURL (ending in /v1).
func NewOpenAI(baseURL, model, apiKey string) *OpenAI {
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = strings.TrimRight(baseURL, "/")
	return &OpenAI{client: openai.NewClientWithConfig(cfg), model: model}
}

// Complete implements Completer with one user message.
func (o *OpenAI) Complete(ctx context.Context, prompt string) (string, error) {
	resp, err := o.client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model:    o.model,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: prompt}},
	})
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 {
		return "", errors.New("no choice in the completion")
	}
	return resp.Choices[0].Message.Content, nil
}
