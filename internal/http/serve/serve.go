package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Runs is what the API needs from Temporal; *control.Client has it. Decide is
// used only to build the decision path when Config.Decisions is nil.
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
	// Decisions delivers POST /api/v1/decisions; nil builds one on Runs that
	// registers its metrics on Registry. meshflow serve builds one and shares
	// it with the web inbox, so that both decide by the same rules and each
	// decision is counted once.
	Decisions *api.Decisions
	// Query bounds POST /api/v1/query (served with Store); zero fields take
	// DefaultQueryConfig's.
	Query QueryConfig
}

// Server is the http.Handler of the API.
type Server struct {
	runs      Runs
	decisions *api.Decisions
	auth      auth.Authenticator
	log       *slog.Logger
	metrics   *metrics
	mux       *http.ServeMux
	store     storage.Store
	readers   func(ref string) []string
	linkKey   []byte
	now       func() time.Time
	actions   Actions
	mesh      *spec.Set
	queryCfg  QueryConfig
	// queryTurns holds a token for each query running, up to MaxConcurrent.
	queryTurns chan struct{}
}

type metrics struct {
	authFailure *prometheus.CounterVec
	dataRefused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
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
	s := &Server{runs: cfg.Runs, decisions: cfg.Decisions, auth: cfg.Auth, log: cfg.Logger, metrics: newMetrics(cfg.Registry), mux: http.NewServeMux(),
		store: cfg.Store, readers: cfg.Readers, linkKey: cfg.LinkKey, now: cfg.Now, actions: cfg.Actions, mesh: cfg.Mesh,
		queryCfg: cfg.Query.withDefaults()}
	s.queryTurns = make(chan struct{}, s.queryCfg.MaxConcurrent)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.decisions == nil {
		s.decisions = api.NewDecisions(cfg.Runs, cfg.Registry, s.log)
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
	if s.mesh != nil && s.store != nil {
		s.deprecationRoutes()
	}
	s.mux.HandleFunc(api.RouteQuery, s.authenticated(s.query))
	s.mux.HandleFunc(api.RouteApprovals, s.authenticated(s.approvals))
	s.mux.HandleFunc(api.RouteRuns, s.authenticated(s.listRuns))
	s.mux.HandleFunc(api.RouteRun, s.authenticated(s.run))
	s.mux.HandleFunc(api.RouteDecisions, s.decide)
	s.mux.HandleFunc(api.RouteOpenAPI, api.ServeOpenAPI)
	s.mux.HandleFunc("/api/", s.notFound)
	s.mux.Handle(api.RouteMetrics, promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
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
	case p == "/api/v1/decisions" || p == "/api/v1/query" || p == "/api/v1/refreshes" || strings.HasPrefix(p, "/api/v1/access/"):
		allow = http.MethodPost
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
		api.Fail(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, p, allow))
		return
	}
	api.Fail(w, http.StatusNotFound, "not_found", fmt.Sprintf("no API endpoint %s; /api/v1/openapi.json lists them", p))
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
		api.Fail(w, http.StatusServiceUnavailable, "auth_unavailable", "cannot check the token now: "+err.Error())
		return "", reason
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="meshflow"`)
	api.Fail(w, http.StatusUnauthorized, api.CodeUnauthenticated, "not authenticated: "+err.Error())
	return "", reason
}

func (s *Server) authenticated(h func(w http.ResponseWriter, r *http.Request, principal string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p, _ := s.authenticate(w, r); p != "" {
			h(w, r, p)
		}
	}
}

// productParam reads ?product=<domain>/<name>; ok is false when it answered 400.
func productParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	ref := r.URL.Query().Get("product")
	if ref == "" {
		return "", true
	}
	domain, name, found := strings.Cut(ref, "/")
	if !found || domain == "" || name == "" || strings.Contains(name, "/") || strings.ContainsAny(ref, "'\"\\ ") {
		api.Fail(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("product %q: write <domain>/<name>", ref))
		return "", false
	}
	return ref, true
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request, principal string) {
	ref, ok := productParam(w, r)
	if !ok {
		return
	}
	in, err := control.ReadInbox(r.Context(), s.runs, ref, principal)
	if err != nil {
		s.controlError(w, "list runs awaiting approval", err)
		return
	}
	for _, err := range in.Unread {
		s.log.Warn("cannot read the status of a run awaiting approval", "error", err)
	}
	out := api.Approvals{Approvals: []api.RunStatus{}}
	for _, p := range in.Waiting {
		out.Approvals = append(out.Approvals, api.RunStatus{WorkflowID: p.Run.WorkflowID, RunID: p.Run.RunID, Status: p.Status})
	}
	api.WriteJSON(w, http.StatusOK, out)
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
			api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("limit %q: write a whole number from 1 to 100", v))
			return
		}
		limit = n
	}
	runs, err := s.runs.Runs(r.Context(), ref, "", limit)
	if err != nil {
		s.controlError(w, "list runs", err)
		return
	}
	out := api.Runs{Runs: []api.Run{}}
	for _, run := range runs {
		out.Runs = append(out.Runs, api.Run(run))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) run(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	st, e := api.ReadRun(r.Context(), s.runs, id)
	if e != nil {
		s.answerError(w, "read status of "+id, e)
		return
	}
	api.WriteJSON(w, http.StatusOK, api.RunStatus{WorkflowID: id, Status: st})
}

// controlError answers the error of a control call by the API's one mapping
// (api.ControlError).
func (s *Server) controlError(w http.ResponseWriter, action string, err error) {
	s.answerError(w, action, api.ControlError(action, err))
}

// answerError answers e, logging errors of Temporal and of the server.
func (s *Server) answerError(w http.ResponseWriter, action string, e *api.Error) {
	if e.Status >= http.StatusInternalServerError {
		s.log.Error("Temporal request failed", "action", action, "error", e.Message)
	}
	api.WriteError(w, e)
}

// decide reads POST /api/v1/decisions and hands it to the one decision path
// (api.Decisions), which the web inbox uses too.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	by := api.Caller{Remote: r.RemoteAddr, Via: "api"}
	principal, reason := s.authenticate(w, r)
	if principal == "" {
		s.decisions.Refused(reason)
		return
	}
	by.Principal = principal
	var req api.DecisionRequest
	if e := api.DecodeStrict(w, r, &req); e != nil {
		if e.Code == api.CodeUnknownField {
			e.Message += "; send workflowId, approve, comment and manifestHash"
		}
		e.Message = "read the decision: " + e.Message
		api.WriteError(w, s.decisions.Refuse(by, e.Code, e))
		return
	}
	d, e := s.decisions.Decide(r.Context(), by, req)
	if e != nil {
		api.WriteError(w, e)
		return
	}
	api.WriteJSON(w, http.StatusOK, d)
}
