package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/api/serviceerror"
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
	runs, err := s.deps.Control.Runs(ctx, "", refresh.StageAwaitingApproval, 100)
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "Temporal could not list the runs", err)
		return
	}
	d := inboxData{Principal: who}
	for _, run := range runs {
		if run.Status != control.StatusRunning {
			continue
		}
		st, err := s.deps.Control.Status(ctx, run.WorkflowID, run.RunID)
		if err != nil {
			s.log.Warn("web: status", "workflow", run.WorkflowID, "error", err)
			continue
		}
		if st.Stage != refresh.StageAwaitingApproval || !slices.Contains(st.Approvers, who) {
			d.Others++
			continue
		}
		p := pendingRun{Run: s.runRow(run), Status: st}
		for _, a := range st.Approvals {
			if a.Principal == who {
				p.Voted = true
			}
		}
		if p.Report, err = s.stagedReport(ctx, st.Product, run.RunID); err != nil {
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

// maxComment bounds a decision's comment.
const maxComment = 2000

func (s *server) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", err.Error())
		return
	}
	who, err := s.principal(r)
	if err != nil || who == "" {
		s.askSignin(w, r, err)
		return
	}
	if err := s.checkForm(r); err != nil {
		s.fail(w, r, http.StatusForbidden, "Refused", err.Error())
		return
	}
	if s.deps.Control == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No Temporal", "This server is not connected to Temporal.")
		return
	}
	id := r.PostFormValue("workflow")
	hash := r.PostFormValue("manifest")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		s.fail(w, r, http.StatusBadRequest, "Malformed form", "Choose approve or reject.")
		return
	}
	if !strings.HasPrefix(id, "refresh/") || len(id) > 300 || !validText(id) || hash == "" || len(hash) > 200 {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", "The form names no run waiting for approval.")
		return
	}
	if len(comment) > maxComment || !validText(strings.NewReplacer("\n", " ", "\r", " ").Replace(comment)) {
		s.fail(w, r, http.StatusBadRequest, "Malformed form", fmt.Sprintf("The comment must be text of at most %d bytes.", maxComment))
		return
	}
	if !approve && comment == "" {
		s.fail(w, r, http.StatusBadRequest, "Say why", "A rejection needs a comment that tells the owners what to fix.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	st, err := s.deps.Control.Decide(ctx, "", id, refresh.Decision{Principal: who, Approve: approve, Comment: comment, ManifestHash: hash})
	if err != nil {
		status := http.StatusForbidden
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			status = http.StatusNotFound
		}
		s.log.Info("web: decision refused", "principal", who, "workflow", id, "approve", approve, "error", err)
		s.fail(w, r, status, "The run refused the decision", err.Error())
		return
	}
	s.log.Info("web: decision", "principal", who, "workflow", id, "approve", approve)
	d := decidedData{Approve: approve, WorkflowID: id, Product: st.Product, Status: st, URL: s.runURL(id, "")}
	s.render(w, r, http.StatusOK, "decided", page{Title: "Decision recorded", Nav: "inbox", Principal: who, Data: d})
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
