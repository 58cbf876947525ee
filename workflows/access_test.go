package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

var accessStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// accessHarness runs AccessRequest with stand-ins for its activities that record
// what they were asked to do.
type accessHarness struct {
	testsuite.WorkflowTestSuite
	env      *testsuite.TestWorkflowEnvironment
	recorded []access.Grant
	revoked  []access.RevokeInput
	// expiring are the times NotifyAccessExpiring was called at.
	expiring []time.Time
	signer   *signing.Signer
	// req is the request run; the ResolveAccess stand-in answers with its
	// owner, approvers and queue, as if the mesh revision held them.
	req access.Request
}

// accessWorkflowID is the ID of the harness's requests.
const accessWorkflowID = "access/finance/global-kpis/omar.haddad/test"

func newAccessHarness() *accessHarness {
	signer, err := signing.NewSigner()
	if err != nil {
		panic(err)
	}
	h := &accessHarness{signer: signer}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.SetStartTime(accessStart)
	h.env.RegisterWorkflowWithOptions(AccessRequest, workflow.RegisterOptions{Name: access.WorkflowAccessRequest})
	h.env.RegisterActivityWithOptions(func(context.Context, access.RecordInput) (access.Grant, error) { return access.Grant{}, nil },
		activity.RegisterOptions{Name: access.ActivityRecordGrant})
	h.env.RegisterActivityWithOptions(func(context.Context, access.RevokeInput) (access.Grant, error) { return access.Grant{}, nil },
		activity.RegisterOptions{Name: access.ActivityRevokeGrant})
	h.env.RegisterActivityWithOptions(func(context.Context, access.ExpiringInput) error {
		h.expiring = append(h.expiring, h.env.Now())
		return nil
	}, activity.RegisterOptions{Name: access.ActivityNotifyExpiring})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in access.ResolveInput) (access.Resolved, error) {
		if _, _, ok := access.SplitRef(in.Product); !ok {
			return access.Resolved{}, temporal.NewNonRetryableApplicationError("no product "+in.Product, access.ErrBadRequest, nil)
		}
		return access.Resolved{Revision: "rev-1", Owner: h.req.Owner, Approvers: h.req.Approvers, TaskQueue: h.req.TaskQueue,
			Keys: []signing.PublicKey{h.signer.PublicKey()}}, nil
	}, activity.RegisterOptions{Name: access.ActivityResolveAccess})
	h.env.OnActivity(access.ActivityRecordGrant, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in access.RecordInput) (access.Grant, error) {
			h.recorded = append(h.recorded, in.Grant)
			return in.Grant, nil
		}).Maybe()
	h.env.OnActivity(access.ActivityRevokeGrant, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in access.RevokeInput) (access.Grant, error) {
			h.revoked = append(h.revoked, in)
			if len(h.recorded) == 0 {
				return access.Grant{}, errors.New("revoked a grant that was never recorded")
			}
			g := h.recorded[0]
			g.RevokedAt, g.RevokedBy, g.Reason = in.At, in.By, in.Reason
			return g, nil
		}).After(time.Minute).Maybe() // a minute of the workflow's clock: revocations meet a revocation in flight
	return h
}

// accessRequest asks for 30 days of finance/global-kpis for omar.haddad, who is
// himself a member of the owner team.
func accessRequest() access.Request {
	return access.Request{
		Product: "finance/global-kpis", Requester: "omar.haddad", Purpose: "board pack", Duration: 720 * time.Hour,
		Owner: "finance-data", Approvers: []string{"maria.rossi", "omar.haddad"}, TaskQueue: "meshflow-finance",
	}
}

// outcome is what became of one update.
type outcome struct {
	refused   error
	completed bool
	status    access.Status
	err       error
}

func (h *accessHarness) update(after time.Duration, name string, arg any) *outcome {
	o := &outcome{}
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, name+"@"+after.String(), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { o.refused = err },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				o.completed, o.err = true, err
				if st, ok := v.(access.Status); ok {
					o.status = st
				}
			},
		}, h.sign(arg))
	}, after)
	return o
}

