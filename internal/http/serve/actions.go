package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/partition"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/sdk/client"
)

// Actions is what the API needs to act for a person beyond decisions: start a
// refresh and request, decide and revoke access. *control.Client has it; it
// signs each action in the authenticated principal's name.
type Actions interface {
	Start(ctx context.Context, rq control.Refresh) (client.WorkflowRun, error)
	RequestAccess(ctx context.Context, req access.Request, suffix string) (client.WorkflowRun, error)
	DecideAccess(ctx context.Context, target string, d access.Decision) (access.Status, error)
	RevokeAccess(ctx context.Context, workflowID string, r access.Revocation) (access.Status, error)
}

func (s *Server) actionRoutes() {
	s.mux.HandleFunc(api.RouteRefreshes, s.authenticated(s.startRefresh))
	s.mux.HandleFunc(api.RouteAccessRequests, s.authenticated(s.requestAccess))
	s.mux.HandleFunc(api.RouteAccessDecisions, s.authenticated(s.decideAccess))
	s.mux.HandleFunc(api.RouteRevocations, s.authenticated(s.revokeAccess))
}

// deprecationRoutes serves deprecations, which need the mesh (who may) and
// the store (where they are recorded).
func (s *Server) deprecationRoutes() {
	s.mux.HandleFunc(api.RouteDeprecations, s.authenticated(s.deprecate))
}

// MaxDeprecationNote bounds a deprecation's note.
const MaxDeprecationNote = 1000

// deprecate records the deprecation of a major version of a product. The
// product's owner (its team's members) and the stewards of the product and
// of its domain may, by the mesh this server loaded and the authenticated
// principal; nothing in the request decides who.
func (s *Server) deprecate(w http.ResponseWriter, r *http.Request, principal string) {
	ref := r.PathValue("domain") + "/" + r.PathValue("name")
	p := s.product(w, ref)
	if p == nil {
		return
	}
	var req api.DeprecationBody
	if !readBody(w, r, &req) {
		return
	}
	if !slices.Contains(s.deprecators(p), principal) {
		s.log.Warn("deprecation refused", "principal", principal, "product", ref)
		api.Fail(w, http.StatusForbidden, api.CodeRefused, fmt.Sprintf("%s may not deprecate %s: its owner %s and the stewards of %s and of domain %s may", principal, ref, p.Metadata.Owner, ref, p.Metadata.Domain))
		return
	}
	switch {
	case req.Major < 1:
		api.Fail(w, http.StatusBadRequest, api.CodeMissingField, "send major, the major version to deprecate (1 or more)")
		return
	case len(req.Note) > MaxDeprecationNote:
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("the note is longer than %d characters", MaxDeprecationNote))
		return
	}
	if _, err := refresh.ParseDeprecationDate(req.On); err != nil {
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, "on: "+err.Error())
		return
	}
	d := refresh.Deprecation{Product: ref, Major: req.Major, On: req.On, Note: strings.TrimSpace(req.Note), By: principal, At: s.now().UTC()}
	if err := catalog.Deprecate(r.Context(), s.store, d); errors.Is(err, catalog.ErrNoMajor) {
		api.Fail(w, http.StatusNotFound, api.CodeUnknownMajor, err.Error())
		return
	} else if err != nil {
		s.log.Error("deprecation not recorded", "product", ref, "error", err)
		api.Fail(w, http.StatusBadGateway, "store", "record the deprecation: "+err.Error())
		return
	}
	s.log.Info("deprecated", "principal", principal, "product", ref, "major", d.Major, "on", d.On)
	api.WriteJSON(w, http.StatusCreated, d)
}

// deprecators are the people who may deprecate a major of p: the members
// of its owner, its stewards (the product's, else its domain's) and its
// domain's stewards.
func (s *Server) deprecators(p *spec.Product) []string {
	names := []string{p.Metadata.Owner}
	names = append(names, s.mesh.Stewards(p)...)
	if d := s.mesh.Domain(p.Metadata.Domain); d != nil {
		names = append(names, d.Stewards...)
	}
	return s.mesh.People(names)
}

// readBody decodes a JSON body strictly (api.DecodeStrict), answering 400/413
// itself.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	e := api.DecodeStrict(w, r, v)
	if e != nil {
		e.Message = "read the body: " + e.Message
		api.WriteError(w, e)
	}
	return e == nil
}

