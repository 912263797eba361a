package router

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// Feedback is a user's verdict on one routed request.
type Feedback struct {
	RequestID string `json:"request_id"`
	// Rating is -1..1 (thumbs) or 1..5 (stars); informational for training,
	// which uses Expert.
	Rating int `json:"rating"`
	// Expert is the expert that should have answered; "" when unknown.
	Expert string `json:"expert,omitempty"`
	Text   string `json:"text,omitempty"` // the query, filled in by the gateway
	// Tenant gave the feedback; "" for an admin's. A tenant's feedback
	// steers only its own routing (see gateway), so that no tenant can move
	// another's.
	Tenant string    `json:"tenant,omitempty"`
	Time   time.Time `json:"time"`
}

// FeedbackStore keeps feedback.
type FeedbackStore interface {
	Append(ctx context.Context, fb Feedback) error
	All(ctx context.Context) ([]Feedback, error)
}

// FileFeedback is a FeedbackStore in a JSON Lines file, one object per line,
// appended with O_APPEND so that concurrent writers do not interleave
// lines. It is safe for concurrent use.
type FileFeedback struct {
	path string
	mu   sync.Mutex
}

// NewFileFeedback returns a store in the file at path (created on the first
// Append).
func NewFileFeedback(path string) *FileFeedback {
	return &FileFeedback{path: path}
}

// Append implements FeedbackStore.
func (f *FileFeedback) Append(_ context.Context, fb Feedback) error {
	if fb.Time.IsZero() {
		fb.Time = time.Now().UTC()
	}
	line, err := json.Marshal(fb)
	if err != nil {
		return fmt.Errorf("router: feedback: %w", err)
	}
	line = append(line, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("router: feedback: %w", err)
	}
	if _, err := file.Write(line); err != nil {
		file.Close()
		return fmt.Errorf("router: feedback: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("router: feedback: %w", err)
	}
	return nil
}

// All implements FeedbackStore. A missing file holds no feedback; a torn
// last line (a crash mid-write) is skipped.
func (f *FileFeedback) All(ctx context.Context) ([]Feedback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("router: feedback: %w", err)
	}
	defer file.Close()
	var out []Feedback
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var fb Feedback
		if err := json.Unmarshal(b, &fb); err != nil {
			// Tolerate only a torn final line.
			if !sc.Scan() {
				break
			}
			return nil, fmt.Errorf("router: feedback %s line %d: %w", f.path, line, err)
		}
		out = append(out, fb)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("router: feedback: %w", err)
	}
	return out, nil
}

// FeedbackExamples turns feedback that names the right expert into
// training examples of the given weight (0: 3, so that one correction
// counts more than one of an expert's own examples). Feedback without an
// Expert or Text teaches nothing about routing and is skipped; the latest
// correction of a repeated text wins.
func FeedbackExamples(fbs []Feedback, weight float64) []Example {
	if weight <= 0 {
		weight = 3
	}
	latest := map[string]int{}
	var out []Example
	for _, fb := range fbs {
		text := strings.TrimSpace(fb.Text)
		if text == "" || fb.Expert == "" {
			continue
		}
		if i, ok := latest[text]; ok {
			out[i].Expert = fb.Expert
			continue
		}
		latest[text] = len(out)
		out = append(out, Example{Text: text, Expert: fb.Expert, Weight: weight})
	}
	return out
}
