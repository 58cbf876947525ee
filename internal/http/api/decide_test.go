package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

const runID = "refresh/finance/global-kpis/x"

// waiting is the status of a run that waits for maria.rossi or omar.haddad,
// submitted by chen.jie, in which omar.haddad has voted.
func waiting() refresh.Status {
	return refresh.Status{Product: "finance/global-kpis", Stage: refresh.StageAwaitingApproval, Submitter: "chen.jie", ManifestHash: "h1",
		Approvers: []string{"maria.rossi", "omar.haddad"},
		Groups:    []refresh.ApprovalGroup{{Name: "stewards", Members: []string{"maria.rossi", "omar.haddad"}, Quorum: 2}},
		Approvals: []refresh.Approval{{Principal: "omar.haddad", Decision: refresh.Approve, ManifestHash: "h1"}}}
}

// fakeRuns answers Status with the statuses in turn (the last one again) and
// Decide with decideErr; it records the decisions it was given.
type fakeRuns struct {
	statuses  []refresh.Status
	statusErr error
	decideErr error
	got       []refresh.Decision
}

func (f *fakeRuns) Status(context.Context, string, string) (refresh.Status, error) {
	if f.statusErr != nil {
		return refresh.Status{}, f.statusErr
	}
	st := f.statuses[0]
	if len(f.statuses) > 1 {
		f.statuses = f.statuses[1:]
	}
	return st, nil
}

func (f *fakeRuns) Decide(_ context.Context, _, _ string, d refresh.Decision) (refresh.Status, error) {
	f.got = append(f.got, d)
	if f.decideErr != nil {
		return refresh.Status{}, f.decideErr
	}
	st := waiting()
	st.Approvals = append(st.Approvals, refresh.Approval{Principal: d.Principal, Decision: refresh.VerdictOf(d.Approve), Comment: d.Comment})
	return st, nil
}

func newDecisions(runs Decider) (*Decisions, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return NewDecisions(runs, reg, slog.New(slog.NewTextHandler(io.Discard, nil))), reg
}

func decision(approve bool, comment, hash string) DecisionRequest {
	return DecisionRequest{WorkflowID: runID, Approve: &approve, Comment: comment, ManifestHash: hash}
}

func TestDecideRefusals(t *testing.T) {
	notWaiting := waiting()
	notWaiting.Stage = refresh.StagePublished
	refusedByRun := temporal.NewApplicationError("refused by the validator", "")
	cases := []struct {
		name   string
		as     string
		req    DecisionRequest
		runs   *fakeRuns
		status int
		code   string
		reason string // label of meshflow_approvals_refused_total; "" for none
		msg    string
	}{
		{"nothing", "maria.rossi", DecisionRequest{}, &fakeRuns{}, 400, CodeMissingField, CodeMissingField, "missing workflowId, approve, manifestHash"},
		{"no verdict", "maria.rossi", DecisionRequest{WorkflowID: runID, ManifestHash: "h1"}, &fakeRuns{}, 400, CodeMissingField, CodeMissingField, "missing approve"},
		{"not a refresh run", "maria.rossi", DecisionRequest{WorkflowID: "access/x", Approve: new(true), ManifestHash: "h1"}, &fakeRuns{}, 404, CodeUnknownRun, CodeUnknownRun, "is not a refresh run"},
		{"an over-long run ID", "maria.rossi", DecisionRequest{WorkflowID: "refresh/" + strings.Repeat("x", 300), Approve: new(true), ManifestHash: "h1"}, &fakeRuns{}, 404, CodeUnknownRun, CodeUnknownRun, "is not a refresh run"},
		{"an over-long hash", "maria.rossi", decision(true, "", strings.Repeat("h", 201)), &fakeRuns{}, 400, CodeBadRequest, CodeBadRequest, "manifest hash"},
		{"a rejection without a comment", "maria.rossi", decision(false, " \n\t ", "h1"), &fakeRuns{}, 400, CodeCommentRequired, CodeCommentRequired, "a rejection needs a comment"},
		{"a comment over the limit", "maria.rossi", decision(true, strings.Repeat("é", MaxComment/2+1), "h1"), &fakeRuns{}, 400, CodeBadComment, CodeBadComment, "at most 2000 bytes"},
		{"a comment with an escape", "maria.rossi", decision(true, "fine\x1b[2J", "h1"), &fakeRuns{}, 400, CodeBadComment, CodeBadComment, "must be text"},
		{"an unknown run", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statusErr: serviceerror.NewNotFound("gone")}, 404, CodeUnknownRun, CodeUnknownRun, "no run " + runID},
		{"Temporal down before", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statusErr: serviceerror.NewUnavailable("down")}, 502, CodeTemporal, "", "down"},
		{"a run not waiting", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{notWaiting}}, 409, CodeNotWaiting, CodeNotWaiting, "is not waiting for approval (stage published)"},
		{"the submitter", "chen.jie", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: refusedByRun}, 403, CodeRefused, "submitter", "refused by the validator"},
		{"not an approver", "li.wei", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: refusedByRun}, 403, CodeRefused, "not_approver", "refused by the validator"},
		{"another manifest", "maria.rossi", decision(true, "", "h0"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: refusedByRun}, 409, CodeManifestMismatch, CodeManifestMismatch, "refused by the validator"},
		{"a repeat vote", "omar.haddad", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: refusedByRun}, 409, CodeRepeatVote, CodeRepeatVote, "refused by the validator"},
		{"decided meanwhile", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting(), notWaiting}, decideErr: refusedByRun}, 409, CodeNotWaiting, CodeNotWaiting, "refused by the validator"},
		{"closed meanwhile", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: serviceerror.NewNotFound("closed")}, 409, CodeNotWaiting, CodeNotWaiting, "no longer running"},
		{"no signing key", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: control.ErrNoSigner}, 500, CodeNoSigner, "", "signing key"},
		{"Temporal down during", "maria.rossi", decision(true, "", "h1"), &fakeRuns{statuses: []refresh.Status{waiting()}, decideErr: fmt.Errorf("x refused: %w", serviceerror.NewUnavailable("down"))}, 502, CodeTemporal, "", "down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reg := newDecisions(tc.runs)
			_, e := d.Decide(t.Context(), Caller{Principal: tc.as}, tc.req)
			if e == nil || e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("got %+v, want %d %s", e, tc.status, tc.code)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not say %q", e.Message, tc.msg)
			}
			if tc.reason != "" {
				if got := testutil.ToFloat64(d.refused.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("refused{reason=%q} = %v, want 1", tc.reason, got)
				}
			} else if n := testutil.CollectAndCount(d.refused); n != 0 {
				t.Errorf("a failure, not a refusal, was counted as refused (%d series)", n)
			}
			if n, err := testutil.GatherAndCount(reg, "meshflow_approvals_decided_total"); err != nil || n != 0 {
				t.Errorf("decided series %d (%v), want none", n, err)
			}
		})
	}
}

