package serve

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// MaxBodyBytes bounds the body of a request.
const MaxBodyBytes = 64 << 10

// Runs is what the API needs from Temporal; *control.Client has it.
type Runs interface {
	Runs(ctx context.Context, ref string, stage refresh.Stage, limit int) ([]control.Run, error)
	Status(ctx context.Context, workflowID, runID string) (refresh.Status, error)
	Decide(ctx context.Context, ref, workflowID string, d refresh.Decision) (refresh.Status, error)
}

// Registry is where the server registers its metrics and what /metrics serves.
type Registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// Config is what a Server needs.
type Config struct {
	Runs     Runs
	Auth     auth.Authenticator
	Registry Registry
	// Logger receives refused attempts and decisions; default slog.Default().
	Logger *slog.Logger
	// Store holds the published products; without it the data endpoints answer 404.
	Store storage.Store
	// Readers returns the principals who may read a product without a grant (its
	// owners and stewards).
	Readers func(ref string) []string
	// LinkKey signs download links to this server; nil picks a random key, so links
	// end with the process.
	LinkKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Actions starts refreshes and requests, decides and revokes access in the
	// caller's name; with Mesh (the products and domains it acts on). Without
	// them those endpoints are not served.
	Actions Actions
	Mesh    *spec.Set
}

// Server is the http.Handler of the API.
type Server struct {
	runs    Runs
	auth    auth.Authenticator
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	store   storage.Store
	readers func(ref string) []string
	linkKey []byte
	now     func() time.Time
	actions Actions
	mesh    *spec.Set
}

type metrics struct {
	decided     *prometheus.CounterVec
	refused     *prometheus.CounterVec
	authFailure *prometheus.CounterVec
	dataRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		decided: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_approvals_decided_total",
			Help: "Decisions delivered through the API and accepted by the run, by decision (approve, reject).",
		}, []string{"decision"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_approvals_refused_total",
			Help: "Decisions refused before or by the run, by reason.",
		}, []string{"reason"}),
		authFailure: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_api_auth_failures_total",
			Help: "Requests to the API whose caller could not be authenticated, by reason.",
		}, []string{"reason"}),
		dataRefused: f.NewCounter(prometheus.CounterOpts{
			Name: "meshflow_data_access_refused_total",
			Help: "Downloads and links refused: no grant, or a forged or expired link.",
		}),
	}
}

// New builds the API server.
func New(cfg Config) (*Server, error) {
	if cfg.Runs == nil || cfg.Auth == nil || cfg.Registry == nil {
		return nil, errors.New("build API server: Runs, Auth and Registry are required")
	}
	s := &Server{runs: cfg.Runs, auth: cfg.Auth, log: cfg.Logger, metrics: newMetrics(cfg.Registry), mux: http.NewServeMux(),
		store: cfg.Store, readers: cfg.Readers, linkKey: cfg.LinkKey, now: cfg.Now, actions: cfg.Actions, mesh: cfg.Mesh}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.linkKey == nil {
		s.linkKey = make([]byte, 32)
		if _, err := rand.Read(s.linkKey); err != nil {
			return nil, fmt.Errorf("build API server: link key: %w", err)
		}
	}
	s.dataRoutes()
	if s.actions != nil && s.mesh != nil {
		s.actionRoutes()
	}
	s.mux.HandleFunc("GET /api/v1/approvals", s.authenticated(s.approvals))
	s.mux.HandleFunc("GET /api/v1/runs", s.authenticated(s.listRuns))
	s.mux.HandleFunc("GET /api/v1/runs/{id...}", s.authenticated(s.run))
	s.mux.HandleFunc("POST /api/v1/decisions", s.decide)
	s.mux.HandleFunc("/api/", s.notFound)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// notFound answers paths under /api/ that no endpoint serves with the method used.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	allow := ""
	switch {
	case p == "/api/v1/approvals" || p == "/api/v1/runs" || strings.HasPrefix(p, "/api/v1/runs/"):
		allow = http.MethodGet
	case p == "/api/v1/decisions" || p == "/api/v1/refreshes" || strings.HasPrefix(p, "/api/v1/access/"):
		allow = http.MethodPost
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, p, allow))
		return
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no API endpoint %s; see /api/v1/approvals, /api/v1/runs and /api/v1/decisions", p))
}

