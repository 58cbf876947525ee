package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func product(approval refresh.ApprovalMode) refresh.Product {
	return refresh.Product{
		Domain: "finance", Name: "global-kpis", Owner: "finance-data", TaskQueue: "meshflow-finance",
		Inputs:     []refresh.Input{{Name: "fx", Product: "finance/fx-rates"}},
		SQL:        "SELECT 1",
		Governance: refresh.Governance{Approval: approval, Stewards: []string{"maria.rossi", "omar.haddad"}, Quorum: 1, Timeout: 24 * time.Hour},
	}
}

var contractCols = []refresh.Column{{Name: "day", Type: "date"}, {Name: "units", Type: "integer"}}

// harness registers stand-ins for every activity under its name and mocks them with
// a run that publishes version 1.1.0 over a previous 1.0.0.
type harness struct {
	testsuite.WorkflowTestSuite
	env       *testsuite.TestWorkflowEnvironment
	published bool
	// manifest is the manifest the run asked to publish.
	manifest refresh.Manifest
	// validate is what the Validate stand-in returns; ingestErr fails Ingest.
	validate    refresh.ValidateResult
	govern      refresh.GovernResult
	ingestErr   error
	ingestCalls int
	// escalations are the inputs of NotifyEscalation.
	escalations []refresh.EscalationInput
	// signer is meshflow serve's key in the test; resolved is what the
	// ResolveProduct stand-in returns (set by startWith).
	signer   *signing.Signer
	resolved refresh.Resolved
	// missing is what AccessGranted returns, call by call (then nothing).
	missing [][]refresh.MissingGrant
	// checks are the inputs of RecordCheck; superseding those of
	// SupersedeOlder; verify answers VerifySupersede (default: refused).
	checks      []refresh.CheckInput
	superseding []refresh.SupersedeOlderInput
	verify      func(refresh.VerifySupersedeInput) refresh.VerifySupersedeResult
	// latest is what LatestManifest returns: version 1.0.0 by default.
	latest refresh.Manifest
}

// testWorkflowID is the ID of the runs of the harness.
const testWorkflowID = "refresh/finance/global-kpis/test"

