package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/gateway"
)

type feedbackRequest struct {
	RequestID string `json:"request_id"`
	Rating    *int   `json:"rating"`
	Expert    string `json:"expert"`
	Comment   string `json:"comment"`
}

// feedback stores a rating, or the expert that should have answered, for a
// recent request of the caller's; the router learns from it at its next
// training.
func (s *Server) feedback(c *gin.Context) error {
	t, err := s.authenticate(c)
	if err != nil {
		return err
	}
	var req feedbackRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	fb := gateway.Feedback{RequestID: req.RequestID, Rating: req.Rating, Expert: req.Expert, Comment: req.Comment}
	if err := s.gw.Feedback(c.Request.Context(), t.Key(), fb); err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"status": "recorded", "request_id": req.RequestID})
	return nil
}
