package console

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/router"
)

// DefaultLabel stands for the default expert (out of scope) in an
// evaluation.
const DefaultLabel = "(default)"

// Evaluation is the router measured on a held-out slice of its own
// training examples: every fifth example of each class (at least one of
// each class with three or more) is held out, a fresh router is trained on
// the rest with the gateway's router options and routes the held-out ones
// with every expert a candidate. The live router is not touched.
type Evaluation struct {
	Time     time.Time `json:"time"`
	Train    int       `json:"train"`
	HeldOut  int       `json:"held_out"`
	Accuracy float64   `json:"accuracy"` // share of held-out examples routed to their label
	// Labels are the matrix's rows (actual) and columns (routed), the
	// default expert last; Matrix[i][j] counts examples of Labels[i]
	// routed to Labels[j].
	Labels       []string        `json:"labels"`
	Matrix       [][]int         `json:"matrix"`
	PerExpert    []ExpertQuality `json:"per_expert"`
	TrainSeconds float64         `json:"train_seconds"`
}

// ExpertQuality is one label's precision and recall on the held-out slice.
type ExpertQuality struct {
	Name      string  `json:"name"`
	Support   int     `json:"support"` // held-out examples of this label
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Evaluate trains a router on most of exs and measures it on the rest.
func Evaluate(ctx context.Context, exs []router.Example, opts router.Options) (*Evaluation, error) {
	label := func(ex router.Example) string {
		if ex.Expert == router.OutOfScope {
			return DefaultLabel
		}
		return ex.Expert
	}
	byClass := map[string][]router.Example{}
	for _, ex := range exs {
		byClass[label(ex)] = append(byClass[label(ex)], ex)
	}
	var train, test []router.Example
	for _, list := range byClass {
		for i, ex := range list {
			if len(list) >= 3 && (i%5 == 4 || (len(list) < 5 && i == len(list)-1)) {
				test = append(test, ex)
			} else {
				train = append(train, ex)
			}
		}
	}
	if len(test) == 0 {
		return nil, errs.E(errs.Conflict, "Too few examples to hold any out: give each expert at least 3 examples.").WithCode("too_few_examples")
	}
	l := router.NewLearned(embed.NewLocal(router.LocalFeatureDim), opts)
	start := time.Now()
	m, err := l.Train(ctx, train)
	if err != nil {
		return nil, errs.E(errs.Conflict, "Training on the examples failed: %v", err).WithCode("training_failed")
	}
	secs := time.Since(start).Seconds()
	if err := l.Install(m); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}

	seen := map[string]bool{}
	for _, ex := range test {
		seen[label(ex)] = true
	}
	for _, name := range m.InScope() {
		seen[name] = true
	}
	var labels []string
	for name := range seen {
		if name != DefaultLabel {
			labels = append(labels, name)
		}
	}
	sort.Strings(labels)
	labels = append(labels, DefaultLabel)
	index := map[string]int{}
	for i, name := range labels {
		index[name] = i
	}
	ev := &Evaluation{Time: time.Now(), Train: len(train), HeldOut: len(test), Labels: labels, TrainSeconds: secs}
	ev.Matrix = make([][]int, len(labels))
	for i := range ev.Matrix {
		ev.Matrix[i] = make([]int, len(labels))
	}
	candidates := m.InScope()
	right := 0
	for _, ex := range test {
		d, err := l.Route(ctx, router.Query{Text: ex.Text, History: ex.History, System: ex.System, Candidates: candidates})
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		got := DefaultLabel
		if !d.Default && len(d.Experts) > 0 {
			got = d.Experts[0].Name
		}
		want := label(ex)
		if want == got {
			right++
		}
		ev.Matrix[index[want]][index[got]]++
	}
	ev.Accuracy = float64(right) / float64(len(test))
	for i, name := range labels {
		var row, col int
		for j := range labels {
			row += ev.Matrix[i][j]
			col += ev.Matrix[j][i]
		}
		q := ExpertQuality{Name: name, Support: row}
		if col > 0 {
			q.Precision = float64(ev.Matrix[i][i]) / float64(col)
		}
		if row > 0 {
			q.Recall = float64(ev.Matrix[i][i]) / float64(row)
		}
		if q.Precision+q.Recall > 0 {
			q.F1 = 2 * q.Precision * q.Recall / (q.Precision + q.Recall)
		}
		ev.PerExpert = append(ev.PerExpert, q)
	}
	return ev, nil
}