// apiError is an error answered to the client.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// authenticate names the caller, or answers 401 (503 when the identity provider
// is unreachable) and returns "".
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, string) {
	p, err := s.auth.Authenticate(r)
	if err == nil {
		return p, ""
	}
	reason := auth.Reason(err)
	s.metrics.authFailure.WithLabelValues(reason).Inc()
	s.log.Warn("API request not authenticated", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason, "error", err)
	if errors.Is(err, auth.ErrKeysUnavailable) {
		writeError(w, http.StatusServiceUnavailable, "auth_unavailable", "cannot check the token now: "+err.Error())
		return "", reason
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="meshflow"`)
	writeError(w, http.StatusUnauthorized, "unauthenticated", "not authenticated: "+err.Error())
	return "", reason
}

func (s *Server) authenticated(h func(w http.ResponseWriter, r *http.Request, principal string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p, _ := s.authenticate(w, r); p != "" {
			h(w, r, p)
		}
	}
}

// runJSON is a run in a list.
type runJSON struct {
	WorkflowID string        `json:"workflowId"`
	RunID      string        `json:"runId"`
	Product    string        `json:"product"`
	Stage      refresh.Stage `json:"stage"`
	Version    string        `json:"version,omitempty"`
	Status     string        `json:"status"`
	Start      time.Time     `json:"start"`
	Close      time.Time     `json:"close,omitzero"`
}

// statusJSON is a run with its status.
type statusJSON struct {
	WorkflowID string         `json:"workflowId"`
	RunID      string         `json:"runId,omitempty"`
	Status     refresh.Status `json:"status"`
}

// productParam reads ?product=<domain>/<name>; ok is false when it answered 400.
func productParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	ref := r.URL.Query().Get("product")
	if ref == "" {
		return "", true
	}
	domain, name, found := strings.Cut(ref, "/")
	if !found || domain == "" || name == "" || strings.Contains(name, "/") || strings.ContainsAny(ref, "'\"\\ ") {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("product %q: write <domain>/<name>", ref))
		return "", false
	}
	return ref, true
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request, principal string) {
	ref, ok := productParam(w, r)
	if !ok {
		return
	}
	runs, err := s.runs.Runs(r.Context(), ref, refresh.StageAwaitingApproval, 100)
	if err != nil {
		s.temporalError(w, "list runs awaiting approval", err)
		return
	}
	out := []statusJSON{}
	for _, run := range runs {
		if run.Status != control.StatusRunning {
			continue
		}
		st, err := s.runs.Status(r.Context(), run.WorkflowID, run.RunID)
		if err != nil {
			s.log.Warn("cannot read the status of a run awaiting approval", "workflow_id", run.WorkflowID, "error", err)
			continue
		}
		if st.Stage == refresh.StageAwaitingApproval && slices.Contains(st.Approvers, principal) {
			out = append(out, statusJSON{WorkflowID: run.WorkflowID, RunID: run.RunID, Status: st})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, _ string) {
	ref, ok := productParam(w, r)
	if !ok {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q: write a whole number from 1 to 100", v))
			return
		}
		limit = n
	}
	runs, err := s.runs.Runs(r.Context(), ref, "", limit)
	if err != nil {
		s.temporalError(w, "list runs", err)
		return
	}
	out := []runJSON{}
	for _, run := range runs {
		out = append(out, runJSON(run))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	st, ok := s.status(r.Context(), w, id)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, statusJSON{WorkflowID: id, Status: st})
}

// status reads a run's status, answering 404 for runs that do not exist (and for
// workflows that are not refresh runs) and 502 for other errors.
func (s *Server) status(ctx context.Context, w http.ResponseWriter, id string) (refresh.Status, bool) {
	if !strings.HasPrefix(id, "refresh/") {
		writeError(w, http.StatusNotFound, "unknown_run", fmt.Sprintf("%q is not a refresh run; IDs look like refresh/<domain>/<product>/<suffix>", id))
		return refresh.Status{}, false
	}
	st, err := s.runs.Status(ctx, id, "")
	if err != nil {
		if isNotFound(err) {
			writeError(w, http.StatusNotFound, "unknown_run", fmt.Sprintf("no run %s", id))
			return st, false
		}
		s.temporalError(w, "read status of "+id, err)
		return st, false
	}
	return st, true
}

func (s *Server) temporalError(w http.ResponseWriter, action string, err error) {
	s.log.Error("Temporal request failed", "action", action, "error", err)
	writeError(w, http.StatusBadGateway, "temporal", fmt.Sprintf("%s: %v", action, err))
}

// decisionRequest is the body of POST /api/v1/decisions. It has no principal:
// the principal is who authenticated.
type decisionRequest struct {
	WorkflowID   string `json:"workflowId"`
	Approve      *bool  `json:"approve"`
	Comment      string `json:"comment"`
	ManifestHash string `json:"manifestHash"`
}

// decisionResponse answers an accepted decision.
type decisionResponse struct {
	WorkflowID string         `json:"workflowId"`
	Principal  string         `json:"principal"`
	Decision   string         `json:"decision"`
	Status     refresh.Status `json:"status"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	principal, reason := s.authenticate(w, r)
	if principal == "" {
		s.metrics.refused.WithLabelValues(reason).Inc()
		return
	}
	refuse := func(status int, code, reason, workflowID, msg string) {
		s.metrics.refused.WithLabelValues(reason).Inc()
		s.log.Warn("decision refused", "principal", principal, "workflow_id", workflowID, "reason", reason, "error", msg, "remote", r.RemoteAddr)
		writeError(w, status, code, msg)
	}
	req, status, code, err := readDecision(w, r)
	if err != nil {
		refuse(status, code, code, req.WorkflowID, err.Error())
		return
	}
	d := refresh.Decision{Principal: principal, Approve: *req.Approve, Comment: req.Comment, ManifestHash: req.ManifestHash}

	if !strings.HasPrefix(req.WorkflowID, "refresh/") {
		refuse(http.StatusNotFound, "unknown_run", "unknown_run", req.WorkflowID, fmt.Sprintf("%q is not a refresh run; IDs look like refresh/<domain>/<product>/<suffix>", req.WorkflowID))
		return
	}
	st, err := s.runs.Status(r.Context(), req.WorkflowID, "")
	switch {
	case isNotFound(err):
		refuse(http.StatusNotFound, "unknown_run", "unknown_run", req.WorkflowID, fmt.Sprintf("no run %s", req.WorkflowID))
		return
	case err != nil:
		s.temporalError(w, "read status of "+req.WorkflowID, err)
		return
	case st.Stage != refresh.StageAwaitingApproval:
		refuse(http.StatusConflict, "not_waiting", "not_waiting", req.WorkflowID,
			fmt.Sprintf("run %s of %s is not waiting for approval (stage %s)", req.WorkflowID, st.Product, st.Stage))
		return
	}

	after, err := s.runs.Decide(r.Context(), "", req.WorkflowID, d)
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		// The run's validator refused: the caller reads its words. The label
		// comes from the run's status now (a run decided meanwhile is a
		// conflict, not a refusal).
		if now, err := s.runs.Status(r.Context(), req.WorkflowID, ""); err == nil {
			st = now
		}
		if st.Stage != refresh.StageAwaitingApproval {
			refuse(http.StatusConflict, "not_waiting", "not_waiting", req.WorkflowID, appErr.Message())
			return
		}
		refuse(http.StatusForbidden, "refused", refusalReason(st, d), req.WorkflowID, appErr.Message())
		return
	}
	if isNotFound(err) {
		// The run closed between the status query and the update.
		refuse(http.StatusConflict, "not_waiting", "not_waiting", req.WorkflowID, fmt.Sprintf("run %s is no longer running", req.WorkflowID))
		return
	}
	if err != nil {
		s.temporalError(w, "deliver the decision to "+req.WorkflowID, err)
		return
	}
	verdict := "reject"
	if d.Approve {
		verdict = "approve"
	}
	s.metrics.decided.WithLabelValues(verdict).Inc()
	s.log.Info("decision accepted", "principal", principal, "workflow_id", req.WorkflowID, "decision", verdict, "manifest_hash", d.ManifestHash)
	writeJSON(w, http.StatusOK, decisionResponse{WorkflowID: req.WorkflowID, Principal: principal, Decision: verdict, Status: after})
}

