package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
)

// expertView is a spec as the admin API shows it: secrets redacted, with
// the expert's circuit breaker.
type expertView struct {
	experts.Spec
	Health *health.Status `json:"health,omitempty"`
}

// redacted is what the admin API shows instead of a header's value.
const redacted = "[redacted]"

func (s *Server) view(sp experts.Spec) expertView {
	sp = sp.Clone()
	for k := range sp.Headers {
		sp.Headers[k] = redacted
	}
	v := expertView{Spec: sp}
	if s.deps.Health != nil {
		st := s.deps.Health.Status(sp.Name)
		v.Health = &st
	}
	return v
}

func (s *Server) adminListExperts(c *gin.Context) error {
	specs := s.deps.Registry.List()
	data := make([]expertView, len(specs))
	for i, sp := range specs {
		data[i] = s.view(sp)
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data})
	return nil
}

func (s *Server) adminGetExpert(c *gin.Context) error {
	e, ok := s.deps.Registry.Get(c.Param("name"))
	if !ok {
		return notFound("expert_not_found", "Expert '%s' not found.", c.Param("name"))
	}
	c.JSON(http.StatusOK, s.view(e.Spec))
	return nil
}

func (s *Server) adminAddExpert(c *gin.Context) error {
	var sp experts.Spec
	if err := s.decodeJSON(c, &sp); err != nil {
		return err
	}
	stored, err := s.deps.Registry.Add(c.Request.Context(), sp)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, s.view(stored))
	return nil
}

func (s *Server) adminUpdateExpert(c *gin.Context) error {
	var sp experts.Spec
	if err := s.decodeJSON(c, &sp); err != nil {
		return err
	}
	stored, err := s.deps.Registry.Update(c.Request.Context(), c.Param("name"), sp)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, s.view(stored))
	return nil
}

func (s *Server) adminRemoveExpert(c *gin.Context) error {
	name := c.Param("name")
	if name == s.gw.DefaultExpert() {
		return &errs.Error{Kind: errs.Conflict, Code: "default_expert", Param: "name",
			Err: fmt.Errorf("Expert '%s' is the default expert and cannot be removed; disable it with PUT instead.", name)}
	}
	if err := s.deps.Registry.Remove(c.Request.Context(), name); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) adminListTenants(c *gin.Context) error {
	ts, err := s.deps.Tenants.List(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": ts})
	return nil
}

func (s *Server) adminGetTenant(c *gin.Context) error {
	t, err := s.deps.Tenants.Get(c.Request.Context(), c.Param("name"))
	if err != nil {
		return err
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
		return err
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
		return err
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
	u, err := s.deps.Usage.Usage(c.Request.Context(), t.Key())
	if err != nil {
		return err
	}
	u.Tenant = t.Name
	c.JSON(http.StatusOK, u)
	return nil
}

// adminUsage lists every tenant's usage, or one tenant's with ?tenant=.
func (s *Server) adminUsage(c *gin.Context) error {
	ctx := c.Request.Context()
	if name := c.Query("tenant"); name != "" {
		t, err := s.deps.Tenants.Get(ctx, name)
		if name == policies.DefaultTenantName && errs.Is(err, errs.NotFound) {
			t, err = policies.DefaultTenant(), nil
		}
		if err != nil {
			return err
		}
		u, err := s.deps.Usage.Usage(ctx, t.Key())
		if err != nil {
			return err
		}
		u.Tenant = t.Name
		c.JSON(http.StatusOK, u)
		return nil
	}
	all, err := s.deps.Usage.AllUsage(ctx)
	if err != nil {
		return err
	}
	// Usage is kept by tenant key; show names (a deleted tenant's usage
	// keeps its id).
	names := map[string]string{policies.DefaultTenant().Key(): policies.DefaultTenantName}
	if ts, err := s.deps.Tenants.List(ctx); err == nil {
		for _, t := range ts {
			names[t.Key()] = t.Name
		}
	}
	for i := range all {
		if n, ok := names[all[i].Tenant]; ok {
			all[i].Tenant = n
		}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": all})
	return nil
}

// ingestRequest is one document, or several under "documents".
type ingestRequest struct {
	gateway.IngestDoc
	Documents []gateway.IngestDoc `json:"documents"`
}

func (s *Server) adminIngest(c *gin.Context) error {
	var req ingestRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	docs := req.Documents
	if len(docs) == 0 {
		docs = []gateway.IngestDoc{req.IngestDoc}
	}
	out, err := s.gw.Ingest(c.Request.Context(), docs)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"object": "list", "data": out})
	return nil
}

func (s *Server) adminListKnowledge(c *gin.Context) error {
	docs, err := s.gw.Documents(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": docs})
	return nil
}

func (s *Server) adminDeleteKnowledge(c *gin.Context) error {
	id := strings.TrimPrefix(c.Param("doc"), "/")
	if q, ok := c.GetQuery("id"); ok {
		id = q
	}
	if id == "" {
		return errs.Param("id", "Name the document: DELETE /admin/knowledge/{id} or /admin/knowledge?id={id}.")
	}
	if err := s.gw.DeleteDocument(c.Request.Context(), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) adminRetrain(c *gin.Context) error {
	if err := s.gw.Retrain(); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "retraining"})
	return nil
}
