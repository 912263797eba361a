package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/gateway"
)

// adminSuggestExamples has the teacher write example queries for an
// expert; the admin reviews them and adds the good ones with PATCH.
func (s *Server) adminSuggestExamples(c *gin.Context) error {
	req := struct {
		N int `json:"n"`
	}{N: 20}
	if c.Request.ContentLength != 0 {
		if err := s.decodeJSON(c, &req); err != nil {
			return err
		}
	}
	out, err := s.gw.SuggestExamples(c.Request.Context(), c.Param("name"), req.N)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "expert": c.Param("name"), "data": out})
	return nil
}

// adminListLabels lists routing labels: ?tenant=NAME for a tenant's own,
// ?all=true for every label, neither for the global ones.
func (s *Server) adminListLabels(c *gin.Context) error {
	ls, err := s.gw.Labels(c.Request.Context(), c.Query("tenant"), c.Query("all") == "true")
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": ls})
	return nil
}

func (s *Server) adminAddLabel(c *gin.Context) error {
	var l gateway.Label
	if err := s.decodeJSON(c, &l); err != nil {
		return err
	}
	stored, err := s.gw.AddLabel(c.Request.Context(), l)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, stored)
	return nil
}

func (s *Server) adminDeleteLabel(c *gin.Context) error {
	if err := s.gw.DeleteLabel(c.Request.Context(), c.Param("id")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