// sign adds serve's proof to a decision or revocation, as meshflow serve does.
func (h *accessHarness) sign(arg any) any {
	switch v := arg.(type) {
	case access.Decision:
		_, proof := h.signer.Sign(access.DecisionStatement(accessWorkflowID, h.req.Product, v.Principal, v.Approve, v.Comment, h.req.Duration), h.env.Now())
		v.Proof = &proof
		return v
	case access.Revocation:
		_, proof := h.signer.Sign(access.RevokeStatement(accessWorkflowID, h.req.Product, v.Principal, v.Reason), h.env.Now())
		v.Proof = &proof
		return v
	}
	return arg
}

// start runs req as serve would start it: signed, on its queue.
func (h *accessHarness) start(req access.Request) {
	h.req = req
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: accessWorkflowID, TaskQueue: req.TaskQueue})
	stmt, proof := h.signer.Sign(access.RequestStatement(accessWorkflowID, req.Product, req.Requester, req.Purpose, req.Duration), h.env.Now())
	req.Signed, req.Trigger = &signing.Signed{Statement: stmt, Proof: proof}, "request"
	h.env.ExecuteWorkflow(AccessRequest, req)
}

// stageAt queries the stage at a moment of the workflow's clock.
func (h *accessHarness) stageAt(after time.Duration) *access.Stage {
	var s access.Stage
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(access.QueryStatus)
		if err != nil {
			return
		}
		var st access.Status
		if v.Get(&st) == nil {
			s = st.Stage
		}
	}, after)
	return &s
}

func (h *accessHarness) run(t *testing.T, req access.Request) access.Result {
	t.Helper()
	h.start(req)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res access.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	return res
}

