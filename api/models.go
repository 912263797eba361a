package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
)

func (s *Server) models() []modelObject {
	created := s.started.Unix()
	out := []modelObject{{ID: experts.ReservedName, Object: "model", Created: created, OwnedBy: "moegate",
		Description: "Routed by the gateway's router to the best-fitting experts."}}
	for _, e := range s.deps.Registry.Snapshot().Entries() {
		sp := e.Spec // read only: snapshots are shared
		if !sp.IsEnabled() {
			continue
		}
		m := modelObject{ID: sp.Name, Object: "model", Created: sp.CreatedAt.Unix(), OwnedBy: "moegate",
			Description: sp.Description, Kind: sp.Kind, Tags: sp.Tags}
		if sp.CreatedAt.IsZero() {
			m.Created = created
		}
		if sp.Name == s.gw.DefaultExpert() && len(s.gw.Notes()) > 0 {
			m.Note = s.gw.Notes()[0]
		}
		out = append(out, m)
	}
	return out
}

func (s *Server) listModels(c *gin.Context) error {
	c.JSON(http.StatusOK, modelList{Object: "list", Data: s.models()})
	return nil
}

func (s *Server) getModel(c *gin.Context) error {
	id := c.Param("id")
	for _, m := range s.models() {
		if m.ID == id {
			c.JSON(http.StatusOK, m)
			return nil
		}
	}
	return notFound("model_not_found", "The model '%s' does not exist or you do not have access to it.", id)
}
