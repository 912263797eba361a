package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/mergepatch"
	"github.com/moegate/moegate/policies"
)

// PATCH on admin resources takes a JSON merge patch (RFC 7396): members
// it names are set, members it sets to null are removed, the rest stay.
// The patched resource is validated as a whole before anything is stored.

// patched applies the request's merge patch to current and decodes the
// result into v, refusing members v does not have.
func (s *Server) patched(c *gin.Context, current any, v any) error {
	var patch json.RawMessage
	if err := s.decodeJSON(c, &patch); err != nil {
		return err
	}
	if t := bytes.TrimSpace(patch); len(t) == 0 || t[0] != '{' {
		return invalid("", "A merge patch must be a JSON object (RFC 7396).")
	}
	doc, err := json.Marshal(current)
	if err != nil {
		return err
	}
	merged, err := mergepatch.Apply(doc, patch)
	if err != nil {
		return invalid("", "Invalid merge patch: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invalid(te.Field, "Invalid type for '%s': expected %s, got JSON %s.", te.Field, te.Type, te.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = strings.Trim(field, `"`)
			return invalid(field, "Unknown field '%s'.", field)
		}
		return invalid("", "The patched resource is invalid: %v", err)
	}
	return nil
}

func (s *Server) adminPatchExpert(c *gin.Context) error {
	name := c.Param("name")
	e, ok := s.deps.Registry.Get(name)
	if !ok {
		return notFound("expert_not_found", "Expert '%s' not found.", name)
	}
	var sp experts.Spec
	if err := s.patched(c, e.Spec, &sp); err != nil {
		return err
	}
	stored, err := s.deps.Registry.Update(c.Request.Context(), name, sp)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, stored)
	return nil
}

func (s *Server) adminUpdateTenant(c *gin.Context) error {
	var t policies.Tenant
	if err := s.decodeJSON(c, &t); err != nil {
		return err
	}
	up, err := s.deps.Tenants.Update(c.Request.Context(), c.Param("name"), t)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, up)
	return nil
}

func (s *Server) adminPatchTenant(c *gin.Context) error {
	ctx := c.Request.Context()
	cur, err := s.deps.Tenants.Get(ctx, c.Param("name"))
	if err != nil {
		return err
	}
	var t policies.Tenant
	if err := s.patched(c, cur, &t); err != nil {
		return err
	}
	up, err := s.deps.Tenants.Update(ctx, c.Param("name"), t)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, up)
	return nil
}
