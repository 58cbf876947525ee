package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

var (
	accessKeyDomain  = temporal.NewSearchAttributeKeyKeyword(access.SearchDomain)
	accessKeyProduct = temporal.NewSearchAttributeKeyKeyword(access.SearchProduct)
	accessKeyStage   = temporal.NewSearchAttributeKeyKeyword(access.SearchStage)
)

// accessRun is the state of one AccessRequest execution.
type accessRun struct {
	req    access.Request
	status access.Status
	// revocation is set by the revoke update or signal once the grant is approved.
	revocation *access.Revocation
	// keys prove decisions and revocations; nil on the legacy path (requests
	// started before mesh revisions), where they are not signed.
	keys     []signing.PublicKey
	revision string
	// resolved is set once the request knows its approvers and keys: a
	// decision that arrives earlier waits for them in its handler.
	resolved bool
}

// AccessRequest asks the product's owner team or stewards to let the requester
// read a product. It waits for one decision (the decide-access update) until the
// request's decision timeout; on approval it records a grant in the store, waits
// on a durable timer until the grant expires or is revoked (the revoke update or
// signal), and then marks the grant revoked.
func AccessRequest(ctx workflow.Context, req access.Request) (access.Result, error) {
	now := workflow.Now(ctx)
	timeout := req.DecisionTimeout
	if timeout <= 0 {
		timeout = access.DefaultDecisionTimeout
	}
	// Pending from the first moment: a decision may arrive with the first
	// workflow task, before execute runs.
	a := &accessRun{req: req, status: access.Status{Request: req, Started: now, Stage: access.StagePending, Deadline: now.Add(timeout)}}
	if err := workflow.SetQueryHandler(ctx, access.QueryStatus, func() (access.Status, error) { return a.status, nil }); err != nil {
		return access.Result{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, access.UpdateDecide, a.decide,
		workflow.UpdateHandlerOptions{Validator: a.validateDecision}); err != nil {
		return access.Result{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, access.UpdateRevoke, a.revoke,
		workflow.UpdateHandlerOptions{Validator: a.validateRevocation}); err != nil {
		return access.Result{}, err
	}
	workflow.Go(ctx, a.receiveRevocations)

	res, err := a.execute(ctx, timeout)
	if err != nil {
		a.status.Error = err.Error()
		a.setStage(ctx, access.StageFailed, err.Error())
	}
	// The update handlers answer once the request reaches its next stage; let
	// them answer before the workflow ends.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return res, err
}

func (a *accessRun) execute(ctx workflow.Context, timeout time.Duration) (access.Result, error) {
	if workflow.GetVersion(ctx, ChangeMeshRevision, workflow.DefaultVersion, 1) >= 1 {
		if err := a.resolve(ctx); err != nil {
			return access.Result{}, err
		}
	}
	a.resolved = true
	if err := checkRequest(a.req); err != nil {
		return access.Result{}, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, nil)
	}
	a.setStage(ctx, access.StagePending, fmt.Sprintf("%s asks to read for %s (%s); waiting for %s until %s",
		a.req.Requester, a.req.Duration, a.req.Purpose, strings.Join(a.approvers(), " or "), a.status.Deadline.Format(time.RFC3339)))
	decided, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: timeout, TimerOptions: workflow.TimerOptions{Summary: "decision deadline"}},
		func() bool { return a.status.Decision != nil })
	if err != nil {
		return access.Result{}, err
	}
	if !decided {
		a.tellParent(ctx, false)
		a.setStage(ctx, access.StageExpired, "nobody decided before "+a.status.Deadline.Format(time.RFC3339))
		return access.Result{Stage: access.StageExpired, Reason: "no decision before the deadline"}, nil
	}
	d := *a.status.Decision
	if !d.Approve {
		a.tellParent(ctx, false)
		a.setStage(ctx, access.StageRejected, "rejected by "+d.Principal+comment(d.Comment))
		return access.Result{Stage: access.StageRejected, Reason: d.Principal + ": " + d.Comment}, nil
	}

	info := workflow.GetInfo(ctx)
	g := access.Grant{
		ID: grantID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID), Product: a.req.Product, Principal: a.req.Requester,
		Purpose: a.req.Purpose, GrantedBy: d.Principal, GrantedAt: a.status.DecidedAt, ExpiresAt: a.status.DecidedAt.Add(a.req.Duration),
		WorkflowID: info.WorkflowExecution.ID, Revision: a.revision, Proof: d.Proof, ApprovalComment: d.Comment,
	}
	a.status.Detail = "recording the grant"
	if err := workflow.ExecuteActivity(accessOptions(ctx, "Record the grant of "+a.req.Product+" to "+a.req.Requester),
		access.ActivityRecordGrant, access.RecordInput{Grant: g}).Get(ctx, &g); err != nil {
		return access.Result{}, fmt.Errorf("record the grant of %s to %s: %w", a.req.Product, a.req.Requester, err)
	}
	a.status.Grant = &g
	a.setStage(ctx, access.StageGranted, fmt.Sprintf("%s may read until %s (grant %s, approved by %s)",
		g.Principal, g.ExpiresAt.Format(time.RFC3339), g.ID, g.GrantedBy))
	a.tellParent(ctx, true)

	if err := a.warnBeforeExpiry(ctx, g); err != nil {
		return access.Result{}, err
	}
	if left := g.ExpiresAt.Sub(workflow.Now(ctx)); left > 0 && a.revocation == nil {
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: left, TimerOptions: workflow.TimerOptions{Summary: "grant expiry"}},
			func() bool { return a.revocation != nil }); err != nil {
			return access.Result{}, err
		}
	}
	stage, in := access.StageExpired, access.RevokeInput{Product: g.Product, ID: g.ID, By: "meshflow", Reason: "expired", At: workflow.Now(ctx)}
	if r := a.revocation; r != nil {
		stage, in.By, in.Reason = access.StageRevoked, r.Principal, r.Reason
		if in.Reason == "" {
			in.Reason = "revoked by " + r.Principal
		}
	}
	a.status.Detail = "revoking the grant: " + in.Reason
	if err := workflow.ExecuteActivity(accessOptions(ctx, "Revoke grant "+g.ID+" of "+g.Product+" to "+g.Principal),
		access.ActivityRevokeGrant, in).Get(ctx, &g); err != nil {
		return access.Result{}, fmt.Errorf("revoke grant %s: %w", g.ID, err)
	}
	a.status.Grant = &g
	a.setStage(ctx, stage, fmt.Sprintf("grant %s ended at %s by %s: %s", g.ID, g.RevokedAt.Format(time.RFC3339), g.RevokedBy, g.Reason))
	return access.Result{Stage: stage, GrantID: g.ID, Reason: g.Reason}, nil
}

