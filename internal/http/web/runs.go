package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/temporal/control"
)

// maxRuns bounds the runs of one page.
const maxRuns = 50

type runRow struct {
	Product, WorkflowID, RunID string
	Stage                      refresh.Stage
	Status                     string
	Version                    string
	Start                      time.Time
	Duration                   time.Duration
	Running                    bool
	// Outcome is what became of the run, in words.
	Outcome string
	URL     string
}

func (s *server) runRow(r control.Run) runRow {
	row := runRow{Product: r.Product, WorkflowID: r.WorkflowID, RunID: r.RunID, Stage: r.Stage, Status: r.Status,
		Version: r.Version, Start: r.Start, URL: s.runURL(r.WorkflowID, r.RunID), Running: r.Close.IsZero()}
	end := r.Close
	if end.IsZero() {
		end = time.Now()
	}
	row.Duration = end.Sub(r.Start)
	switch {
	case row.Running && r.Stage == refresh.StageAwaitingApproval:
		row.Outcome = "waiting for approval"
	case row.Running:
		row.Outcome = "running"
	case r.Stage == refresh.StagePublished && r.Version != "":
		row.Outcome = "published v" + r.Version
	case r.Stage == refresh.StageUnchanged && r.Version != "":
		row.Outcome = "unchanged since v" + r.Version
	case r.Stage != "":
		row.Outcome = string(r.Stage)
		if r.Status != "Completed" {
			row.Outcome += " (" + strings.ToLower(r.Status) + ")"
		}
	default:
		row.Outcome = strings.ToLower(r.Status)
	}
	return row
}

type runsData struct {
	Product string
	Runs    []runRow
	Now     time.Time
}

func (s *server) runsPage(w http.ResponseWriter, r *http.Request) {
	v, err := query(r, "product")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed query", err.Error())
		return
	}
	ref := v["product"]
	if ref != "" {
		if _, err := parseRef(ref); err != nil {
			s.fail(w, r, http.StatusBadRequest, "Malformed query", err.Error())
			return
		}
	}
	if s.deps.Control == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No Temporal", "This server is not connected to Temporal, so it cannot list runs.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	runs, err := s.deps.Control.Runs(ctx, ref, "", maxRuns)
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "Temporal could not list the runs", err)
		return
	}
	d := runsData{Product: ref, Now: time.Now()}
	for _, run := range runs {
		d.Runs = append(d.Runs, s.runRow(run))
	}
	title := "Runs"
	if ref != "" {
		title = "Runs of " + ref
	}
	s.render(w, r, http.StatusOK, "runs", page{Title: title, Nav: "runs", Refresh: 10, Data: d})
}

// pendingRun is one run in a principal's inbox, with its evidence.
type pendingRun struct {
	Run    runRow
	Status refresh.Status
	// Report is the staged quality report; nil when it could not be read.
	Report     *qualityReport
	ReportNote string
	Voted      bool
}

// qualityReport is the part of a run's staged quality report (rules.Report)
// that the inbox shows.
type qualityReport struct {
	Rows, Passing, Quarantined int64
	Rules                      []reportRule
}

type reportRule struct {
	ID, Column, Kind, Severity, Status, Message string
	Checked, Failing                            int64
	FailingFraction                             float64
	Samples                                     []map[string]any
}

// SampleColumns returns the columns of the samples, in a stable order.
func (r reportRule) SampleColumns() []string {
	var cols []string
	for _, s := range r.Samples {
		for k := range s {
			if !slices.Contains(cols, k) {
				cols = append(cols, k)
			}
		}
	}
	slices.Sort(cols)
	return cols
}