func newHarness(t *testing.T) *harness {
	h := &harness{validate: refresh.ValidateResult{
		Quality: refresh.Quality{RowsIn: 10, RowsOut: 9, Quarantined: 1}, ContractColumns: contractCols}}
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	h.signer = signer
	h.env = h.NewTestWorkflowEnvironment()
	h.env.SetWorkerOptions(worker.Options{EnableSessionWorker: true})
	h.env.RegisterWorkflowWithOptions(ProductRefresh, workflowOptions())
	reg := func(name string, fn any) { h.env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(refresh.ActivityIngest, func(context.Context, refresh.IngestInput) (refresh.IngestResult, error) {
		return refresh.IngestResult{}, nil
	})
	reg(refresh.ActivityTransform, func(context.Context, refresh.TransformInput) (refresh.TransformResult, error) {
		return refresh.TransformResult{}, nil
	})
	reg(refresh.ActivityValidate, func(context.Context, refresh.ValidateInput) (refresh.ValidateResult, error) {
		return refresh.ValidateResult{}, nil
	})
	reg(refresh.ActivityLatest, func(context.Context, refresh.LatestInput) (refresh.LatestResult, error) {
		return refresh.LatestResult{}, nil
	})
	reg(refresh.ActivityPublish, func(context.Context, refresh.PublishInput) (refresh.PublishResult, error) {
		return refresh.PublishResult{}, nil
	})
	reg(refresh.ActivityInputsPublished, func(context.Context, refresh.InputsPublishedInput) (refresh.InputsPublishedResult, error) {
		return refresh.InputsPublishedResult{}, nil
	})
	reg(refresh.ActivityCleanup, func(context.Context, refresh.CleanupInput) error { return nil })
	reg(refresh.ActivityNotifyEscalation, func(_ context.Context, in refresh.EscalationInput) error {
		h.escalations = append(h.escalations, in)
		return nil
	})
	reg(refresh.ActivityResolve, func(_ context.Context, in refresh.ResolveInput) (refresh.Resolved, error) {
		if in.Ref != h.resolved.Product.Ref() {
			return refresh.Resolved{}, temporal.NewNonRetryableApplicationError("no product "+in.Ref, refresh.ErrNoRevision, nil)
		}
		return h.resolved, nil
	})
	reg(refresh.ActivityAccessGranted, func(context.Context, refresh.AccessGrantedInput) (refresh.AccessGrantedResult, error) {
		if len(h.missing) == 0 {
			return refresh.AccessGrantedResult{}, nil
		}
		m := h.missing[0]
		h.missing = h.missing[1:]
		return refresh.AccessGrantedResult{Missing: m}, nil
	})
	reg(refresh.ActivityGovern, func(context.Context, refresh.GovernInput) (refresh.GovernResult, error) {
		return refresh.GovernResult{}, nil
	})
	reg(refresh.ActivityRecordCheck, func(_ context.Context, in refresh.CheckInput) error {
		h.checks = append(h.checks, in)
		return nil
	})
	reg(refresh.ActivitySupersedeOlder, func(_ context.Context, in refresh.SupersedeOlderInput) (refresh.SupersedeOlderResult, error) {
		h.superseding = append(h.superseding, in)
		return refresh.SupersedeOlderResult{}, nil
	})
	reg(refresh.ActivityVerifySupersede, func(_ context.Context, in refresh.VerifySupersedeInput) (refresh.VerifySupersedeResult, error) {
		if h.verify == nil {
			return refresh.VerifySupersedeResult{Reason: "no such run"}, nil
		}
		return h.verify(in), nil
	})
	h.env.OnActivity(refresh.ActivityGovern, mock.Anything, mock.Anything).Return(func(context.Context, refresh.GovernInput) (refresh.GovernResult, error) {
		// Govern returns the latest version it compared with, as LatestManifest
		// does for runs of before ChangeFewerSteps.
		g := h.govern
		g.Latest = &refresh.LatestResult{Found: true, Manifest: h.latest}
		return g, nil
	}).Maybe()

	h.env.OnActivity(refresh.ActivityIngest, mock.Anything, mock.Anything).Return(func(context.Context, refresh.IngestInput) (refresh.IngestResult, error) {
		h.ingestCalls++
		return refresh.IngestResult{Inputs: []refresh.StagedInput{{Name: "fx"}}}, h.ingestErr
	}).Maybe()
	h.env.OnActivity(refresh.ActivityTransform, mock.Anything, mock.Anything).Return(refresh.TransformResult{Rows: 10}, nil).Maybe()
	h.env.OnActivity(refresh.ActivityValidate, mock.Anything, mock.Anything).Return(func(context.Context, refresh.ValidateInput) (refresh.ValidateResult, error) {
		return h.validate, nil
	}).Maybe()
	h.latest = refresh.Manifest{Version: "1.0.0", ContractColumns: contractCols}
	h.env.OnActivity(refresh.ActivityLatest, mock.Anything, mock.Anything).Return(func(context.Context, refresh.LatestInput) (refresh.LatestResult, error) {
		return refresh.LatestResult{Found: true, Manifest: h.latest}, nil
	}).Maybe()
	h.env.OnActivity(refresh.ActivityPublish, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
			h.published, h.manifest = true, in.Manifest
			if in.Previous != "1.0.0" {
				return refresh.PublishResult{}, errors.New("publish saw the wrong previous version")
			}
			v := "1.1.0"
			if in.Bump == "major" {
				v = "2.0.0"
			}
			return refresh.PublishResult{Version: v}, nil
		}).Maybe()
	h.env.OnActivity(refresh.ActivityCleanup, mock.Anything, mock.Anything).Return(nil).Maybe()
	return h
}

func (h *harness) status(t *testing.T) refresh.Status {
	t.Helper()
	v, err := h.env.QueryWorkflow(refresh.QueryStatus)
	if err != nil {
		t.Fatalf("query status: %v", err)
	}
	var st refresh.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (h *harness) result(t *testing.T) refresh.Result {
	t.Helper()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res refresh.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	return res
}

// decide sends a decision from inside the workflow's clock and returns the
// update's outcome.
func (h *harness) decide(after time.Duration, d refresh.Decision, outcome *error, hashFromStatus bool) {
	h.env.RegisterDelayedCallback(func() {
		if hashFromStatus {
			v, _ := h.env.QueryWorkflow(refresh.QueryStatus)
			var st refresh.Status
			_ = v.Get(&st)
			d.ManifestHash = st.ManifestHash
		}
		h.sign(&d)
		h.env.UpdateWorkflow(refresh.UpdateDecide, d.Principal+"@"+after.String(), &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { *outcome = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) {},
		}, d)
	}, after)
}

