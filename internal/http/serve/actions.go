package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
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

// RefreshRequest is the body of POST /api/v1/refreshes.
type RefreshRequest struct {
	Product string `json:"product"`
	// Reason says why; default "manual".
	Reason string `json:"reason,omitempty"`
}

// Started is the answer to a started workflow.
type Started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Principal  string `json:"principal"`
}

// AccessRequestBody is the body of POST /api/v1/access/requests.
type AccessRequestBody struct {
	Product string `json:"product"`
	Purpose string `json:"purpose"`
	// Duration is how long the grant should last, e.g. "720h".
	Duration string `json:"duration"`
}

// AccessDecisionBody is the body of POST /api/v1/access/decisions. Target is
// the access request's workflow ID, or a product when one request of it is
// pending.
type AccessDecisionBody struct {
	Target  string `json:"target"`
	Approve *bool  `json:"approve"`
	Comment string `json:"comment,omitempty"`
}

// RevocationBody is the body of POST /api/v1/access/revocations.
type RevocationBody struct {
	WorkflowID string `json:"workflowId"`
	Reason     string `json:"reason,omitempty"`
}

func (s *Server) actionRoutes() {
	s.mux.HandleFunc("POST /api/v1/refreshes", s.authenticated(s.startRefresh))
	s.mux.HandleFunc("POST /api/v1/access/requests", s.authenticated(s.requestAccess))
	s.mux.HandleFunc("POST /api/v1/access/decisions", s.authenticated(s.decideAccess))
	s.mux.HandleFunc("POST /api/v1/access/revocations", s.authenticated(s.revokeAccess))
}

// readBody decodes a JSON body strictly, answering 400/413 itself.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	status, code, err := decodeStrict(w, r, v)
	if err != nil {
		writeError(w, status, code, "read the body: "+err.Error())
	}
	return err == nil
}

// decodeStrict decodes one JSON object of at most MaxBodyBytes without unknown
// fields, so that a body cannot name a principal; on failure it returns the
// HTTP status and the error code to answer with.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) (int, string, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		return 0, "", nil
	}
	if _, big := errors.AsType[*http.MaxBytesError](err); big {
		return http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("the body is larger than %d KiB", MaxBodyBytes>>10)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return http.StatusBadRequest, "unknown_field", fmt.Errorf("unknown field %s (the principal is who you authenticate as)", field)
	}
	return http.StatusBadRequest, "bad_json", err
}

func (s *Server) startRefresh(w http.ResponseWriter, r *http.Request, principal string) {
	var req RefreshRequest
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
		writeError(w, http.StatusForbidden, "refused", fmt.Sprintf("%s may not start a refresh of %s: its owner team and stewards may", principal, p.Ref()))
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = "manual"
	}
	if len(reason) > 500 {
		writeError(w, http.StatusBadRequest, "bad_request", "the reason is longer than 500 characters")
		return
	}
	run, err := s.actions.Start(r.Context(), control.Refresh{Ref: p.Ref(), TaskQueue: s.mesh.Domain(p.Metadata.Domain).Queue(),
		Principal: principal, Reason: reason, Suffix: "manual-" + s.now().UTC().Format("20060102T150405.000")})
	if err != nil {
		s.temporalError(w, "start a refresh of "+p.Ref(), err)
		return
	}
	s.log.Info("refresh started", "principal", principal, "workflow_id", run.GetID(), "reason", reason)
	writeJSON(w, http.StatusCreated, Started{WorkflowID: run.GetID(), RunID: run.GetRunID(), Principal: principal})
}

func (s *Server) requestAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req AccessRequestBody
	if !readBody(w, r, &req) {
		return
	}
	if s.product(w, req.Product) == nil {
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("duration %q: write a duration such as 720h", req.Duration))
		return
	}
	in, err := control.AccessInput(s.mesh, req.Product, principal, req.Purpose, d)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	run, err := s.actions.RequestAccess(r.Context(), in, s.now().UTC().Format("20060102T150405.000"))
	if err != nil {
		s.temporalError(w, "request access to "+req.Product, err)
		return
	}
	s.log.Info("access requested", "principal", principal, "workflow_id", run.GetID(), "product", req.Product)
	writeJSON(w, http.StatusCreated, Started{WorkflowID: run.GetID(), RunID: run.GetRunID(), Principal: principal})
}

func (s *Server) decideAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req AccessDecisionBody
	if !readBody(w, r, &req) {
		return
	}
	if req.Target == "" || req.Approve == nil {
		writeError(w, http.StatusBadRequest, "missing_field", "send target (an access request's workflow ID, or its product) and approve")
		return
	}
	st, err := s.actions.DecideAccess(r.Context(), req.Target, access.Decision{Principal: principal, Approve: *req.Approve, Comment: req.Comment})
	if s.accessRefused(w, principal, "decide on access "+req.Target, err) {
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) revokeAccess(w http.ResponseWriter, r *http.Request, principal string) {
	var req RevocationBody
	if !readBody(w, r, &req) {
		return
	}
	if !strings.HasPrefix(req.WorkflowID, "access/") {
		writeError(w, http.StatusBadRequest, "missing_field", "send workflowId, the ID of the access request that granted the access (access/<domain>/<product>/…)")
		return
	}
	st, err := s.actions.RevokeAccess(r.Context(), req.WorkflowID, access.Revocation{Principal: principal, Reason: req.Reason})
	if s.accessRefused(w, principal, "revoke "+req.WorkflowID, err) {
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// accessRefused answers an access action's error: the workflow's refusal as
// 403, a missing request as 404; it reports whether it answered.
func (s *Server) accessRefused(w http.ResponseWriter, principal, what string, err error) bool {
	if err == nil {
		return false
	}
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		s.log.Warn("access action refused", "principal", principal, "action", what, "error", appErr.Message())
		writeError(w, http.StatusForbidden, "refused", appErr.Message())
		return true
	}
	if errors.Is(err, control.ErrNoAccessPending) || isNotFound(err) {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return true
	}
	s.temporalError(w, what, err)
	return true
}

// product finds a product of the mesh, answering 404 itself when there is none.
func (s *Server) product(w http.ResponseWriter, ref string) *spec.Product {
	var p *spec.Product
	if s.mesh != nil {
		p = s.mesh.Product(ref)
	}
	if p == nil || s.mesh.Domain(p.Metadata.Domain) == nil {
		writeError(w, http.StatusNotFound, "unknown_product", fmt.Sprintf("no product %q in the mesh (write <domain>/<name>)", ref))
		return nil
	}
	return p
}

// Compile-time check: the control client is what the API acts through.
var _ Actions = (*control.Client)(nil)