// Cell formats one sample value.
func (r reportRule) Cell(sample map[string]any, col string) string {
	v, ok := sample[col]
	if !ok || v == nil {
		return "NULL"
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// stagedReport reads the quality report a run staged for review, as the inbox
// shows it.
func (s *server) stagedReport(ctx context.Context, ref, runID string) (*qualityReport, error) {
	rep, err := catalog.StagedReport(ctx, s.deps.Store, ref, runID)
	if err != nil {
		return nil, err
	}
	out := &qualityReport{Rows: rep.Rows, Passing: rep.Passing, Quarantined: rep.Quarantined}
	for _, r := range rep.Rules {
		out.Rules = append(out.Rules, reportRule{ID: r.ID, Column: r.Column, Kind: r.Kind.String(), Severity: r.Severity.String(),
			Checked: r.Checked, Failing: r.Failing, FailingFraction: r.FailingFraction, Status: string(r.Status), Message: r.Message, Samples: r.Samples})
	}
	return out, nil
}

type inboxData struct {
	Principal string
	Pending   []pendingRun
	Others    int
	// MaxComment bounds the comment of a decision (api.MaxComment).
	MaxComment int
}

func (s *server) inboxPage(w http.ResponseWriter, r *http.Request) {
	who, err := s.principal(r)
	if err != nil || who == "" {
		s.askSignin(w, r, err)
		return
	}
	if s.deps.Control == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No Temporal", "This server is not connected to Temporal, so it has no inbox.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	in, err := control.ReadInbox(ctx, s.deps.Control, "", who)
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "Temporal could not list the runs", err)
		return
	}
	for _, err := range in.Unread {
		s.log.Warn("web: status", "error", err)
	}
	d := inboxData{Principal: who, Others: in.Others, MaxComment: api.MaxComment}
	for _, run := range in.Waiting {
		p := pendingRun{Run: s.runRow(run.Run), Status: run.Status, Voted: run.Voted}
		if p.Report, err = s.stagedReport(ctx, run.Status.Product, run.Run.RunID); err != nil {
			p.ReportNote = "The full quality report could not be read: " + err.Error()
		}
		d.Pending = append(d.Pending, p)
	}
	s.render(w, r, http.StatusOK, "inbox", page{Title: "Inbox", Nav: "inbox", Principal: who, Data: d})
}

// askSignin answers a page that needs a principal with the sign-in form (401),
// which brings the browser back to the page (to the catalog after a form post).
func (s *server) askSignin(w http.ResponseWriter, r *http.Request, err error) {
	msg := "Sign in to see this page."
	if r.URL.Path == "/inbox" {
		msg = "Sign in to see the runs waiting for you."
	}
	if err != nil {
		msg = "Your sign-in is no longer valid (" + err.Error() + "). Sign in again."
	}
	next := "/"
	if r.Method == http.MethodGet {
		next = safeNext(r.URL.RequestURI())
	}
	s.signinForm(w, r, http.StatusUnauthorized, msg, next)
}

// signinForm renders the sign-in form with its CSRF token.
func (s *server) signinForm(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	d := signinData{Message: msg, Next: safeNext(next), CSRF: s.signinToken(w, r)}
	s.render(w, r, status, "signin", page{Title: "Sign in", Nav: "inbox", Data: d})
}

type decidedData struct {
	Approve    bool
	WorkflowID string
	Product    string
	Status     refresh.Status
	URL        string
}

