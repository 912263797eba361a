package api

import (
	"container/list"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/router"
)

type feedbackRequest struct {
	RequestID string `json:"request_id"`
	Rating    *int   `json:"rating"`
	Expert    string `json:"expert"`
	Comment   string `json:"comment"`
}

// feedback stores a rating, or the expert that should have answered, for a
// recent request; the router learns from it at its next training.
func (s *Server) feedback(c *gin.Context) error {
	t, err := s.authenticate(c)
	if err != nil {
		return err
	}
	if s.deps.Feedback == nil {
		return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "feedback_disabled", Message: "Feedback is not enabled on this gateway."}
	}
	var req feedbackRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.RequestID == "" {
		return invalid("request_id", "'request_id' is required.")
	}
	if req.Rating == nil && req.Expert == "" {
		return invalid("rating", "Give a 'rating' (-1, 0 or 1) or the 'expert' that should have answered.")
	}
	if req.Rating != nil && (*req.Rating < -1 || *req.Rating > 1) {
		return invalid("rating", "'rating' must be -1, 0 or 1; got %d.", *req.Rating)
	}
	if req.Expert != "" {
		if _, ok := s.deps.Registry.Get(req.Expert); !ok {
			return notFound("expert_not_found", "Expert '%s' not found.", req.Expert)
		}
	}
	q, ok := s.recent.get(req.RequestID)
	if !ok || q.tenant != t.Name {
		return notFound("request_not_found", "Request '%s' is unknown or too old for feedback.", req.RequestID)
	}
	fb := router.Feedback{RequestID: req.RequestID, Expert: req.Expert, Text: q.text, Time: time.Now()}
	if req.Rating != nil {
		fb.Rating = *req.Rating
	}
	if err := s.deps.Feedback.Append(c.Request.Context(), fb); err != nil {
		return err
	}
	if s.deps.Retrainer != nil && req.Expert != "" {
		s.deps.Retrainer.Trigger()
	}
	c.JSON(http.StatusCreated, gin.H{"status": "recorded", "request_id": req.RequestID})
	return nil
}

// recentQueries remembers the routed text of the latest requests so that
// feedback, which names only a request id, can become a training example.
type recentQueries struct {
	mu    sync.Mutex
	max   int
	order *list.List
	byID  map[string]*list.Element
}

type recentQuery struct {
	id, text, tenant string
}

func newRecentQueries(max int) *recentQueries {
	return &recentQueries{max: max, order: list.New(), byID: map[string]*list.Element{}}
}

func (r *recentQueries) add(id, text, tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byID[id]; ok {
		r.order.Remove(el)
	}
	r.byID[id] = r.order.PushFront(recentQuery{id, text, tenant})
	for r.order.Len() > r.max {
		old := r.order.Remove(r.order.Back()).(recentQuery)
		delete(r.byID, old.id)
	}
}

func (r *recentQueries) get(id string) (recentQuery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.byID[id]
	if !ok {
		return recentQuery{}, false
	}
	return el.Value.(recentQuery), true
}
