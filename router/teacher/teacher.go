// Package teacher lets a strong model (any expert, through Completer)
// teach the router from its own traffic: at cold start it writes example
// queries for a new expert from its name, description and few examples;
// live queries the router was unsure about it labels asynchronously, under
// a budget, never on the request path; the labels are stored with their
// source and tenant (Store) for review, deletion and retraining.
package teacher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/moegate/moegate/router"
)

// Completer completes a prompt: any registered expert can be the teacher.
type Completer interface {
	Complete(ctx context.Context, prompt string) (string, error)
}

// Expert is what the teacher knows of an expert.
type Expert struct {
	Name        string
	Description string
	Examples    []string
}

// Options configure a Teacher. Zero fields take the defaults.
type Options struct {
	// CallsPerHour caps the teacher's labelling calls; default 60.
	CallsPerHour int
	// Share caps the share of offered queries sent to the teacher;
	// default 0.05.
	Share float64
	// MinUncertainty is the router.Uncertainty from which a query is worth
	// a label; default 0.5 (a margin under one half, or any query sent to
	// the default expert).
	MinUncertainty float64
	// Queue is how many queries may wait for the teacher; more are
	// dropped. Default 64.
	Queue int
	// OnLabel, when set, is called after each stored label (to trigger a
	// retraining, say).
	OnLabel func(Label)
	Logger  *slog.Logger // nil: discard
	// Now is the clock; nil: time.Now. Tests move it.
	Now func() time.Time
}

// Teacher labels uncertain live queries in the background. Offer is
// cheap and never blocks; Run does the work. It is safe for concurrent use.
type Teacher struct {
	c       Completer
	store   Store
	experts func() []Expert
	opts    Options
	queue   chan job

	mu      sync.Mutex
	tokens  float64 // calls left in the hourly budget
	last    time.Time
	offered int
	taken   int
}

type job struct{ tenant, text string }

// New returns a teacher asking c, storing labels in store, choosing among
// the experts that experts returns at labelling time.
func New(c Completer, store Store, experts func() []Expert, opts Options) *Teacher {
	opts.CallsPerHour = cmp.Or(opts.CallsPerHour, 60)
	opts.Share = cmp.Or(opts.Share, 0.05)
	opts.MinUncertainty = cmp.Or(opts.MinUncertainty, 0.5)
	opts.Queue = cmp.Or(opts.Queue, 64)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Teacher{c: c, store: store, experts: experts, opts: opts,
		queue: make(chan job, opts.Queue), tokens: float64(opts.CallsPerHour), last: opts.Now()}
}

// Offer hands the teacher a routed query. It queues the query for a label
// when the decision was uncertain and the budget allows (calls per hour,
// share of traffic, queue room), and reports whether it did.
func (t *Teacher) Offer(tenant, text string, d router.Decision) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offered++
	now := t.opts.Now()
	t.tokens = min(float64(t.opts.CallsPerHour), t.tokens+now.Sub(t.last).Hours()*float64(t.opts.CallsPerHour))
	t.last = now
	if strings.TrimSpace(text) == "" || router.Uncertainty(d) < t.opts.MinUncertainty ||
		t.tokens < 1 || float64(t.taken+1) > t.opts.Share*float64(t.offered) {
		return false
	}
	select {
	case t.queue <- job{tenant, text}:
		t.tokens--
		t.taken++
		return true
	default:
		return false
	}
}

// Run labels queued queries until ctx is done and returns its error. A
// failed call is logged and the query dropped.
func (t *Teacher) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case j := <-t.queue:
			if _, err := t.LabelQuery(ctx, j.tenant, j.text); err != nil && ctx.Err() == nil {
				t.opts.Logger.Warn("teacher: label", "err", err)
			}
		}
	}
}

// LabelQuery asks the teacher which expert should answer text, stores the
// label for tenant and returns it.
func (t *Teacher) LabelQuery(ctx context.Context, tenant, text string) (Label, error) {
	experts := t.experts()
	if len(experts) == 0 {
		return Label{}, errors.New("teacher: no experts to choose from")
	}
	answer, err := t.c.Complete(ctx, labelPrompt(text, experts))
	if err != nil {
		return Label{}, fmt.Errorf("teacher: %w", err)
	}
	name, err := parseChoice(answer, experts)
	if err != nil {
		return Label{}, err
	}
	l, err := t.store.Add(ctx, Label{Tenant: tenant, Text: text, Expert: name, Source: SourceTeacher})
	if err != nil {
		return Label{}, err
	}
	if t.opts.OnLabel != nil {
		t.opts.OnLabel(l)
	}
	return l, nil
}

func labelPrompt(text string, experts []Expert) string {
	var b strings.Builder
	b.WriteString("You route user queries to the expert best suited to answer them.\n\nExperts:\n")
	for _, e := range experts {
		fmt.Fprintf(&b, "- %s: %s\n", e.Name, oneLine(e.Description))
	}
	b.WriteString("- none: no expert above fits\n\n")
	fmt.Fprintf(&b, "Query: %s\n\nAnswer with the expert's name only, or none.", oneLine(text))
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// parseChoice finds the expert an answer names: the answer itself, or
// else the one expert name it contains; "none" is router.OutOfScope.
func parseChoice(answer string, experts []Expert) (string, error) {
	a := strings.ToLower(strings.Trim(strings.TrimSpace(answer), "\"'`.*"))
	if a == "none" {
		return router.OutOfScope, nil
	}
	var found []string
	for _, e := range experts {
		if a == strings.ToLower(e.Name) {
			return e.Name, nil
		}
		if containsWord(a, strings.ToLower(e.Name)) {
			found = append(found, e.Name)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && containsWord(a, "none"):
		return router.OutOfScope, nil
	}
	return "", fmt.Errorf("teacher: answer %q names %d experts", answer, len(found))
}

// containsWord reports whether w occurs in s between non-letters.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		if (start == 0 || !isWordByte(s[start-1])) && (end == len(s) || !isWordByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b == '-' || unicode.IsLetter(rune(b)) || unicode.IsDigit(rune(b))
}

// WriteExamples asks the teacher for n diverse example queries for e, for
// an admin to review before they train the router. Lines that repeat e's
// examples or each other are dropped, so fewer than n may come back.
func (t *Teacher) WriteExamples(ctx context.Context, e Expert, n int) ([]string, error) {
	if n <= 0 {
		return nil, fmt.Errorf("teacher: %d examples asked for", n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Write %d diverse queries that users would send to an assistant named %q", n, e.Name)
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", oneLine(e.Description))
	}
	b.WriteString(". Vary the wording, length and topic within its scope.")
	if len(e.Examples) > 0 {
		b.WriteString(" Examples of such queries:\n")
		for _, ex := range e.Examples {
			fmt.Fprintf(&b, "- %s\n", oneLine(ex))
		}
	}
	b.WriteString("\nAnswer with one query per line and nothing else.")
	answer, err := t.c.Complete(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	seen := map[string]bool{}
	for _, ex := range e.Examples {
		seen[strings.ToLower(oneLine(ex))] = true
	}
	var out []string
	for _, line := range strings.Split(answer, "\n") {
		q := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "-*•0123456789.) "))
		q = strings.Trim(q, "\"'")
		key := strings.ToLower(oneLine(q))
		if q == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, q)
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("teacher: no usable example in %q", answer)
	}
	return out, nil
}