// warnBeforeExpiry waits until access.ExpiryWarning before the grant ends and
// leaves the access-expiring notification, unless the grant is revoked first.
// A notification never fails the request: a few tries, then the wait goes on.
func (a *accessRun) warnBeforeExpiry(ctx workflow.Context, g access.Grant) error {
	if workflow.GetVersion(ctx, ChangeNotifyAccessExpiring, workflow.DefaultVersion, 1) < 1 {
		return nil
	}
	warn := g.ExpiresAt.Add(-access.ExpiryWarning(g.ExpiresAt.Sub(g.GrantedAt))).Sub(workflow.Now(ctx))
	if warn <= 0 || a.revocation != nil {
		return nil
	}
	if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: warn, TimerOptions: workflow.TimerOptions{Summary: "expiry warning"}},
		func() bool { return a.revocation != nil }); err != nil {
		return err
	}
	if a.revocation != nil {
		return nil
	}
	nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             "Tell the notifications that grant " + g.ID + " of " + g.Product + " to " + g.Principal + " ends soon",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	if err := workflow.ExecuteActivity(nctx, access.ActivityNotifyExpiring, access.ExpiringInput{Grant: g}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cannot leave the notification that the grant ends soon", "grant", g.ID, "error", err)
	}
	return nil
}

// checkRequest refuses requests that cannot end in a useful grant.
func checkRequest(r access.Request) error {
	if _, _, ok := access.SplitRef(r.Product); !ok {
		return fmt.Errorf("access request: product %q is not <domain>/<product>", r.Product)
	}
	switch {
	case r.Requester == "":
		return errors.New("access request names no requester")
	case r.Duration <= 0:
		return fmt.Errorf("access request for %s: duration %s is not positive", r.Product, r.Duration)
	case r.Duration > access.MaxGrantDuration:
		return fmt.Errorf("access request for %s: duration %s is longer than %s; ask again when it ends", r.Product, r.Duration, access.MaxGrantDuration)
	case len(eligible(r)) == 0:
		return fmt.Errorf("access request for %s: nobody but the requester may approve it", r.Product)
	}
	return nil
}

// validateDecision accepts one decision, while the request is pending, from an
// approver who is not the requester. Refused updates leave no trace in history.
func (a *accessRun) validateDecision(ctx workflow.Context, d access.Decision) error {
	if !a.resolved {
		// The approvers and keys are not read yet: the handler checks the
		// decision once they are.
		return nil
	}
	err := a.checkDecision(ctx, d, workflow.Now(ctx))
	if err != nil {
		workflow.GetLogger(ctx).Warn("refused an access decision", "principal", d.Principal, "reason", err.Error())
	}
	return err
}

