package router

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/moegate/moegate/embed"
)

// ReadExamples reads JSON Lines of Example ({"text": ..., "expert": ...};
// other fields are ignored, an empty expert is out of scope). A line may
// carry a conversation, "messages" in the chat completions shape, instead
// of "text": its last user message becomes Text, the earlier user messages
// History and the system message System.
func ReadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var ex struct {
			Example
			Messages []message `json:"messages"`
		}
		if err := json.Unmarshal(b, &ex); err != nil {
			return nil, fmt.Errorf("router: examples line %d: %w", line, err)
		}
		if len(ex.Messages) > 0 {
			if ex.Text != "" {
				return nil, fmt.Errorf("router: examples line %d: both text and messages", line)
			}
			if err := ex.fromMessages(ex.Messages); err != nil {
				return nil, fmt.Errorf("router: examples line %d: %w", line, err)
			}
		}
		out = append(out, ex.Example)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("router: read examples: %w", err)
	}
	return out, nil
}

// message is one chat message; Content is a string or an array of parts
// of which the text parts count.
type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func (m message) text() (string, error) {
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", fmt.Errorf("%s message content is neither a string nor an array of parts", m.Role)
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// fromMessages sets Text, History and System from a conversation.
func (ex *Example) fromMessages(msgs []message) error {
	var user, system []string
	for _, m := range msgs {
		t, err := m.text()
		if err != nil {
			return err
		}
		switch m.Role {
		case "user":
			user = append(user, t)
		case "system", "developer":
			system = append(system, t)
		}
	}
	if len(user) == 0 {
		return errors.New("messages without a user message")
	}
	ex.Text, ex.History, ex.System = user[len(user)-1], user[:len(user)-1], strings.Join(system, "\n")
	return nil
}

// ReadExamplesFile reads a JSON Lines file of examples.
func ReadExamplesFile(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exs, err := ReadExamples(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return exs, nil
}

// EvalResult is what Evaluate measures on a test set.
type EvalResult struct {
	// Accuracy is top-1 accuracy of the gate on in-scope queries, ignoring
	// the out-of-scope threshold; RoutedAccuracy counts a query as right
	// only when it is also not sent to the default expert.
	Accuracy       float64 `json:"accuracy"`
	Top3Accuracy   float64 `json:"top3_accuracy"`
	RoutedAccuracy float64 `json:"routed_accuracy"`
	// OOSRecall is the share of out-of-scope queries sent to the default
	// expert, OOSPrecision the share of default decisions that were out of
	// scope, InScopeCoverage the share of in-scope queries not sent there.
	OOSRecall       float64 `json:"oos_recall"`
	OOSPrecision    float64 `json:"oos_precision"`
	InScopeCoverage float64 `json:"in_scope_coverage"`
	// Route latency per query, embedding included, one thread.
	RouteP50us    float64 `json:"route_p50_us"`
	RouteP99us    float64 `json:"route_p99_us"`
	TrainSeconds  float64 `json:"train_seconds"`
	InScope       int     `json:"in_scope"`
	OutOfScope    int     `json:"out_of_scope"`
	Threshold     float64 `json:"threshold"`
	NullThreshold float64 `json:"null_threshold,omitempty"`
	// ExpertRouted is the routed accuracy of each expert's queries.
	ExpertRouted map[string]float64 `json:"expert_routed_accuracy,omitempty"`
	// Teacher simulation (Experiment.Pool): labels given, and how many of
	// them were wrong.
	TeacherLabels int `json:"teacher_labels,omitempty"`
	TeacherWrong  int `json:"teacher_wrong,omitempty"`
}

// Evaluate trains a Learned router on train and measures it on test, with
// every expert of the model as a candidate.
func Evaluate(ctx context.Context, emb embed.Embedder, train, test []Example, opts Options) (EvalResult, error) {
	return trainAndMeasure(ctx, NewLearned(emb, opts), train, test)
}

// trainAndMeasure trains and installs a model on l, then measures it.
func trainAndMeasure(ctx context.Context, l *Learned, train, test []Example) (EvalResult, error) {
	start := time.Now()
	m, err := l.Train(ctx, train)
	if err != nil {
		return EvalResult{}, err
	}
	secs := time.Since(start).Seconds()
	if err := l.Install(m); err != nil {
		return EvalResult{}, err
	}
	res, err := measure(ctx, l, test)
	res.TrainSeconds = secs
	return res, err
}

// measure routes test with the installed model of l, every expert of the
// model a candidate.
func measure(ctx context.Context, l *Learned, test []Example) (EvalResult, error) {
	var res EvalResult
	m := l.Model()
	res.Threshold, res.NullThreshold = m.Threshold, m.NullThreshold
	candidates := m.InScope()

	// Route single-threaded for latency figures, embedding included.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat := make([]float64, 0, len(test))
	decisions := make([]Decision, len(test))
	for i, ex := range test {
		t0 := time.Now()
		d, err := l.Route(ctx, Query{Text: ex.Text, History: ex.History, System: ex.System, Candidates: candidates})
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
		if err != nil {
			return res, err
		}
		decisions[i] = d
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.RouteP50us = lat[len(lat)/2]
		res.RouteP99us = lat[min(len(lat)-1, len(lat)*99/100)]
	}

	var correct, top3, routed, covered, oosHit, defaults int
	perExpert := map[string]float64{}
	for i, ex := range test {
		d := decisions[i]
		if d.Default {
			defaults++
		}
		if ex.Expert == OutOfScope {
			res.OutOfScope++
			if d.Default {
				oosHit++
			}
			continue
		}
		res.InScope++
		if res.ExpertRouted == nil {
			res.ExpertRouted = map[string]float64{}
		}
		perExpert[ex.Expert]++
		if !d.Default {
			covered++
			if d.Experts[0].Name == ex.Expert {
				routed++
				res.ExpertRouted[ex.Expert]++
			}
		}
		rank := 0
		pe, ok := d.Probabilities.Get(ex.Expert)
		for _, p := range d.Probabilities {
			if p.P > pe {
				rank++
			}
		}
		if ok {
			if rank == 0 {
				correct++
			}
			if rank < 3 {
				top3++
			}
		}
	}
	div := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	for e, n := range perExpert {
		res.ExpertRouted[e] /= n
	}
	res.Accuracy = div(correct, res.InScope)
	res.Top3Accuracy = div(top3, res.InScope)
	res.RoutedAccuracy = div(routed, res.InScope)
	res.InScopeCoverage = div(covered, res.InScope)
	res.OOSRecall = div(oosHit, res.OutOfScope)
	res.OOSPrecision = div(oosHit, defaults)
	return res, nil
}
