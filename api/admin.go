package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
)

// expertError maps registry errors to statuses: 400 invalid, 404 missing,
// 409 duplicate.
func expertError(err error) error {
	switch {
	case errors.Is(err, experts.ErrInvalid):
		var ve *experts.ValidationError
		if errors.As(err, &ve) {
			return invalid(ve.Field, "%v", err)
		}
		return invalid("", "%v", err)
	case errors.Is(err, experts.ErrNotFound):
		return notFound("expert_not_found", "%v", err)
	case errors.Is(err, experts.ErrExists):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "expert_exists", Param: "name", Message: err.Error()}
	}
	return err
}

func (s *Server) adminListExperts(c *gin.Context) error {
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": s.deps.Registry.List()})
	return nil
}

func (s *Server) adminGetExpert(c *gin.Context) error {
	e, ok := s.deps.Registry.Get(c.Param("name"))
	if !ok {
		return notFound("expert_not_found", "Expert '%s' not found.", c.Param("name"))
	}
	c.JSON(http.StatusOK, e.Spec)
	return nil
}

func (s *Server) adminAddExpert(c *gin.Context) error {
	var sp experts.Spec
	if err := s.decodeJSON(c, &sp); err != nil {
		return err
	}
	stored, err := s.deps.Registry.Add(c.Request.Context(), sp)
	if err != nil {
		return expertError(err)
	}
	c.JSON(http.StatusCreated, stored)
	return nil
}

func (s *Server) adminUpdateExpert(c *gin.Context) error {
	var sp experts.Spec
	if err := s.decodeJSON(c, &sp); err != nil {
		return err
	}
	stored, err := s.deps.Registry.Update(c.Request.Context(), c.Param("name"), sp)
	if err != nil {
		return expertError(err)
	}
	c.JSON(http.StatusOK, stored)
	return nil
}

func (s *Server) adminRemoveExpert(c *gin.Context) error {
	name := c.Param("name")
	if name == s.opts.DefaultExpert {
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "default_expert", Param: "name",
			Message: fmt.Sprintf("Expert '%s' is the default expert and cannot be removed; disable it with PUT instead.", name)}
	}
	if err := s.deps.Registry.Remove(c.Request.Context(), name); err != nil {
		return expertError(err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

func tenantError(err error) error {
	switch {
	case errors.Is(err, policies.ErrInvalid):
		return invalid("", "%v", err)
	case errors.Is(err, policies.ErrNotFound):
		return notFound("tenant_not_found", "%v", err)
	case errors.Is(err, policies.ErrExists), errors.Is(err, policies.ErrReadOnly):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "tenant_conflict", Param: "name", Message: err.Error()}
	}
	return err
}

func (s *Server) adminListTenants(c *gin.Context) error {
	ts, err := s.deps.Tenants.List(c.Request.Context())
	if err != nil {
		return tenantError(err)
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": ts})
	return nil
}

func (s *Server) adminGetTenant(c *gin.Context) error {
	t, err := s.deps.Tenants.Get(c.Request.Context(), c.Param("name"))
	if err != nil {
		return tenantError(err)
	}
	c.JSON(http.StatusOK, t)
	return nil
}

// adminCreateTenant answers with the tenant and its key; the key is shown
// this once and only its hash is kept.
func (s *Server) adminCreateTenant(c *gin.Context) error {
	var t policies.Tenant
	if err := s.decodeJSON(c, &t); err != nil {
		return err
	}
	created, key, err := s.deps.Tenants.Create(c.Request.Context(), t)
	if err != nil {
		return tenantError(err)
	}
	s.log.InfoContext(c.Request.Context(), "tenant created", "tenant", created.Name)
	c.JSON(http.StatusCreated, struct {
		policies.Tenant
		Key string `json:"key"`
	}{created, key})
	return nil
}

func (s *Server) adminDeleteTenant(c *gin.Context) error {
	if err := s.deps.Tenants.Delete(c.Request.Context(), c.Param("name")); err != nil {
		return tenantError(err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// ownUsage shows the calling tenant its own usage, and nobody else's.
func (s *Server) ownUsage(c *gin.Context) error {
	t, err := s.authenticate(c)
	if err != nil {
		return err
	}
	u, err := s.deps.Limiter.Usage(c.Request.Context(), t.Name)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, u)
	return nil
}

// adminUsage lists every tenant's usage, or one tenant's with ?tenant=.
func (s *Server) adminUsage(c *gin.Context) error {
	ctx := c.Request.Context()
	if name := c.Query("tenant"); name != "" {
		u, err := s.deps.Limiter.Usage(ctx, name)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, u)
		return nil
	}
	all, err := s.deps.Limiter.AllUsage(ctx)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": all})
	return nil
}

func (s *Server) knowledge() (Knowledge, error) {
	if s.deps.Knowledge == nil {
		return nil, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "retrieval_disabled", Message: "No knowledge store is configured."}
	}
	return s.deps.Knowledge, nil
}

// ingestRequest is one document, or several under "documents".
type ingestRequest struct {
	retrieval.IngestDoc
	Documents []retrieval.IngestDoc `json:"documents"`
}

func (s *Server) adminIngest(c *gin.Context) error {
	k, err := s.knowledge()
	if err != nil {
		return err
	}
	var req ingestRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	docs := req.Documents
	if len(docs) == 0 {
		docs = []retrieval.IngestDoc{req.IngestDoc}
	}
	type result struct {
		retrieval.Document
		Changed bool `json:"changed"`
	}
	var out []result
	for i, d := range docs {
		if d.Text == "" {
			return invalid(fmt.Sprintf("documents[%d].text", i), "Document %d has no text.", i)
		}
		doc, changed, err := k.Ingest(c.Request.Context(), d)
		if err != nil {
			if errors.Is(err, retrieval.ErrInvalid) {
				return invalid(fmt.Sprintf("documents[%d]", i), "%v", err)
			}
			return fmt.Errorf("ingest document %d: %w", i, err)
		}
		out = append(out, result{doc, changed})
	}
	c.JSON(http.StatusCreated, gin.H{"object": "list", "data": out})
	return nil
}

func (s *Server) adminListKnowledge(c *gin.Context) error {
	k, err := s.knowledge()
	if err != nil {
		return err
	}
	docs, err := k.Documents(c.Request.Context())
	if err != nil {
		return err
	}
	if docs == nil {
		docs = []retrieval.Document{}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": docs})
	return nil
}

func (s *Server) adminDeleteKnowledge(c *gin.Context) error {
	k, err := s.knowledge()
	if err != nil {
		return err
	}
	if err := k.DeleteDocument(c.Request.Context(), c.Param("doc")); err != nil {
		if errors.Is(err, retrieval.ErrNotFound) {
			return notFound("document_not_found", "Document '%s' not found.", c.Param("doc"))
		}
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) adminRetrain(c *gin.Context) error {
	if s.deps.Retrainer == nil {
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "static_router", Message: "The static router does not train."}
	}
	s.deps.Retrainer.Trigger()
	c.JSON(http.StatusAccepted, gin.H{"status": "retraining"})
	return nil
}