func (h *accessHarness) status(t *testing.T) access.Status {
	t.Helper()
	v, err := h.env.QueryWorkflow(access.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st access.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func wantRefused(t *testing.T, what string, o *outcome, want string) {
	t.Helper()
	if o.refused == nil || !strings.Contains(o.refused.Error(), want) {
		t.Errorf("%s: got refusal %v, want one with %q", what, o.refused, want)
	}
}

func TestAccessApprovedThenRevokedAtExpiry(t *testing.T) {
	h := newAccessHarness()
	pending := h.stageAt(30 * time.Minute)
	approve := h.update(time.Hour, access.UpdateDecide, access.Decision{Principal: "maria.rossi", Approve: true, Comment: "ok for the board pack"})
	granted := h.stageAt(700 * time.Hour)
	res := h.run(t, accessRequest())

	if res.Stage != access.StageExpired || res.Reason != "expired" {
		t.Fatalf("result %+v, want the grant expired", res)
	}
	if *pending != access.StagePending || *granted != access.StageGranted {
		t.Fatalf("stages %q then %q, want pending then granted", *pending, *granted)
	}
	if approve.refused != nil || !approve.completed || approve.err != nil {
		t.Fatalf("approval: %+v", approve)
	}
	if approve.status.Stage != access.StageGranted || approve.status.Grant == nil {
		t.Fatalf("the approval answered %+v, want the recorded grant", approve.status)
	}
	if len(h.recorded) != 1 {
		t.Fatalf("recorded %d grants, want 1", len(h.recorded))
	}
	g := h.recorded[0]
	decidedAt := accessStart.Add(time.Hour)
	if g.Principal != "omar.haddad" || g.GrantedBy != "maria.rossi" || g.Product != "finance/global-kpis" || g.Purpose != "board pack" ||
		!g.GrantedAt.Equal(decidedAt) || !g.ExpiresAt.Equal(decidedAt.Add(720*time.Hour)) || !strings.HasPrefix(g.ID, "g-") || g.WorkflowID == "" {
		t.Fatalf("recorded grant %+v", g)
	}
	if res.GrantID != g.ID {
		t.Fatalf("result names grant %q, recorded %q", res.GrantID, g.ID)
	}
	if len(h.revoked) != 1 || !h.revoked[0].At.Equal(g.ExpiresAt) || h.revoked[0].By != "meshflow" || h.revoked[0].ID != g.ID {
		t.Fatalf("revocations %+v, want one at %s by meshflow", h.revoked, g.ExpiresAt)
	}
	if warn := g.ExpiresAt.Add(-72 * time.Hour); len(h.expiring) != 1 || !h.expiring[0].Equal(warn) {
		t.Errorf("expiry warnings at %v, want one at %s (a tenth of 30 days before the end)", h.expiring, warn)
	}
	if st := h.status(t); st.Stage != access.StageExpired || st.Grant == nil || st.Grant.RevokedAt.IsZero() {
		t.Fatalf("final status %+v", st)
	}
}

func TestAccessRejected(t *testing.T) {
	h := newAccessHarness()
	reject := h.update(2*time.Hour, access.UpdateDecide, access.Decision{Principal: "maria.rossi", Comment: "use the public KPIs"})
	res := h.run(t, accessRequest())
	if res.Stage != access.StageRejected || !strings.Contains(res.Reason, "use the public KPIs") {
		t.Fatalf("result %+v, want rejected with the comment", res)
	}
	if reject.status.Stage != access.StageRejected {
		t.Fatalf("the rejection answered stage %q", reject.status.Stage)
	}
	if len(h.recorded) != 0 || len(h.revoked) != 0 {
		t.Fatalf("a rejected request touched grants: %+v %+v", h.recorded, h.revoked)
	}
}

func TestAccessDecisionValidator(t *testing.T) {
	h := newAccessHarness()
	self := h.update(time.Minute, access.UpdateDecide, access.Decision{Principal: "omar.haddad", Approve: true})
	stranger := h.update(2*time.Minute, access.UpdateDecide, access.Decision{Principal: "tom.baker", Approve: true})
	nobody := h.update(3*time.Minute, access.UpdateDecide, access.Decision{Approve: true})
	earlyRevoke := h.update(4*time.Minute, access.UpdateRevoke, access.Revocation{Principal: "maria.rossi"})
	approve := h.update(5*time.Minute, access.UpdateDecide, access.Decision{Principal: "maria.rossi", Approve: true})
	again := h.update(6*time.Minute, access.UpdateDecide, access.Decision{Principal: "maria.rossi"})
	res := h.run(t, accessRequest())

	wantRefused(t, "the requester", self, "omar.haddad asked for this access and cannot decide on it")
	wantRefused(t, "a non-approver", stranger, "tom.baker may not decide on access to finance/global-kpis (approvers: maria.rossi)")
	wantRefused(t, "no principal", nobody, "names no principal")
	wantRefused(t, "a revocation before approval", earlyRevoke, "has no grant to revoke (stage access-pending)")
	wantRefused(t, "a second decision", again, "is not pending")
	if approve.refused != nil {
		t.Fatalf("the approver was refused: %v", approve.refused)
	}
	if res.Stage != access.StageExpired || len(h.recorded) != 1 || h.recorded[0].GrantedBy != "maria.rossi" {
		t.Fatalf("result %+v, grants %+v: want one grant by maria.rossi that ran out", res, h.recorded)
	}
	if st := h.status(t); st.Decision == nil || st.Decision.Principal != "maria.rossi" || !st.Decision.Approve {
		t.Fatalf("decision %+v: the second decision must not replace the first", st.Decision)
	}
}

func TestAccessRevokedEarly(t *testing.T) {
	h := newAccessHarness()
	h.update(time.Hour, access.UpdateDecide, access.Decision{Principal: "maria.rossi", Approve: true})
	stranger := h.update(2*time.Hour, access.UpdateRevoke, access.Revocation{Principal: "tom.baker"})
	revoke := h.update(5*time.Hour, access.UpdateRevoke, access.Revocation{Principal: "maria.rossi", Reason: "board pack done"})
	twice := h.update(5*time.Hour+time.Second, access.UpdateRevoke, access.Revocation{Principal: "omar.haddad"})
	res := h.run(t, accessRequest())

	wantRefused(t, "a stranger's revocation", stranger, "tom.baker may not revoke access to finance/global-kpis")
	if revoke.refused != nil || revoke.status.Stage != access.StageRevoked {
		t.Fatalf("revocation: refused %v, answered stage %q", revoke.refused, revoke.status.Stage)
	}
	wantRefused(t, "a second revocation", twice, "already being revoked by maria.rossi")
	if res.Stage != access.StageRevoked || res.Reason != "board pack done" {
		t.Fatalf("result %+v, want revoked early", res)
	}
	if len(h.revoked) != 1 || !h.revoked[0].At.Equal(accessStart.Add(5*time.Hour)) || h.revoked[0].By != "maria.rossi" {
		t.Fatalf("revocations %+v, want one by maria.rossi after 5h", h.revoked)
	}
	if len(h.expiring) != 0 {
		t.Errorf("a grant revoked early was told to be expiring at %v", h.expiring)
	}
}

func TestAccessRevokedBySignal(t *testing.T) {
	h := newAccessHarness()
	h.update(time.Hour, access.UpdateDecide, access.Decision{Principal: "maria.rossi", Approve: true})
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(access.SignalRevoke, h.sign(access.Revocation{Principal: "tom.baker"}))
	}, 2*time.Hour)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(access.SignalRevoke, h.sign(access.Revocation{Principal: "omar.haddad", Reason: "no longer needed"}))
	}, 3*time.Hour)
	res := h.run(t, accessRequest())
	if res.Stage != access.StageRevoked || len(h.revoked) != 1 || h.revoked[0].By != "omar.haddad" || !h.revoked[0].At.Equal(accessStart.Add(3*time.Hour)) {
		t.Fatalf("result %+v, revocations %+v: want revoked by the grantee after 3h", res, h.revoked)
	}
	st := h.status(t)
	if len(st.Refused) != 1 || st.Refused[0].Principal != "tom.baker" || !strings.Contains(st.Refused[0].Reason, "may not revoke") {
		t.Fatalf("refused %+v, want tom.baker's signal refused", st.Refused)
	}
}