// sign adds serve's proof to a decision, as meshflow serve does, unless the
// decision carries a proof already.
func (h *harness) sign(d *refresh.Decision) {
	if d.Proof != nil {
		return
	}
	_, proof := h.signer.Sign(refresh.DecisionStatement(testWorkflowID, h.resolved.Product.Ref(), d.Principal, d.Approve, d.Comment, d.ManifestHash), h.env.Now())
	d.Proof = &proof
}

func start(h *harness, p refresh.Product) { h.startWith(p, nil, "omar.haddad", "manual") }

// startWith runs a refresh of p as the mesh revision defines it, with the
// given consumers, requested through serve by submitter.
func (h *harness) startWith(p refresh.Product, down map[string]refresh.Product, submitter, reason string) {
	h.resolved = refresh.Resolved{Revision: "rev-1", Product: p, Downstream: down, Keys: []signing.PublicKey{h.signer.PublicKey()}, AppliedBy: "meshflow-apply"}
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID, TaskQueue: p.TaskQueue})
	stmt, proof := h.signer.Sign(refresh.RequestStatement(testWorkflowID, p.Ref(), submitter, reason, ""), h.env.Now())
	h.env.ExecuteWorkflow(ProductRefresh, refresh.RefreshInput{Ref: p.Ref(), Trigger: refresh.TriggerRequest,
		Request: &signing.Signed{Statement: stmt, Proof: proof}, Submitter: submitter, Reason: reason})
}

func TestAutoApproveWhenNoApprovalNeeded(t *testing.T) {
	h := newHarness(t)
	start(h, product("never"))
	res := h.result(t)
	if res.Stage != refresh.StagePublished || res.Version != "1.1.0" {
		t.Fatalf("got %+v, want published 1.1.0", res)
	}
	st := h.status(t)
	if st.RowsIn != 10 || st.RowsOut != 9 || st.Quarantined != 1 || st.Stage != refresh.StagePublished {
		t.Fatalf("status %+v", st)
	}
}

// TestManifestProvenanceIsVersioned: new runs publish who asked for the run and
// why; a run that started before ChangeManifestProvenance (GetVersion gives it
// DefaultVersion on replay) publishes the manifest its approvers reviewed,
// without them.
func TestManifestProvenanceIsVersioned(t *testing.T) {
	for _, tc := range []struct {
		version        workflow.Version
		submitter, why string
	}{{1, "omar.haddad", "schedule"}, {workflow.DefaultVersion, "", ""}} {
		h := newHarness(t)
		h.env.OnGetVersion(ChangeBaseline, workflow.DefaultVersion, BaselineOverlap).Return(workflow.DefaultVersion)
		h.env.OnGetVersion(ChangeManifestProvenance, workflow.DefaultVersion, 1).Return(tc.version)
		h.startWith(product("never"), nil, "omar.haddad", "schedule")
		if res := h.result(t); res.Stage != refresh.StagePublished {
			t.Fatalf("version %d: got %+v", tc.version, res)
		}
		if h.manifest.Submitter != tc.submitter || h.manifest.Reason != tc.why {
			t.Errorf("version %d: manifest names submitter %q reason %q, want %q %q", tc.version, h.manifest.Submitter, h.manifest.Reason, tc.submitter, tc.why)
		}
	}
}

func TestOnBreakingChangeWithoutBreakingChangePublishes(t *testing.T) {
	h := newHarness(t)
	start(h, product("on-breaking-change"))
	if res := h.result(t); res.Stage != refresh.StagePublished {
		t.Fatalf("got %+v", res)
	}
}

