package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// wantUnauthorized checks that the run ended with ErrUnauthorized before it
// touched any data.
func wantUnauthorized(t *testing.T, h *harness, what, msg string) {
	t.Helper()
	err := h.env.GetWorkflowError()
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	if !ok || appErr.Type() != refresh.ErrUnauthorized || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: got %v, want %s with %q", what, err, refresh.ErrUnauthorized, msg)
	}
	if h.ingestCalls != 0 || h.published {
		t.Errorf("%s: the refused run ingested (%d) or published (%v)", what, h.ingestCalls, h.published)
	}
}

// TestForgedRequestsAreRefused starts runs the way an attacker with Temporal
// access would: the whole product in the input with approval never, no
// signature, a signature by another key, a signature for another product, and
// a signed request on another domain's task queue.
func TestForgedRequestsAreRefused(t *testing.T) {
	p := product("always")
	other, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   func(h *harness) refresh.RefreshInput
		want string
	}{
		{"product in the input", func(h *harness) refresh.RefreshInput {
			forged := p
			forged.Governance.Approval = "never"
			return refresh.RefreshInput{Product: forged, Submitter: "nobody"}
		}, "names no product"},
		{"unsigned", func(h *harness) refresh.RefreshInput {
			return refresh.RefreshInput{Ref: p.Ref(), Submitter: "maria.rossi"}
		}, "not signed by meshflow serve"},
		{"signed by another key", func(h *harness) refresh.RefreshInput {
			st, proof := other.Sign(refresh.RequestStatement(testWorkflowID, p.Ref(), "tom.baker", "manual", ""), h.env.Now())
			return refresh.RefreshInput{Ref: p.Ref(), Request: &signing.Signed{Statement: st, Proof: proof}}
		}, "key the mesh revision does not hold"},
		{"signature of another run", func(h *harness) refresh.RefreshInput {
			st, proof := h.signer.Sign(refresh.RequestStatement("refresh/finance/global-kpis/other", p.Ref(), "tom.baker", "manual", ""), h.env.Now())
			return refresh.RefreshInput{Ref: p.Ref(), Request: &signing.Signed{Statement: st, Proof: proof}}
		}, "signature does not match"},
		{"expired signature", func(h *harness) refresh.RefreshInput {
			st, proof := h.signer.Sign(refresh.RequestStatement(testWorkflowID, p.Ref(), "tom.baker", "manual", ""), h.env.Now().Add(-time.Hour))
			return refresh.RefreshInput{Ref: p.Ref(), Request: &signing.Signed{Statement: st, Proof: proof}}
		}, "expired"},
		{"propagation without a parent", func(h *harness) refresh.RefreshInput {
			return refresh.RefreshInput{Ref: p.Ref(), Trigger: refresh.TriggerPropagation, Submitter: "meshflow-apply"}
		}, "started by the refresh of an upstream product"},
	}
	for _, tc := range cases {
		h := newHarness(t)
		h.resolved = refresh.Resolved{Revision: "rev-1", Product: p, Keys: []signing.PublicKey{h.signer.PublicKey()}, AppliedBy: "meshflow-apply"}
		h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID, TaskQueue: p.TaskQueue})
		h.env.ExecuteWorkflow(ProductRefresh, tc.in(h))
		wantUnauthorized(t, h, tc.name, tc.want)
	}

	h := newHarness(t)
	h.resolved = refresh.Resolved{Revision: "rev-1", Product: p, Keys: []signing.PublicKey{h.signer.PublicKey()}}
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID, TaskQueue: "meshflow-sales"})
	st, proof := h.signer.Sign(refresh.RequestStatement(testWorkflowID, p.Ref(), "tom.baker", "manual", ""), h.env.Now())
	h.env.ExecuteWorkflow(ProductRefresh, refresh.RefreshInput{Ref: p.Ref(), Request: &signing.Signed{Statement: st, Proof: proof}})
	wantUnauthorized(t, h, "another domain's queue", `runs on "meshflow-finance"`)
}