// decide reads the inbox's form and hands it to the one decision path
// (api.Decisions), which the API uses too: the same decision gets the same
// status here and from POST /api/v1/decisions.
func (s *server) decide(w http.ResponseWriter, r *http.Request) {
	by := api.Caller{Remote: r.RemoteAddr, Via: "inbox"}
	r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", err.Error())
		return
	}
	who, err := s.principal(r)
	if err != nil || who == "" {
		s.askSignin(w, r, err)
		return
	}
	by.Principal = who
	if err := s.checkForm(r); err != nil {
		if s.deps.Decisions != nil {
			s.deps.Decisions.Refuse(by, "csrf", &api.Error{Status: http.StatusForbidden, Code: api.CodeRefused, Message: err.Error()})
		}
		s.fail(w, r, http.StatusForbidden, "Refused", err.Error())
		return
	}
	if s.deps.Decisions == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No Temporal", "This server is not connected to Temporal.")
		return
	}
	req := api.DecisionRequest{WorkflowID: r.PostFormValue("workflow"), Comment: r.PostFormValue("comment"), ManifestHash: r.PostFormValue("manifest")}
	switch refresh.Verdict(r.PostFormValue("decision")) {
	case refresh.Approve:
		req.Approve = new(true)
	case refresh.Reject:
		req.Approve = new(false)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, e := s.deps.Decisions.Decide(ctx, by, req)
	if e != nil {
		s.fail(w, r, e.Status, decisionHeading(e), e.Message)
		return
	}
	d := decidedData{Approve: res.Decision == refresh.Approve, WorkflowID: res.WorkflowID, Product: res.Status.Product, Status: res.Status,
		URL: s.runURL(res.WorkflowID, "")}
	s.render(w, r, http.StatusOK, "decided", page{Title: "Decision recorded", Nav: "inbox", Principal: who, Data: d})
}

// decisionHeading is the heading of the page of a refused decision.
func decisionHeading(e *api.Error) string {
	switch {
	case e.Code == api.CodeCommentRequired:
		return "Say why"
	case e.Status == http.StatusBadRequest:
		return "Malformed form"
	case e.Status == http.StatusNotFound:
		return "No such run"
	case e.Status >= http.StatusInternalServerError:
		return "The decision could not be delivered"
	}
	return "The run refused the decision"
}

type signinData struct {
	Message string
	Next    string
	// CSRF is the form's token, bound to the browser's pre-session cookie.
	CSRF string
}

func (s *server) signinPage(w http.ResponseWriter, r *http.Request) {
	v, err := query(r, "next")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed query", err.Error())
		return
	}
	s.signinForm(w, r, http.StatusOK, "", v["next"])
}

// signin checks the pasted token and starts a session: the cookie holds a new
// random session id, the token stays on the server.
func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", err.Error())
		return
	}
	if err := s.checkSignin(r); err != nil {
		s.log.Info("web: sign-in form refused", "error", err, "origin", r.Header.Get("Origin"), "fetch_site", r.Header.Get("Sec-Fetch-Site"))
		s.fail(w, r, http.StatusForbidden, "Refused", err.Error())
		return
	}
	if s.deps.Auth == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No sign-in", "This server has no authenticator configured.")
		return
	}
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("token")), "Bearer "))
	next := safeNext(r.PostFormValue("next"))
	if token == "" || len(token) > 8<<10 || !validText(token) {
		s.signinForm(w, r, http.StatusBadRequest, "Paste a bearer token.", next)
		return
	}
	who, err := s.authenticate(r, token)
	if err != nil {
		s.log.Info("web: sign-in refused", "error", err)
		s.signinForm(w, r, http.StatusUnauthorized, "That token was refused: "+err.Error(), next)
		return
	}
	// A new id on every sign-in: an id planted before it is worth nothing.
	if old := cookie(r, sessionCookie); old != "" {
		s.sessions.end(old)
	}
	id, err := s.sessions.create(token)
	if err != nil {
		s.failErr(w, r, http.StatusInternalServerError, "No session", err)
		return
	}
	s.setCookie(w, r, sessionCookie, id, "/", sessionTTL)
	s.setCookie(w, r, signinCookie, "", "/signin", -1)
	s.log.Info("web: signed in", "principal", who)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout ends the session on the server and deletes its cookie.
func (s *server) signout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", err.Error())
		return
	}
	if err := s.checkForm(r); err != nil {
		s.fail(w, r, http.StatusForbidden, "Refused", err.Error())
		return
	}
	s.sessions.end(cookie(r, sessionCookie))
	s.setCookie(w, r, sessionCookie, "", "/", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