func (s *Server) startRefresh(w http.ResponseWriter, r *http.Request, principal string) {
	var req api.RefreshRequest
	if !readBody(w, r, &req) {
		return
	}
	p := s.product(w, req.Product)
	if p == nil {
		return
	}
	// A refresh costs the owning domain compute and names its submitter: the
	// product's owner team and stewards may start one.
	if s.readers == nil || !slices.Contains(s.readers(p.Ref()), principal) {
		s.log.Warn("refresh refused", "principal", principal, "product", p.Ref())
		api.Fail(w, http.StatusForbidden, api.CodeRefused, fmt.Sprintf("%s may not start a refresh of %s: its owner team and stewards may", principal, p.Ref()))
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = "manual"
	}
	if len(reason) > 500 {
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, "the reason is longer than 500 characters")
		return
	}
	parts := ""
	if req.Partitions != "" {
		if p.Partitions == nil {
			api.Fail(w, http.StatusBadRequest, api.CodeNotPartitioned, fmt.Sprintf("%s is not partitioned: refresh it whole, without partitions", p.Ref()))
			return
		}
		rg, err := partition.By(p.Partitions.By).ParseRange(req.Partitions)
		if err != nil {
			api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, "partitions: "+err.Error())
			return
		}
		parts = rg.String()
	}
	run, err := s.actions.Start(r.Context(), control.Refresh{Ref: p.Ref(), TaskQueue: s.mesh.Domain(p.Metadata.Domain).Queue(),
		Principal: principal, Reason: reason, Suffix: "manual-" + s.now().UTC().Format("20060102T150405.000"), Partitions: parts})
	if err != nil {
		s.controlError(w, "start a refresh of "+p.Ref(), err)
		return
	}
	s.log.Info("refresh started", "principal", principal, "workflow_id", run.GetID(), "reason", reason)
	api.WriteJSON(w, http.StatusCreated, api.Started{WorkflowID: run.GetID(), RunID: run.GetRunID(), Principal: principal})
}

func (s *Server) requestAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req api.AccessRequestBody
	if !readBody(w, r, &req) {
		return
	}
	if s.product(w, req.Product) == nil {
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("duration %q: write a duration such as 720h", req.Duration))
		return
	}
	in, err := control.AccessInput(s.mesh, req.Product, principal, req.Purpose, d)
	if err != nil {
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	run, err := s.actions.RequestAccess(r.Context(), in, s.now().UTC().Format("20060102T150405.000"))
	if err != nil {
		s.controlError(w, "request access to "+req.Product, err)
		return
	}
	s.log.Info("access requested", "principal", principal, "workflow_id", run.GetID(), "product", req.Product)
	api.WriteJSON(w, http.StatusCreated, api.Started{WorkflowID: run.GetID(), RunID: run.GetRunID(), Principal: principal})
}

func (s *Server) decideAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req api.AccessDecisionBody
	if !readBody(w, r, &req) {
		return
	}
	if req.Target == "" || req.Approve == nil {
		api.Fail(w, http.StatusBadRequest, api.CodeMissingField, "send target (an access request's workflow ID, or its product) and approve")
		return
	}
	st, err := s.actions.DecideAccess(r.Context(), req.Target, access.Decision{Principal: principal, Approve: *req.Approve, Comment: req.Comment})
	if s.accessRefused(w, principal, "decide on access "+req.Target, err) {
		return
	}
	api.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) revokeAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req api.RevocationBody
	if !readBody(w, r, &req) {
		return
	}
	if !strings.HasPrefix(req.WorkflowID, "access/") {
		api.Fail(w, http.StatusBadRequest, api.CodeMissingField, "send workflowId, the ID of the access request that granted the access (access/<domain>/<product>/…)")
		return
	}
	st, err := s.actions.RevokeAccess(r.Context(), req.WorkflowID, access.Revocation{Principal: principal, Reason: req.Reason})
	if s.accessRefused(w, principal, "revoke "+req.WorkflowID, err) {
		return
	}
	api.WriteJSON(w, http.StatusOK, st)
}

// accessRefused answers an access action's error by the API's one mapping
// (api.ControlError): the workflow's refusal as 403, a missing request as 404;
// it reports whether it answered.
func (s *Server) accessRefused(w http.ResponseWriter, principal, what string, err error) bool {
	if err == nil {
		return false
	}
	e := api.ControlError(what, err)
	if e.Code == api.CodeRefused {
		s.log.Warn("access action refused", "principal", principal, "action", what, "error", e.Message)
	}
	s.answerError(w, what, e)
	return true
}

// product finds a product of the mesh, answering 404 itself when there is none.
func (s *Server) product(w http.ResponseWriter, ref string) *spec.Product {
	var p *spec.Product
	if s.mesh != nil {
		p = s.mesh.Product(ref)
	}
	if p == nil || s.mesh.Domain(p.Metadata.Domain) == nil {
		api.Fail(w, http.StatusNotFound, "unknown_product", fmt.Sprintf("no product %q in the mesh (write <domain>/<name>)", ref))
		return nil
	}
	return p
}

// Compile-time check: the control client is what the API acts through.
var _ Actions = (*control.Client)(nil)