func TestAccessExpiresUndecided(t *testing.T) {
	h := newAccessHarness()
	stillPending := h.stageAt(access.DefaultDecisionTimeout - time.Minute)
	res := h.run(t, accessRequest())
	if res.Stage != access.StageExpired || res.GrantID != "" {
		t.Fatalf("result %+v, want expired without a grant", res)
	}
	if *stillPending != access.StagePending {
		t.Fatalf("stage a minute before the deadline: %q", *stillPending)
	}
	if st := h.status(t); !st.Deadline.Equal(accessStart.Add(access.DefaultDecisionTimeout)) {
		t.Fatalf("deadline %s", st.Deadline)
	}
	if len(h.recorded) != 0 || len(h.revoked) != 0 {
		t.Fatalf("an undecided request touched grants")
	}
}

func TestAccessBadRequest(t *testing.T) {
	for name, mod := range map[string]func(*access.Request){
		"no duration":        func(r *access.Request) { r.Duration = 0 },
		"bad product":        func(r *access.Request) { r.Product = "global-kpis" },
		"only the requester": func(r *access.Request) { r.Approvers = []string{"omar.haddad"} },
	} {
		h := newAccessHarness()
		req := accessRequest()
		mod(&req)
		h.start(req)
		err := h.env.GetWorkflowError()
		if appErr, ok := errors.AsType[*temporal.ApplicationError](err); !ok || appErr.Type() != access.ErrBadRequest {
			t.Errorf("%s: got %v, want a %s error", name, err, access.ErrBadRequest)
		}
	}
}

// TestAccessDecisionBeforeTheApproversAreRead: a decision that arrives while
// the request still reads its approvers from the revision waits for them, and
// is then checked like any other: an approver's goes through, a stranger's is
// refused.
func TestAccessDecisionBeforeTheApproversAreRead(t *testing.T) {
	for _, tc := range []struct {
		who   string
		grant bool
	}{{"maria.rossi", true}, {"tom.baker", false}} {
		h := newAccessHarness()
		h.env.OnActivity(access.ActivityResolveAccess, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in access.ResolveInput) (access.Resolved, error) {
				return access.Resolved{Revision: "rev-1", Owner: h.req.Owner, Approvers: h.req.Approvers, TaskQueue: h.req.TaskQueue,
					Keys: []signing.PublicKey{h.signer.PublicKey()}}, nil
			}).After(10 * time.Minute)
		early := h.update(time.Minute, access.UpdateDecide, access.Decision{Principal: tc.who, Approve: true})
		h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 48*time.Hour)
		h.start(accessRequest())
		granted := len(h.recorded) == 1
		if early.refused != nil || granted != tc.grant || (!tc.grant && early.err == nil) {
			t.Errorf("%s deciding before the approvers were read: refused %v, handler error %v, granted %v; want granted %v",
				tc.who, early.refused, early.err, granted, tc.grant)
		}
	}
}
