package gateway

import (
	"context"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/router"
	"github.com/moegate/moegate/router/teacher"
)

// Label is a stored routing label: which expert should answer a query,
// from the teacher, feedback or an admin.
type Label = teacher.Label

// Teacher labels uncertain live routes in the background and writes
// example queries for new experts (router/teacher).
type Teacher interface {
	Offer(tenant, text string, d router.Decision) bool
	WriteExamples(ctx context.Context, e teacher.Expert, n int) ([]string, error)
}

var (
	errNoTeacher = errs.E(errs.Conflict, "No teacher is configured (teacher.expert).").WithCode("teacher_disabled")
	errNoLabels  = errs.E(errs.NotFound, "Routing labels are not enabled on this gateway (learned router).").WithCode("labels_disabled")
)

// offer hands a routed request to the teacher, which labels it later if
// the router was unsure and the budget allows. Never on dry runs.
func (g *Gateway) offer(p *Plan) {
	if g.deps.Teacher == nil || p.decision == nil {
		return
	}
	g.deps.Teacher.Offer(p.req.Tenant.Key(), p.routed.query, *p.decision)
}

// SuggestExamples asks the teacher for n example queries for the expert
// name, for an admin to review and add (nothing is stored).
func (g *Gateway) SuggestExamples(ctx context.Context, name string, n int) ([]string, error) {
	if g.deps.Teacher == nil {
		return nil, errNoTeacher
	}
	if n < 1 || n > 200 {
		return nil, errs.Param("n", "'n' must be between 1 and 200; got %d.", n)
	}
	e, ok := g.deps.Registry.Get(name)
	if !ok {
		return nil, errs.E(errs.NotFound, "Expert '%s' not found.", name).WithCode("expert_not_found")
	}
	out, err := g.deps.Teacher.WriteExamples(ctx, teacher.Expert{Name: e.Spec.Name, Description: e.Spec.Description, Examples: e.Spec.Examples}, n)
	if err != nil {
		return nil, errs.E(errs.UpstreamFailed, "The teacher could not write examples: %w", err).WithCode("teacher_failed")
	}
	return out, nil
}

// Labels lists the stored labels of tenant ("" and all false: the global
// ones), or every label when all is set.
func (g *Gateway) Labels(ctx context.Context, tenant string, all bool) ([]Label, error) {
	if g.deps.Labels == nil {
		return nil, errNoLabels
	}
	ls, err := g.deps.Labels.List(ctx, tenant, all)
	if ls == nil {
		ls = []Label{}
	}
	return ls, err
}

// AddLabel stores an admin's label and retrains the router.
func (g *Gateway) AddLabel(ctx context.Context, l Label) (Label, error) {
	if g.deps.Labels == nil {
		return Label{}, errNoLabels
	}
	switch {
	case l.Text == "":
		return Label{}, errs.Param("text", "'text' is required.")
	case l.Expert != "":
		if _, ok := g.deps.Registry.Get(l.Expert); !ok {
			return Label{}, errs.E(errs.NotFound, "Expert '%s' not found.", l.Expert).WithCode("expert_not_found")
		}
	}
	l.Source, l.ID = teacher.SourceAdmin, ""
	l, err := g.deps.Labels.Add(ctx, l)
	if err != nil {
		return Label{}, err
	}
	if g.deps.Retrainer != nil {
		g.deps.Retrainer.Trigger()
	}
	return l, nil
}

// DeleteLabel removes a label and retrains the router without it.
func (g *Gateway) DeleteLabel(ctx context.Context, id string) error {
	if g.deps.Labels == nil {
		return errNoLabels
	}
	if err := g.deps.Labels.Delete(ctx, id); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "Label '%s' not found.", id).WithCode("label_not_found")
		}
		return err
	}
	if g.deps.Retrainer != nil {
		g.deps.Retrainer.Trigger()
	}
	return nil
}