func TestApprovedByStewardPublishes(t *testing.T) {
	h := newHarness(t)
	var refused1, refused2, refused3, accepted error
	// The submitter, a non-steward and a wrong manifest hash are refused; a steward is accepted.
	h.decide(time.Minute, refresh.Decision{Principal: "omar.haddad", Approve: true}, &refused1, true)
	h.decide(2*time.Minute, refresh.Decision{Principal: "li.wei", Approve: true}, &refused2, true)
	h.decide(3*time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, ManifestHash: "other"}, &refused3, false)
	h.decide(4*time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "numbers reconcile"}, &accepted, true)
	start(h, product("always"))
	res := h.result(t)
	if res.Stage != refresh.StagePublished {
		t.Fatalf("got %+v, want published (outcomes: %v / %v / %v / %v)", res, refused1, refused2, refused3, accepted)
	}
	for i, want := range []string{"omar.haddad submitted this run and cannot approve it", "li.wei may not decide on finance/global-kpis", `the decision is for manifest "other"`} {
		if err := []error{refused1, refused2, refused3}[i]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("decision %d: got %v, want refused with %q", i+1, err, want)
		}
	}
	if accepted != nil {
		t.Fatalf("steward's approval refused: %v", accepted)
	}
	st := h.status(t)
	if len(st.Approvals) != 1 || st.Approvals[0].Principal != "maria.rossi" || st.Approvals[0].Comment != "numbers reconcile" {
		t.Fatalf("approvals %+v", st.Approvals)
	}
	if !h.published {
		t.Fatal("publish was not called")
	}
}

func TestRejectedRunPublishesNothing(t *testing.T) {
	h := newHarness(t)
	var outcome error
	h.decide(time.Hour, refresh.Decision{Principal: "maria.rossi", Approve: false, Comment: "EMEA revenue doubled overnight"}, &outcome, true)
	start(h, product("always"))
	res := h.result(t)
	if outcome != nil {
		t.Fatal(outcome)
	}
	if res.Stage != refresh.StageRejected || h.published {
		t.Fatalf("got %+v published=%v, want rejected and nothing published", res, h.published)
	}
}

func TestApprovalTimeoutExpires(t *testing.T) {
	h := newHarness(t)
	start(h, product("always"))
	res := h.result(t)
	if res.Stage != refresh.StageExpired || h.published {
		t.Fatalf("got %+v published=%v, want expired", res, h.published)
	}
}

func TestBreakingChangeNeedsApprovalAndBumpsMajor(t *testing.T) {
	h := newHarness(t)
	h.govern = refresh.GovernResult{Breaking: true, Changes: []refresh.ContractChange{{Severity: "breaking", Kind: "column-removed", Path: "schema.t.properties.units"}}}
	var outcome error
	h.decide(time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true}, &outcome, true)
	start(h, product("on-breaking-change"))
	res := h.result(t)
	if outcome != nil || res.Stage != refresh.StagePublished || res.Version != "2.0.0" {
		t.Fatalf("got %+v (decision: %v), want published 2.0.0", res, outcome)
	}
}

func TestBadInputFailsWithoutRetry(t *testing.T) {
	h := newHarness(t)
	h.ingestErr = temporal.NewNonRetryableApplicationError("orders.csv line 7: expected 8 columns, found 9", refresh.ErrBadInput, nil)
	start(h, product("never"))
	err := h.env.GetWorkflowError()
	if err == nil {
		t.Fatal("workflow succeeded, want failure")
	}
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	if !ok || appErr.Type() != refresh.ErrBadInput {
		t.Fatalf("error %v, want type %s", err, refresh.ErrBadInput)
	}
	if want := "finance/global-kpis, stage ingesting: orders.csv line 7"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if h.ingestCalls != 1 || h.published {
		t.Fatalf("ingest called %d times, published=%v", h.ingestCalls, h.published)
	}
	if st := h.status(t); st.Stage != refresh.StageFailed {
		t.Fatalf("stage %s, want failed", st.Stage)
	}
}

func TestBlockingRuleFailsTheRun(t *testing.T) {
	h := newHarness(t)
	h.validate = refresh.ValidateResult{
		Quality: refresh.Quality{Blocked: true, Rules: []refresh.RuleSummary{{ID: "units_1", Severity: "error", Status: "fail", Failing: 3}}}}
	start(h, product("never"))
	err := h.env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "units_1 (3 failing rows)") || h.published {
		t.Fatalf("error %v published=%v", err, h.published)
	}
}