// TestUnsignedAndForgedDecisionsAreRefused sends decide updates the way an
// attacker with Temporal access would, with the right manifest hash: unsigned,
// signed by another key, a proof of another comment, a proof for another
// principal. Only serve's signed decision is accepted and kept with its proof.
func TestUnsignedAndForgedDecisionsAreRefused(t *testing.T) {
	h := newHarness(t)
	other, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	var unsigned, foreign, altered, stolen, expired, accepted error
	h.decide(time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, Proof: &signing.Proof{}}, &unsigned, true)
	h.env.RegisterDelayedCallback(func() {
		hash := h.status(t).ManifestHash
		send := func(id string, d refresh.Decision, out *error) {
			h.env.UpdateWorkflow(refresh.UpdateDecide, id, callback(out), d)
		}
		_, p1 := other.Sign(refresh.DecisionStatement(testWorkflowID, "finance/global-kpis", "maria.rossi", true, "", hash), h.env.Now())
		send("foreign", refresh.Decision{Principal: "maria.rossi", Approve: true, ManifestHash: hash, Proof: &p1}, &foreign)
		_, p2 := h.signer.Sign(refresh.DecisionStatement(testWorkflowID, "finance/global-kpis", "maria.rossi", false, "no", hash), h.env.Now())
		send("altered", refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "no", ManifestHash: hash, Proof: &p2}, &altered)
		_, p3 := h.signer.Sign(refresh.DecisionStatement(testWorkflowID, "finance/global-kpis", "li.wei", true, "", hash), h.env.Now())
		send("stolen", refresh.Decision{Principal: "maria.rossi", Approve: true, ManifestHash: hash, Proof: &p3}, &stolen)
		_, p4 := h.signer.Sign(refresh.DecisionStatement(testWorkflowID, "finance/global-kpis", "maria.rossi", true, "", hash), h.env.Now().Add(-time.Hour))
		send("expired", refresh.Decision{Principal: "maria.rossi", Approve: true, ManifestHash: hash, Proof: &p4}, &expired)
	}, 2*time.Minute)
	h.decide(3*time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "signed"}, &accepted, true)
	start(h, product("always"))
	res := h.result(t)
	for name, err := range map[string]error{"unsigned": unsigned, "foreign key": foreign, "altered": altered, "another principal's proof": stolen, "expired": expired} {
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s decision: got %v, want refused", name, err)
		}
	}
	if accepted != nil || res.Stage != refresh.StagePublished {
		t.Fatalf("the signed decision: %v, result %+v", accepted, res)
	}
	if len(h.manifest.Approvals) != 1 || h.manifest.Approvals[0].Proof == nil || h.manifest.MeshRevision != "rev-1" {
		t.Fatalf("manifest approvals %+v revision %q: want the signed approval and the revision", h.manifest.Approvals, h.manifest.MeshRevision)
	}
	a := h.manifest.Approvals[0]
	if err := signing.Verify([]signing.PublicKey{h.signer.PublicKey()}, refresh.DecisionStatement(testWorkflowID, "finance/global-kpis", a.Principal, true, a.Comment, a.ManifestHash), *a.Proof, time.Time{}); err != nil {
		t.Fatalf("the manifest's approval does not verify: %v", err)
	}
}

// TestScheduledRunIsSubmittedByTheApplier: a scheduled run's submitter is the
// principal that applied the revision, whatever the input says.
func TestScheduledRunIsSubmittedByTheApplier(t *testing.T) {
	h := newHarness(t)
	p := product("never")
	h.resolved = refresh.Resolved{Revision: "rev-1", Product: p, Keys: []signing.PublicKey{h.signer.PublicKey()}, AppliedBy: "governance-ci"}
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "refresh/finance/global-kpis/scheduled-x", TaskQueue: p.TaskQueue})
	h.env.ExecuteWorkflow(ProductRefresh, refresh.RefreshInput{Ref: p.Ref(), Trigger: refresh.TriggerSchedule, Submitter: "maria.rossi"})
	if res := h.result(t); res.Stage != refresh.StagePublished {
		t.Fatalf("got %+v", res)
	}
	if h.manifest.Submitter != "governance-ci" || h.manifest.Reason != "schedule" {
		t.Fatalf("manifest submitter %q reason %q, want governance-ci, schedule", h.manifest.Submitter, h.manifest.Reason)
	}
}