// checkDecision checks a decision that arrived at the given time.
func (a *accessRun) checkDecision(ctx workflow.Context, d access.Decision, arrived time.Time) error {
	if err := a.verify(d.Proof, access.DecisionStatement(workflow.GetInfo(ctx).WorkflowExecution.ID, a.req.Product, d.Principal, d.Approve, d.Comment, a.req.Duration), arrived); err != nil {
		return fmt.Errorf("the decision of %s is refused: %w", d.Principal, err)
	}
	switch {
	case a.status.Stage != access.StagePending || a.status.Decision != nil:
		return fmt.Errorf("the access request for %s is not pending (stage %s)", a.req.Product, a.status.Stage)
	case d.Principal == "":
		return errors.New("the decision names no principal")
	case d.Principal == a.req.Requester:
		return fmt.Errorf("%s asked for this access and cannot decide on it", d.Principal)
	case !a.req.CanApprove(d.Principal):
		return fmt.Errorf("%s may not decide on access to %s (approvers: %s)", d.Principal, a.req.Product, strings.Join(a.approvers(), ", "))
	}
	return nil
}

// decide records the decision and answers once the request has moved on:
// granted (with the grant), rejected, or failed.
func (a *accessRun) decide(ctx workflow.Context, d access.Decision) (access.Status, error) {
	if !a.resolved {
		arrived := workflow.Now(ctx)
		if err := workflow.Await(ctx, func() bool { return a.resolved || a.status.Stage.Final() }); err != nil {
			return a.status, err
		}
		if err := a.checkDecision(ctx, d, arrived); err != nil {
			workflow.GetLogger(ctx).Warn("refused an access decision", "principal", d.Principal, "reason", err.Error())
			return a.status, temporal.NewApplicationError(err.Error(), access.ErrRefused)
		}
	}
	a.status.Decision, a.status.DecidedAt = &d, workflow.Now(ctx)
	if err := workflow.Await(ctx, func() bool { return a.status.Stage != access.StagePending }); err != nil {
		return a.status, err
	}
	return a.status, nil
}

// validateRevocation accepts one revocation of an approved grant, from the
// grantee or an approver, before the grant ends.
func (a *accessRun) validateRevocation(ctx workflow.Context, r access.Revocation) error {
	if err := a.verify(r.Proof, access.RevokeStatement(workflow.GetInfo(ctx).WorkflowExecution.ID, a.req.Product, r.Principal, r.Reason), workflow.Now(ctx)); err != nil {
		return fmt.Errorf("the revocation by %s is refused: %w", r.Principal, err)
	}
	switch {
	case r.Principal == "":
		return errors.New("the revocation names no principal")
	case a.status.Decision == nil || !a.status.Decision.Approve || a.status.Stage.Final():
		return fmt.Errorf("the access request for %s has no grant to revoke (stage %s)", a.req.Product, a.status.Stage)
	case a.revocation != nil:
		return fmt.Errorf("the grant is already being revoked by %s", a.revocation.Principal)
	case r.Principal != a.req.Requester && !slices.Contains(a.req.Approvers, r.Principal):
		return fmt.Errorf("%s may not revoke access to %s (the grantee or %s may)", r.Principal, a.req.Product, strings.Join(a.approvers(), ", "))
	}
	return nil
}

// revoke ends the grant's wait and answers once the grant is revoked in the store.
func (a *accessRun) revoke(ctx workflow.Context, r access.Revocation) (access.Status, error) {
	a.revocation = &r
	if err := workflow.Await(ctx, func() bool { return a.status.Stage.Final() }); err != nil {
		return a.status, err
	}
	return a.status, nil
}

// receiveRevocations applies revocations that arrive as signals, after the same
// checks as the update's validator; a refused one is recorded in the status.
func (a *accessRun) receiveRevocations(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, access.SignalRevoke)
	for {
		var r access.Revocation
		ch.Receive(ctx, &r)
		if err := a.validateRevocation(ctx, r); err != nil {
			a.status.Refused = append(a.status.Refused, access.Refusal{Principal: r.Principal, What: "revoke", At: workflow.Now(ctx), Reason: err.Error()})
			workflow.GetLogger(ctx).Warn("refused a revocation sent as a signal", "principal", r.Principal, "reason", err.Error())
			continue
		}
		a.revocation = &r
	}
}

func (a *accessRun) approvers() []string { return eligible(a.req) }

// eligible returns who may decide on a request: its approvers but the requester.
func eligible(r access.Request) []string {
	var out []string
	for _, p := range r.Approvers {
		if r.CanApprove(p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// setStage records the stage in the status, the search attributes and the UI's
// current details.
func (a *accessRun) setStage(ctx workflow.Context, s access.Stage, detail string) {
	a.status.Stage, a.status.Detail = s, detail
	domain, name, _ := access.SplitRef(a.req.Product)
	if err := workflow.UpsertTypedSearchAttributes(ctx, accessKeyDomain.ValueSet(domain), accessKeyProduct.ValueSet(name), accessKeyStage.ValueSet(string(s))); err != nil {
		workflow.GetLogger(ctx).Warn("cannot update search attributes", "error", err)
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**access to %s for %s** — %s: %s", a.req.Product, a.req.Requester, s, detail))
}

// accessOptions retry for as long as it takes: recording and revoking a grant are
// idempotent, and a revocation must happen even after a long store outage.
func accessOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{access.ErrBadRequest},
		},
	})
}