func TestBreakingChangeNeedsConsumersToo(t *testing.T) {
	h := newHarness(t)
	h.govern = refresh.GovernResult{Breaking: true}
	p := product("never")
	p.Consumers = []string{"sales/dashboard"}
	down := map[string]refresh.Product{"sales/dashboard": {Domain: "sales", Name: "dashboard", Governance: refresh.Governance{Stewards: []string{"carl"}}}}
	var first, second error
	h.decide(time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true}, &first, true)
	h.env.RegisterDelayedCallback(func() {
		st := h.status(t)
		if st.Stage != refresh.StageAwaitingApproval || len(st.Groups) != 2 || !st.Groups[0].Satisfied || st.Groups[1].Satisfied {
			t.Errorf("after the stewards approved, the run must wait for the consumer: %+v", st.Groups)
		}
	}, 90*time.Second)
	h.decide(2*time.Minute, refresh.Decision{Principal: "carl", Approve: true}, &second, true)
	h.startWith(p, down, "omar.haddad", "manual")
	res := h.result(t)
	if first != nil || second != nil || res.Stage != refresh.StagePublished || res.Version != "2.0.0" {
		t.Fatalf("got %+v (%v, %v), want published 2.0.0 after both groups approved", res, first, second)
	}
}

func TestEscalationLetsTheBoardDecide(t *testing.T) {
	h := newHarness(t)
	p := product("always")
	p.Governance.EscalateTo = []string{"board"}
	var early, late error
	h.decide(time.Hour, refresh.Decision{Principal: "board", Approve: true}, &early, true)
	h.decide(13*time.Hour, refresh.Decision{Principal: "board", Approve: true, Comment: "escalated: approve"}, &late, true)
	start(h, p)
	res := h.result(t)
	if early == nil || !strings.Contains(early.Error(), "board may not decide") {
		t.Errorf("before escalation the board is not an approver: %v", early)
	}
	if late != nil || res.Stage != refresh.StagePublished {
		t.Fatalf("after escalation (12h of 24h) the board decides: %+v, %v", res, late)
	}
	if st := h.status(t); !st.Escalated {
		t.Error("status does not say the run was escalated")
	}
	if len(h.escalations) != 1 || !slices.Equal(h.escalations[0].EscalateTo, []string{"board"}) || !slices.Contains(h.escalations[0].Approvers, "board") ||
		h.escalations[0].Deadline.IsZero() {
		t.Errorf("the escalation's notification: %+v, want one naming the board, among the approvers, with the deadline", h.escalations)
	}
}

func TestDecisionBySignalIsCheckedToo(t *testing.T) {
	h := newHarness(t)
	signal := func(after time.Duration, d refresh.Decision) {
		h.env.RegisterDelayedCallback(func() {
			d.ManifestHash = h.status(t).ManifestHash
			h.sign(&d)
			h.env.SignalWorkflow(refresh.SignalDecide, d)
		}, after)
	}
	signal(time.Minute, refresh.Decision{Principal: "omar.haddad", Approve: true}) // the submitter
	signal(2*time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "via the UI"})
	start(h, product("always"))
	res := h.result(t)
	st := h.status(t)
	if res.Stage != refresh.StagePublished || len(st.Refused) != 1 || st.Refused[0].Principal != "omar.haddad" ||
		!strings.Contains(st.Refused[0].Reason, "submitted this run") || len(st.Approvals) != 1 {
		t.Fatalf("got %+v, refused %+v, approvals %+v", res, st.Refused, st.Approvals)
	}
}

