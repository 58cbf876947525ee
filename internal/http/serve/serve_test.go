package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/workflows"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

const queue = "meshflow-finance"

// startTemporal starts an in-process Temporal server and a worker running the
// real ProductRefresh workflow with stand-in activities: every run reaches the
// govern stage at once and, with approval "always", waits for its stewards.
func startTemporal(t *testing.T) *control.Client {
	t.Helper()
	srv, tc := devservertest.StartMesh(t)
	w := sdkworker.New(tc, queue, sdkworker.Options{EnableSessionWorker: true})
	workflows.Register(w)
	reg := func(name string, fn any) { w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(refresh.ActivityIngest, func(context.Context, refresh.IngestInput) (refresh.IngestResult, error) {
		return refresh.IngestResult{Inputs: []refresh.StagedInput{{Name: "fx", Format: "csv"}}}, nil
	})
	reg(refresh.ActivityTransform, func(context.Context, refresh.TransformInput) (refresh.TransformResult, error) {
		return refresh.TransformResult{Rows: 3, Candidate: refresh.ObjectRef{Key: "candidate.parquet"}}, nil
	})
	reg(refresh.ActivityValidate, func(context.Context, refresh.ValidateInput) (refresh.ValidateResult, error) {
		return refresh.ValidateResult{Quality: refresh.Quality{RowsIn: 3, RowsOut: 3}}, nil
	})
	reg(refresh.ActivityLatest, func(context.Context, refresh.LatestInput) (refresh.LatestResult, error) {
		return refresh.LatestResult{}, nil
	})
	reg(refresh.ActivityGovern, func(context.Context, refresh.GovernInput) (refresh.GovernResult, error) {
		return refresh.GovernResult{}, nil
	})
	reg(refresh.ActivityPublish, func(context.Context, refresh.PublishInput) (refresh.PublishResult, error) {
		return refresh.PublishResult{Version: "1.0.0"}, nil
	})
	reg(refresh.ActivityInputsPublished, func(context.Context, refresh.InputsPublishedInput) (refresh.InputsPublishedResult, error) {
		return refresh.InputsPublishedResult{}, nil
	})
	reg(refresh.ActivityCleanup, func(context.Context, refresh.CleanupInput) error { return nil })
	reg(refresh.ActivitySupersedeOlder, func(context.Context, refresh.SupersedeOlderInput) (refresh.SupersedeOlderResult, error) {
		return refresh.SupersedeOlderResult{}, nil
	})
	reg(refresh.ActivityVerifySupersede, func(context.Context, refresh.VerifySupersedeInput) (refresh.VerifySupersedeResult, error) {
		return refresh.VerifySupersedeResult{Reason: "the test's runs supersede nobody"}, nil
	})
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	// The mesh revision holds the KPIs and trusts the test's signing key.
	reg(refresh.ActivityResolve, func(_ context.Context, in refresh.ResolveInput) (refresh.Resolved, error) {
		return refresh.Resolved{Revision: "rev-1", Product: kpis(), Keys: []signing.PublicKey{signer.PublicKey()}, AppliedBy: "test-apply"}, nil
	})
	reg(refresh.ActivityAccessGranted, func(context.Context, refresh.AccessGrantedInput) (refresh.AccessGrantedResult, error) {
		return refresh.AccessGrantedResult{}, nil
	})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return &control.Client{Temporal: tc, Namespace: srv.Namespace(), Signer: signer}
}

// kpis is finance/global-kpis as the test's mesh revision holds it: it needs
// the approval of both maria.rossi and omar.haddad.
func kpis() refresh.Product {
	return refresh.Product{
		Domain: "finance", Name: "global-kpis", Owner: "finance-data", TaskQueue: queue,
		Inputs: []refresh.Input{{Name: "fx", URI: "file:///fx.csv", Format: "csv"}}, SQL: "SELECT 1",
		Governance: refresh.Governance{Approval: refresh.ApprovalAlways, Stewards: []string{"maria.rossi", "omar.haddad"}, Quorum: 2, Timeout: time.Hour},
	}
}

// startRun starts a refresh of finance/global-kpis submitted by chen.jie that
// needs the approval of both maria.rossi and omar.haddad, and waits until it
// waits for them.
func startRun(t *testing.T, ctl *control.Client, suffix string) (client.WorkflowRun, refresh.Status) {
	t.Helper()
	run, err := ctl.Start(t.Context(), control.Refresh{Ref: "finance/global-kpis", TaskQueue: queue, Principal: "chen.jie", Reason: "test", Suffix: suffix})
	if err != nil {
		t.Fatal(err)
	}
	var st refresh.Status
	testwait.For(t, time.Minute, "run "+run.GetID()+" to wait for approval", func() bool {
		st, err = ctl.Status(t.Context(), run.GetID(), "")
		return err == nil && st.Stage == refresh.StageAwaitingApproval
	})
	return run, st
}

// testAPI is a test client of the server.
type testAPI struct {
	t      *testing.T
	url    string
	tokens map[string]string
}

// do sends a request as a principal ("" sends no token; a value starting with
// "Bearer " or "raw:" is sent as the header) and decodes the JSON answer.
func (a *testAPI) do(method, path, as string, body io.Reader) (int, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.url+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	switch {
	case as == "":
	case strings.HasPrefix(as, "raw:"):
		req.Header.Set("Authorization", strings.TrimPrefix(as, "raw:"))
	default:
		tok, ok := a.tokens[as]
		if !ok {
			a.t.Fatalf("no token for %s", as)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		a.t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, out
}

func (a *testAPI) decide(as string, body any) (int, map[string]any) {
	a.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do("POST", "/api/v1/decisions", as, bytes.NewReader(b))
}

func newAPI(t *testing.T, runs Runs) (*testAPI, *Server, *prometheus.Registry) {
	t.Helper()
	tokens := map[string]string{}
	var principals []spec.Principal
	for _, p := range []string{"maria.rossi", "omar.haddad", "li.wei", "chen.jie"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[p] = tok
		principals = append(principals, spec.Principal{Name: p, TokenHash: hash})
	}
	authn, err := auth.NewTokens(principals)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{Runs: runs, Auth: authn, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &testAPI{t: t, url: hs.URL, tokens: tokens}, s, reg
}

func TestAPI(t *testing.T) {
	ctl := startTemporal(t)
	a, _, reg := newAPI(t, ctl)
	run, st := startRun(t, ctl, "api-test")
	id := run.GetID()
	if st.ManifestHash == "" || st.Submitter != "chen.jie" {
		t.Fatalf("run status %+v: want a manifest hash and submitter chen.jie", st)
	}
	approve := func(hash string) map[string]any {
		return map[string]any{"workflowId": id, "approve": true, "comment": "ok", "manifestHash": hash}
	}
	forged, _, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("refused decisions change nothing", func(t *testing.T) {
		cases := []struct {
			name   string
			as     string
			body   io.Reader
			status int
			code   string
			reason string // label of meshflow_approvals_refused_total
			msg    string // part of the error message
		}{
			{"no token", "", jsonBody(t, approve(st.ManifestHash)), 401, "unauthenticated", "missing_header", "no Authorization: Bearer header"},
			{"forged token", "raw:Bearer " + forged, jsonBody(t, approve(st.ManifestHash)), 401, "unauthenticated", "unknown_token", "unknown token"},
			{"malformed token", "raw:Bearer maria.rossi", jsonBody(t, approve(st.ManifestHash)), 401, "unauthenticated", "malformed_token", "malformed token"},
			{"malformed JSON", "maria.rossi", strings.NewReader(`{"workflowId": "` + id + `", "approve": tru`), 400, "bad_json", "bad_json", "read the decision"},
			{"two JSON values", "maria.rossi", strings.NewReader(`{"workflowId": "x"} {}`), 400, "bad_json", "bad_json", "more than one JSON value"},
			{"principal in the body", "li.wei", jsonBody(t, map[string]any{"workflowId": id, "approve": true, "manifestHash": st.ManifestHash, "principal": "maria.rossi"}),
				400, "unknown_field", "unknown_field", `unknown field "principal"`},
			{"missing fields", "maria.rossi", jsonBody(t, map[string]any{"workflowId": id}), 400, "missing_field", "missing_field", "missing approve, manifestHash"},
			{"oversized body", "maria.rossi", jsonBody(t, map[string]any{"workflowId": id, "approve": true, "manifestHash": st.ManifestHash, "comment": strings.Repeat("x", 70<<10)}),
				413, "too_large", "too_large", "larger than 64 KiB"},
			{"unknown run", "maria.rossi", jsonBody(t, map[string]any{"workflowId": "refresh/finance/global-kpis/nope", "approve": true, "manifestHash": st.ManifestHash}),
				404, "unknown_run", "unknown_run", "no run refresh/finance/global-kpis/nope"},
			{"not a refresh workflow", "maria.rossi", jsonBody(t, map[string]any{"workflowId": "other-workflow", "approve": true, "manifestHash": st.ManifestHash}),
				404, "unknown_run", "unknown_run", "is not a refresh run"},
			{"the submitter", "chen.jie", jsonBody(t, approve(st.ManifestHash)), 403, "refused", "submitter", "chen.jie submitted this run and cannot approve it"},
			{"another product's steward", "li.wei", jsonBody(t, approve(st.ManifestHash)), 403, "refused", "not_approver", "li.wei may not decide on finance/global-kpis"},
			{"another manifest", "maria.rossi", jsonBody(t, approve("0000")), 409, "manifest_mismatch", "manifest_mismatch", `the decision is for manifest "0000"`},
			{"a rejection without a comment", "maria.rossi", jsonBody(t, map[string]any{"workflowId": id, "approve": false, "comment": "  ", "manifestHash": st.ManifestHash}),
				400, "comment_required", "comment_required", "a rejection needs a comment"},
			{"a comment over the limit", "maria.rossi", jsonBody(t, map[string]any{"workflowId": id, "approve": true, "comment": strings.Repeat("x", api.MaxComment+1), "manifestHash": st.ManifestHash}),
				400, "bad_comment", "bad_comment", "at most 2000 bytes"},
			{"a comment with control characters", "maria.rossi", jsonBody(t, map[string]any{"workflowId": id, "approve": true, "comment": "ok\x1b[2J", "manifestHash": st.ManifestHash}),
				400, "bad_comment", "bad_comment", "must be text"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := refused(t, reg, tc.reason)
				status, out := a.do("POST", "/api/v1/decisions", tc.as, tc.body)
				if status != tc.status || out["code"] != tc.code {
					t.Fatalf("got %d %v, want %d code %s", status, out, tc.status, tc.code)
				}
				if msg, _ := out["error"].(string); !strings.Contains(msg, tc.msg) {
					t.Errorf("error %q does not say %q", msg, tc.msg)
				}
				if after := refused(t, reg, tc.reason); after != before+1 {
					t.Errorf("meshflow_approvals_refused_total{reason=%q} went from %v to %v, want +1", tc.reason, before, after)
				}
			})
		}
		now, err := ctl.Status(t.Context(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if now.Stage != refresh.StageAwaitingApproval || len(now.Approvals) != 0 || len(now.Refused) != 0 {
			t.Errorf("after refused decisions the run has stage %s, approvals %v, refused %v; want it untouched", now.Stage, now.Approvals, now.Refused)
		}
		if n, err := testutil.GatherAndCount(reg, "meshflow_approvals_decided_total"); err != nil || n != 0 {
			t.Errorf("%d decided series after refusals only, want 0", n)
		}
	})

	t.Run("reading runs", func(t *testing.T) {
		testwait.For(t, time.Minute, "the run to be listed as awaiting approval", func() bool {
			_, out := a.do("GET", "/api/v1/approvals", "maria.rossi", nil)
			list, _ := out["approvals"].([]any)
			return len(list) == 1 && list[0].(map[string]any)["workflowId"] == id
		})
		status, out := a.do("GET", "/api/v1/approvals?product=finance/global-kpis", "li.wei", nil)
		if list, _ := out["approvals"].([]any); status != 200 || len(list) != 0 {
			t.Errorf("li.wei's approvals: %d %v, want 200 and none", status, out)
		}
		status, out = a.do("GET", "/api/v1/runs/"+id, "li.wei", nil)
		if got, _ := out["status"].(map[string]any); status != 200 || got["manifestHash"] != st.ManifestHash || got["stage"] != "awaiting-approval" {
			t.Errorf("GET run: %d %v", status, out)
		}
		status, out = a.do("GET", "/api/v1/runs?product=finance/global-kpis", "li.wei", nil)
		if runs, _ := out["runs"].([]any); status != 200 || len(runs) != 1 || runs[0].(map[string]any)["workflowId"] != id {
			t.Errorf("GET runs: %d %v", status, out)
		}
		for _, tc := range []struct {
			method, path, as string
			status           int
			code             string
		}{
			{"GET", "/api/v1/runs/refresh/finance/global-kpis/nope", "li.wei", 404, "unknown_run"},
			{"GET", "/api/v1/runs?product=global-kpis", "li.wei", 400, "bad_request"},
			{"GET", "/api/v1/runs?limit=1000", "li.wei", 400, "bad_request"},
			{"GET", "/api/v1/approvals", "", 401, "unauthenticated"},
			{"GET", "/api/v1/runs/" + id, "raw:Bearer " + forged, 401, "unauthenticated"},
			{"DELETE", "/api/v1/runs/" + id, "li.wei", 405, "method_not_allowed"},
			{"GET", "/api/v1/decisions", "li.wei", 405, "method_not_allowed"},
			{"GET", "/api/v2/runs", "li.wei", 404, "not_found"},
		} {
			if status, out := a.do(tc.method, tc.path, tc.as, nil); status != tc.status || out["code"] != tc.code {
				t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, status, out, tc.status, tc.code)
			}
		}
	})

	t.Run("accepted decisions reach the run", func(t *testing.T) {
		status, out := a.decide("maria.rossi", approve(st.ManifestHash))
		if status != 200 || out["principal"] != "maria.rossi" || out["decision"] != "approve" {
			t.Fatalf("maria approves: %d %v", status, out)
		}
		// A repeat vote is refused by the validator: the run has her vote.
		before := refused(t, reg, "repeat_vote")
		if status, out := a.decide("maria.rossi", approve(st.ManifestHash)); status != 409 || out["code"] != "repeat_vote" || !strings.Contains(out["error"].(string), "already decided") {
			t.Errorf("maria again: %d %v, want 409 repeat_vote already decided", status, out)
		}
		if after := refused(t, reg, "repeat_vote"); after != before+1 {
			t.Errorf("repeat_vote refusals went from %v to %v", before, after)
		}
		status, out = a.decide("omar.haddad", map[string]any{"workflowId": id, "approve": false, "comment": "numbers are off", "manifestHash": st.ManifestHash})
		if status != 200 || out["decision"] != "reject" {
			t.Fatalf("omar rejects: %d %v", status, out)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var res refresh.Result
		if err := run.Get(ctx, &res); err != nil || res.Stage != refresh.StageRejected {
			t.Fatalf("run ended %+v, %v; want rejected", res, err)
		}
		final, err := ctl.Status(t.Context(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(final.Approvals) != 2 || final.Approvals[0].Principal != "maria.rossi" || final.Approvals[1].Principal != "omar.haddad" {
			t.Errorf("approvals %+v, want maria.rossi's then omar.haddad's", final.Approvals)
		}
		// The run is over: a late decision is a conflict.
		if status, out := a.decide("omar.haddad", approve(st.ManifestHash)); status != 409 || out["code"] != "not_waiting" {
			t.Errorf("late decision: %d %v, want 409 not_waiting", status, out)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		want := `
# HELP meshflow_approvals_decided_total Decisions delivered through the API or the web inbox and accepted by the run, by decision (approve, reject).
# TYPE meshflow_approvals_decided_total counter
meshflow_approvals_decided_total{decision="approve"} 1
meshflow_approvals_decided_total{decision="reject"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshflow_approvals_decided_total"); err != nil {
			t.Error(err)
		}
		resp, err := http.Get(a.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{`meshflow_approvals_refused_total{reason="submitter"} 1`, `meshflow_approvals_refused_total{reason="not_waiting"} 1`,
			`meshflow_api_auth_failures_total{reason="unknown_token"} 2`} {
			if !strings.Contains(string(b), line) {
				t.Errorf("/metrics lacks %s", line)
			}
		}
	})

	t.Run("client", func(t *testing.T) {
		second, _ := startRun(t, ctl, "api-client")
		c := &Client{BaseURL: a.url + "/", Token: a.tokens["omar.haddad"]}
		var pending []api.RunStatus
		testwait.For(t, time.Minute, "the second run to be listed", func() bool {
			pending, err = c.Approvals(t.Context(), "finance/global-kpis")
			return err == nil && len(pending) == 1
		})
		if pending[0].WorkflowID != second.GetID() {
			t.Fatalf("pending %s, want %s (the first run is over)", pending[0].WorkflowID, second.GetID())
		}
		got, err := c.Run(t.Context(), second.GetID())
		if err != nil || got.Status.ManifestHash != pending[0].Status.ManifestHash {
			t.Fatalf("Run: %+v, %v", got, err)
		}
		yes := true
		d, err := c.Decide(t.Context(), api.DecisionRequest{WorkflowID: second.GetID(), Approve: &yes, ManifestHash: got.Status.ManifestHash})
		if err != nil || d.Principal != "omar.haddad" || d.Decision != refresh.Approve || len(d.Status.Approvals) != 1 {
			t.Fatalf("Decide: %+v, %v", d, err)
		}
		_, err = c.Run(t.Context(), "refresh/finance/global-kpis/nope")
		if e, ok := errors.AsType[*api.Error](err); !ok || e.Status != 404 || e.Code != "unknown_run" {
			t.Errorf("unknown run: %v, want an *api.Error 404 unknown_run", err)
		}
		c.Token = forged
		_, err = c.Approvals(t.Context(), "")
		if e, ok := errors.AsType[*api.Error](err); !ok || e.Status != 401 || !strings.Contains(e.Message, "unknown token") {
			t.Errorf("forged token: %v, want an *api.Error 401 unknown token", err)
		}
	})
}

// refused reads meshflow_approvals_refused_total{reason} from reg.
func refused(t *testing.T, reg prometheus.Gatherer, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meshflow_approvals_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}