// grantID names the grant of a request after its execution (access.GrantID).
func grantID(workflowID, runID string) string { return access.GrantID(workflowID, runID) }

func comment(c string) string {
	if c == "" {
		return ""
	}
	return ": " + c
}

// resolve takes the request's owner, approvers and task queue from the mesh
// revision and proves the requester: serve's signature, or the refresh that
// needs the grant being this request's parent.
func (a *accessRun) resolve(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	revision := a.req.Revision
	if revision == "" {
		revision = refresh.RevisionCurrent
	}
	var res access.Resolved
	if err := workflow.ExecuteActivity(accessOptions(ctx, "Read the approvers of "+a.req.Product+" from mesh revision "+revision),
		access.ActivityResolveAccess, access.ResolveInput{Product: a.req.Product, Revision: revision, Requester: a.req.Requester, Purpose: a.req.Purpose, Duration: a.req.Duration}).Get(ctx, &res); err != nil {
		return err
	}
	a.req.Owner, a.req.Approvers, a.req.TaskQueue, a.req.Revision = res.Owner, res.Approvers, res.TaskQueue, res.Revision
	a.revision, a.keys = res.Revision, res.Keys
	if a.keys == nil {
		a.keys = []signing.PublicKey{}
	}
	a.status.Request = a.req
	unauthorized := func(msg string) error {
		return temporal.NewNonRetryableApplicationError("access request for "+a.req.Product+": "+msg, refresh.ErrUnauthorized, nil)
	}
	if info.TaskQueueName != res.TaskQueue {
		return unauthorized(fmt.Sprintf("started on task queue %q, but the product's domain runs on %q", info.TaskQueueName, res.TaskQueue))
	}
	switch a.req.Trigger {
	case refresh.TriggerPropagation:
		// Filed by a refresh for its owner team: only for the owner of a
		// product that reads this one, for the standard duration, under the
		// ID such a refresh gives it.
		switch {
		case info.ParentWorkflowExecution == nil:
			return unauthorized("a request on a product's behalf must be started by that product's refresh")
		case !slices.Contains(res.ConsumerOwners, a.req.Requester):
			return unauthorized(fmt.Sprintf("%s owns no product of another domain that reads %s", a.req.Requester, a.req.Product))
		case a.req.Duration != access.DefaultGrantDuration || a.req.DecisionTimeout != 0:
			return unauthorized("a request filed by a refresh asks for the standard duration and deadline")
		case !strings.HasPrefix(info.WorkflowExecution.ID, access.WorkflowID(a.req.Product, a.req.Requester, "for-")):
			return unauthorized("a request filed by a refresh runs as " + access.WorkflowID(a.req.Product, a.req.Requester, "for-…"))
		}
	default:
		if a.req.Signed == nil {
			return unauthorized("the request is not signed by meshflow serve: request access with meshflow access request")
		}
		want := access.RequestStatement(info.WorkflowExecution.ID, a.req.Product, a.req.Requester, a.req.Purpose, a.req.Duration)
		if err := signing.Verify(a.keys, want, a.req.Signed.Proof, info.WorkflowStartTime); err != nil {
			return unauthorized("the request is refused: " + err.Error())
		}
	}
	return nil
}

// verify checks serve's proof of an action on a request resolved from a
// revision; requests on the legacy path take unsigned actions.
func (a *accessRun) verify(proof *signing.Proof, st signing.Statement, at time.Time) error {
	if a.keys == nil {
		return nil
	}
	if proof == nil {
		return signing.ErrUnsigned
	}
	return signing.Verify(a.keys, st, *proof, at)
}

// SignalAccessDecided tells a refresh waiting for access that its access
// request ended: the signal carries an AccessDecided.
const SignalAccessDecided = "access-decided"

// tellParent signals the refresh that filed this request, when it did, that
// the request was granted or not.
func (a *accessRun) tellParent(ctx workflow.Context, granted bool) {
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	if parent == nil || a.req.Trigger != refresh.TriggerPropagation {
		return
	}
	msg := refresh.AccessDecided{Product: a.req.Product, Granted: granted, Detail: a.status.Detail}
	if err := workflow.SignalExternalWorkflow(ctx, parent.ID, parent.RunID, SignalAccessDecided, msg).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("the refresh that asked for access is gone", "parent", parent.ID, "error", err)
	}
}