// TestIdenticalOutputEndsUnchanged: a run whose data and contract are the
// latest version's publishes nothing, records the check and ends unchanged;
// other data, another contract, a product with output.unchanged: publish, or
// a run started before ChangeUnchanged publishes.
func TestIdenticalOutputEndsUnchanged(t *testing.T) {
	contract := refresh.ObjectRef{Key: "c", SHA256: "contract-sha"}
	latest := refresh.Manifest{Version: "1.0.0", ContractColumns: contractCols, Contract: &contract,
		Data: refresh.ObjectRef{Key: "d", SHA256: "data-sha"}, Quality: refresh.Quality{RowsIn: 10, RowsOut: 9, Quarantined: 1, Fingerprint: "rows-v1:x"}}
	for _, tc := range []struct {
		name         string
		version      workflow.Version
		data, fp, cs string
		want         refresh.Stage
		publish      bool
	}{
		{"same bytes", 1, "data-sha", "", "contract-sha", refresh.StageUnchanged, false},
		{"same rows, other bytes", 1, "other-sha", "rows-v1:x", "contract-sha", refresh.StageUnchanged, false},
		{"other rows", 1, "other-sha", "rows-v1:y", "contract-sha", refresh.StagePublished, false},
		{"other contract", 1, "data-sha", "rows-v1:x", "other-contract", refresh.StagePublished, false},
		{"before the change", workflow.DefaultVersion, "data-sha", "rows-v1:x", "contract-sha", refresh.StagePublished, false},
		{"publish unchanged", 1, "data-sha", "rows-v1:x", "contract-sha", refresh.StagePublished, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.OnGetVersion(ChangeBaseline, workflow.DefaultVersion, BaselineOverlap).Return(workflow.DefaultVersion)
			h.env.OnGetVersion(ChangeUnchanged, workflow.DefaultVersion, 1).Return(tc.version)
			h.latest = latest
			h.validate.Data = refresh.ObjectRef{Key: "staged", SHA256: tc.data}
			h.validate.Quality.Fingerprint = tc.fp
			h.govern.Contract = refresh.ObjectRef{Key: "staged-contract", SHA256: tc.cs}
			p := product("never")
			p.PublishUnchanged = tc.publish
			start(h, p)
			res := h.result(t)
			if res.Stage != tc.want {
				t.Fatalf("got %+v, want %s", res, tc.want)
			}
			st := h.status(t)
			if tc.want == refresh.StagePublished {
				if !h.published || len(h.checks) != 0 {
					t.Fatalf("published=%v checks=%+v, want a publication and no check", h.published, h.checks)
				}
				return
			}
			if h.published || res.Version != "1.0.0" || st.Unchanged != "1.0.0" || !strings.Contains(st.Detail, "unchanged since 1.0.0") {
				t.Fatalf("published=%v result %+v status %+v, want nothing published, unchanged since 1.0.0", h.published, res, st)
			}
			if len(h.checks) != 1 || h.checks[0].Version != "1.0.0" || h.checks[0].Ref != "finance/global-kpis" || h.checks[0].CheckedAt.IsZero() {
				t.Fatalf("checks %+v, want one of 1.0.0", h.checks)
			}
		})
	}
}

// TestSupersedeClaimIsVerified: a waiting run asks older ones to end; a
// claim the verification refuses changes nothing (the run is approved
// later), a verified one ends the run superseded, and a decision sent after
// it is refused.
func TestSupersedeClaimIsVerified(t *testing.T) {
	signal := func(h *harness, after time.Duration, claim refresh.Supersede) {
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(refresh.SignalSupersede, claim) }, after)
	}
	t.Run("forged", func(t *testing.T) {
		h := newHarness(t)
		var accepted error
		signal(h, time.Minute, refresh.Supersede{WorkflowID: "refresh/finance/global-kpis/forged", RunID: "nope"})
		h.decide(time.Hour, refresh.Decision{Principal: "maria.rossi", Approve: true}, &accepted, true)
		start(h, product("always"))
		res := h.result(t)
		st := h.status(t)
		if res.Stage != refresh.StagePublished || accepted != nil || st.SupersededBy != "" {
			t.Fatalf("got %+v (decision: %v, superseded by %q), want published", res, accepted, st.SupersededBy)
		}
		if len(st.SupersedeRefused) != 1 || !strings.Contains(st.SupersedeRefused[0], "forged: no such run") {
			t.Fatalf("refused claims %q, want the forged one", st.SupersedeRefused)
		}
		if len(h.superseding) != 1 || h.superseding[0].Self.WorkflowID != testWorkflowID || h.superseding[0].Ref != "finance/global-kpis" {
			t.Fatalf("SupersedeOlder inputs %+v, want one naming this run", h.superseding)
		}
	})
	t.Run("verified", func(t *testing.T) {
		h := newHarness(t)
		h.verify = func(in refresh.VerifySupersedeInput) refresh.VerifySupersedeResult {
			return refresh.VerifySupersedeResult{Valid: in.Claim.WorkflowID == "refresh/finance/global-kpis/newer" && in.TaskQueue == "meshflow-finance"}
		}
		signal(h, time.Minute, refresh.Supersede{WorkflowID: "refresh/finance/global-kpis/newer", RunID: "r2"})
		start(h, product("always"))
		res := h.result(t)
		st := h.status(t)
		if res.Stage != refresh.StageSuperseded || h.published || st.SupersededBy != "refresh/finance/global-kpis/newer" ||
			!strings.Contains(res.Reason, "superseded by refresh/finance/global-kpis/newer") {
			t.Fatalf("got %+v published=%v status %+v, want superseded by the newer run", res, h.published, st)
		}
	})
	t.Run("decision refused", func(t *testing.T) {
		r := &run{p: product("always"), status: refresh.Status{Stage: refresh.StageAwaitingApproval, SupersededBy: "refresh/finance/global-kpis/newer"}}
		err := r.checkDecision(nil, refresh.Decision{Principal: "maria.rossi", Approve: true})
		if err == nil || !strings.Contains(err.Error(), "superseded by refresh/finance/global-kpis/newer") {
			t.Fatalf("decision on a superseded run: %v, want refused, naming the newer run", err)
		}
	})
}