func TestDecideAccepted(t *testing.T) {
	runs := &fakeRuns{statuses: []refresh.Status{waiting()}}
	d, reg := newDecisions(runs)
	got, e := d.Decide(t.Context(), Caller{Principal: "maria.rossi"}, decision(false, "  numbers are off\n", "h1"))
	if e != nil {
		t.Fatal(e)
	}
	if got.Decision != refresh.Reject || got.Principal != "maria.rossi" || got.WorkflowID != runID || len(got.Status.Approvals) != 2 {
		t.Errorf("decided %+v", got)
	}
	if len(runs.got) != 1 || runs.got[0] != (refresh.Decision{Principal: "maria.rossi", Comment: "numbers are off", ManifestHash: "h1"}) {
		t.Errorf("delivered %+v, want one rejection by maria.rossi with the trimmed comment", runs.got)
	}
	if _, e := d.Decide(t.Context(), Caller{Principal: "li.wei"}, decision(true, "", "h1")); e != nil {
		t.Fatal(e)
	}
	want := `
# HELP meshflow_approvals_decided_total Decisions delivered through the API or the web inbox and accepted by the run, by decision (approve, reject).
# TYPE meshflow_approvals_decided_total counter
meshflow_approvals_decided_total{decision="approve"} 1
meshflow_approvals_decided_total{decision="reject"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshflow_approvals_decided_total"); err != nil {
		t.Error(err)
	}
}

func TestControlError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{serviceerror.NewNotFound("no such workflow"), 404, CodeNotFound},
		{fmt.Errorf("finance/kpis: %w", control.ErrNoAccessPending), 404, CodeNotFound},
		{fmt.Errorf("finance/kpis: %w", control.ErrNothingPending), 404, CodeNotFound},
		{fmt.Errorf("access/x refused: %w", temporal.NewApplicationError("not an approver", "")), 403, CodeRefused},
		{control.ErrNoSigner, 500, CodeNoSigner},
		{serviceerror.NewUnavailable("down"), 502, CodeTemporal},
		{errors.New("anything else"), 502, CodeTemporal},
	} {
		if e := ControlError("act", tc.err); e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, e.Status, e.Code, tc.status, tc.code)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"workflowId": "x", "approve": true}`, 0, ""},
		{`{"workflowId": "x", "principal": "maria.rossi"}`, 400, CodeUnknownField},
		{`{"workflowId": "x"} {}`, 400, CodeBadJSON},
		{`{"workflowId": `, 400, CodeBadJSON},
		{`{"comment": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, CodeTooLarge},
	} {
		var req DecisionRequest
		e := DecodeStrict(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body)), &req)
		switch {
		case tc.status == 0 && e != nil:
			t.Errorf("%.40s: %v", tc.body, e)
		case tc.status != 0 && (e == nil || e.Status != tc.status || e.Code != tc.code):
			t.Errorf("%.40s: %v, want %d %s", tc.body, e, tc.status, tc.code)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	Fail(w, http.StatusConflict, CodeNotWaiting, "run x is not waiting")
	if w.Code != 409 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" ||
		strings.TrimSpace(w.Body.String()) != `{"code":"not_waiting","error":"run x is not waiting"}` {
		t.Errorf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}