// readDecision decodes the body strictly: at most MaxBodyBytes, no unknown
// fields, one JSON object, the required fields present.
func readDecision(w http.ResponseWriter, r *http.Request) (decisionRequest, int, string, error) {
	var req decisionRequest
	if status, code, err := decodeStrict(w, r, &req); err != nil {
		if code == "unknown_field" {
			err = fmt.Errorf("%w; send workflowId, approve, comment and manifestHash", err)
		}
		return req, status, code, fmt.Errorf("read the decision: %w", err)
	}
	var missing []string
	if req.WorkflowID == "" {
		missing = append(missing, "workflowId")
	}
	if req.Approve == nil {
		missing = append(missing, "approve")
	}
	if req.ManifestHash == "" {
		missing = append(missing, "manifestHash")
	}
	if len(missing) > 0 {
		return req, http.StatusBadRequest, "missing_field", fmt.Errorf("read the decision: missing %s (manifestHash is the hash of the manifest you reviewed, from GET /api/v1/runs/<workflowId>)", strings.Join(missing, ", "))
	}
	return req, 0, "", nil
}

func isNotFound(err error) bool {
	_, ok := errors.AsType[*serviceerror.NotFound](err)
	return ok
}

func decidedBy(st refresh.Status, principal string) bool {
	return slices.ContainsFunc(st.Approvals, func(a refresh.Approval) bool { return a.Principal == principal })
}

// refusalReason names, for metrics, why the validator refused d, from the status
// it was checked against. The validator's own message is what the caller reads.
func refusalReason(st refresh.Status, d refresh.Decision) string {
	switch {
	case d.Principal == st.Submitter:
		return "submitter"
	case d.ManifestHash != st.ManifestHash:
		return "manifest_mismatch"
	case decidedBy(st, d.Principal):
		return "repeat_vote"
	}
	for _, g := range st.Groups {
		if slices.Contains(g.Members, d.Principal) {
			return "refused" // a member of a group that has its quorum already
		}
	}
	return "not_approver"
}