func TestFailingPolicyBlocksPublication(t *testing.T) {
	h := newHarness(t)
	h.govern = refresh.GovernResult{Policies: []refresh.PolicyResult{
		{ID: "described", Severity: "error", Message: "every product has a description", Holds: false},
		{ID: "tagged", Severity: "warning", Message: "products have tags", Holds: false},
	}}
	start(h, product("never"))
	err := h.env.GetWorkflowError()
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	if !ok || appErr.Type() != refresh.ErrPolicy || !strings.Contains(err.Error(), "policy described does not hold") || h.published {
		t.Fatalf("got %v (published %v), want a PolicyViolation naming the policy", err, h.published)
	}
}

func TestRoute(t *testing.T) {
	p := product("on-breaking-change")
	if g := Route(p, nil, true, false, true); len(g) != 0 {
		t.Errorf("green, non-breaking: %+v, want automatic", g)
	}
	if g := Route(p, nil, true, false, false); len(g) != 1 || g[0].Name != GroupStewards {
		t.Errorf("warnings: %+v, want the stewards", g)
	}
	if g := Route(p, nil, false, false, true); len(g) != 0 {
		t.Errorf("first version, green: %+v, want automatic (nothing to break)", g)
	}
	p.Governance.Approval = "never"
	if g := Route(p, nil, true, false, false); len(g) != 0 {
		t.Errorf("never, non-breaking: %+v, want automatic", g)
	}
}

// TestRouteWithPins: a breaking change that publishes major 2 asks the
// stewards of a consumer that follows the latest version and of one pinned
// to @2, not of one pinned to @1, which is listed as pinned; runs from
// before pins (Major 0) ask every consumer.
func TestRouteWithPins(t *testing.T) {
	p := product("on-breaking-change")
	ref := p.Ref()
	p.Consumers = []string{"film/latest", "film/old", "film/new"}
	consumer := func(name string, major int, steward string) refresh.Product {
		return refresh.Product{Domain: "film", Name: name, Inputs: []refresh.Input{{Name: "up", Product: ref, Major: major}},
			Governance: refresh.Governance{Stewards: []string{steward}}}
	}
	down := map[string]refresh.Product{
		"film/latest": consumer("latest", 0, "lu"), "film/old": consumer("old", 1, "olga"), "film/new": consumer("new", 2, "nina"),
	}
	major := refresh.NextMajor("1.4.0", true)
	if major != 2 {
		t.Fatalf("NextMajor(1.4.0, breaking) = %d, want 2", major)
	}
	var names []string
	for _, g := range refresh.RouteWith(p, down, refresh.RouteInput{HasPrevious: true, Breaking: true, Green: true, Major: major}) {
		names = append(names, g.Name)
	}
	if want := []string{GroupStewards, "consumer film/latest", "consumer film/new"}; !slices.Equal(names, want) {
		t.Errorf("groups %v, want %v", names, want)
	}
	if pinned := refresh.PinnedConsumers(p, down, major); len(pinned) != 1 || pinned[0] != (refresh.PinnedConsumer{Product: "film/old", Major: 1}) {
		t.Errorf("pinned consumers %+v, want film/old at 1", pinned)
	}
	if g := Route(p, down, true, true, true); len(g) != 4 {
		t.Errorf("without pins: %d groups, want the stewards and every consumer", len(g))
	}
	if refresh.NextMajor("1.4.0", false) != 1 || refresh.PinnedConsumers(p, down, 1) != nil {
		t.Error("a non-breaking change stays in major 1, and no consumer is pinned below it")
	}
}