// TestLegacyRunKeepsItsInput: a run started before mesh revisions (GetVersion
// gives DefaultVersion on replay) finishes with the product of its input.
func TestLegacyRunKeepsItsInput(t *testing.T) {
	h := newHarness(t)
	h.env.OnGetVersion(ChangeBaseline, workflow.DefaultVersion, BaselineOverlap).Return(workflow.DefaultVersion)
	h.env.OnGetVersion(ChangeMeshRevision, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	var outcome error
	h.decide(time.Minute, refresh.Decision{Principal: "maria.rossi", Approve: true, Proof: &signing.Proof{}}, &outcome, true)
	h.env.ExecuteWorkflow(ProductRefresh, refresh.RefreshInput{Product: product("always"), Submitter: "omar.haddad"})
	if res := h.result(t); res.Stage != refresh.StagePublished || outcome != nil {
		t.Fatalf("got %+v, %v", res, outcome)
	}
	if h.manifest.MeshRevision != "" {
		t.Fatalf("a legacy run names revision %q", h.manifest.MeshRevision)
	}
}

// TestNoGrantCheckWithoutRestrictedInputs: a run of a product whose inputs
// need no grant (its own domain's, open ones) schedules no grant check, even
// were one to report a grant missing.
func TestNoGrantCheckWithoutRestrictedInputs(t *testing.T) {
	h := newHarness(t)
	h.missing = [][]refresh.MissingGrant{{{Product: "finance/fx-rates", TaskQueue: "meshflow-finance"}}}
	start(h, product("never"))
	if res := h.result(t); res.Stage != refresh.StagePublished || len(h.missing) != 1 {
		t.Fatalf("result %+v, %d grant checks left unasked; want published without a grant check", res, len(h.missing))
	}
}

// TestAwaitingAccess: a product reading another domain's restricted product
// without a grant files an access request for its owner team and waits in
// awaiting-access; a grant lets it go on, a rejection ends it, and no grant
// before the deadline expires it.
func TestAwaitingAccess(t *testing.T) {
	missing := []refresh.MissingGrant{{Product: "sales-emea/regional-sales", TaskQueue: "meshflow-sales-emea"}}
	for _, tc := range []struct {
		name    string
		signal  *refresh.AccessDecided
		child   access.Stage // how the filed request ends, after 2h ("": it keeps running)
		want    refresh.Stage
		ingests bool
	}{
		{"granted", &refresh.AccessDecided{Product: missing[0].Product, Granted: true}, "", refresh.StagePublished, true},
		{"rejected", nil, access.StageRejected, refresh.StageRejected, false},
		// A signal saying "not granted" is anyone's word: the run goes on waiting.
		{"expired despite a forged rejection", &refresh.AccessDecided{Product: missing[0].Product, Detail: "forged"}, "", refresh.StageExpired, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for range 1000 {
				h.missing = append(h.missing, missing)
			}
			var filed []access.Request
			h.env.RegisterWorkflowWithOptions(AccessRequest, workflow.RegisterOptions{Name: access.WorkflowAccessRequest})
			end := tc.child
			after := 2 * time.Hour
			if end == "" {
				after = 1000 * time.Hour // a pending or granted request outlives the run
			}
			h.env.OnWorkflow(access.WorkflowAccessRequest, mock.Anything, mock.Anything).Return(
				func(_ workflow.Context, req access.Request) (access.Result, error) {
					filed = append(filed, req)
					return access.Result{Stage: end}, nil
				}).After(after)
			var stage refresh.Stage
			h.env.RegisterDelayedCallback(func() {
				stage = h.status(t).Stage
				if tc.signal != nil {
					if tc.signal.Granted {
						h.missing = nil // the grant is in the store now
					}
					h.env.SignalWorkflow(SignalAccessDecided, *tc.signal)
				}
			}, time.Hour)
			p := product("never")
			p.Inputs = append(p.Inputs, refresh.Input{Name: "emea", Product: missing[0].Product, Access: refresh.AccessRestricted})
			start(h, p)
			res := h.result(t)
			if stage != refresh.StageAwaitingAccess || res.Stage != tc.want || (h.ingestCalls > 0) != tc.ingests {
				t.Fatalf("stage after an hour %q, result %+v, ingested %d: want awaiting-access then %s", stage, res, h.ingestCalls, tc.want)
			}
			if len(filed) != 1 || filed[0].Requester != "finance-data" || filed[0].Product != missing[0].Product || filed[0].Trigger != refresh.TriggerPropagation {
				t.Fatalf("access requests filed: %+v", filed)
			}
		})
	}
}

// callback records an update's refusal or its handler's error in out.
func callback(out *error) *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnReject:   func(err error) { *out = err },
		OnAccept:   func() {},
		OnComplete: func(_ any, err error) { *out = err },
	}
}
