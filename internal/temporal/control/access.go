package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// AccessInput builds the request of requester to read the product ref for
// duration: the approvers are the members of the owner team and the product's
// stewards (or its domain's), and the workflow runs on the domain's task queue.
func AccessInput(set *spec.Set, ref, requester, purpose string, duration time.Duration) (access.Request, error) {
	var req access.Request
	p := set.Product(ref)
	if p == nil {
		return req, fmt.Errorf("no product %s in the mesh", ref)
	}
	switch {
	case requester == "" || strings.ContainsAny(requester, "/ "):
		return req, fmt.Errorf("requester %q: name one principal", requester)
	case strings.TrimSpace(purpose) == "":
		return req, errors.New("say why you need the data with a purpose")
	case duration <= 0 || duration > access.MaxGrantDuration:
		return req, fmt.Errorf("duration %s: want a positive duration of at most %s, such as 720h", duration, access.MaxGrantDuration)
	}
	d := set.Domain(p.Metadata.Domain)
	if d == nil {
		return req, fmt.Errorf("%s: unknown domain %q", ref, p.Metadata.Domain)
	}
	req = access.Request{
		Product: p.Ref(), Requester: requester, Purpose: purpose, Duration: duration, Owner: p.Metadata.Owner,
		Approvers: set.People(append([]string{p.Metadata.Owner}, set.Stewards(p)...)), TaskQueue: d.Queue(),
	}
	if !slices.ContainsFunc(req.Approvers, req.CanApprove) {
		return req, fmt.Errorf("%s: nobody but %s may approve access (approvers %s)", ref, requester, strings.Join(req.Approvers, ", "))
	}
	return req, nil
}

// RequestAccess starts an AccessRequest. The workflow ID is
// access/<domain>/<product>/<requester>/<suffix>.
func (c *Client) RequestAccess(ctx context.Context, req access.Request, suffix string) (client.WorkflowRun, error) {
	domain, name, ok := access.SplitRef(req.Product)
	if !ok {
		return nil, fmt.Errorf("product %q: write <domain>/<product>", req.Product)
	}
	if c.Signer == nil {
		return nil, ErrNoSigner
	}
	id := access.WorkflowID(req.Product, req.Requester, suffix)
	stmt, proof := c.Signer.Sign(access.RequestStatement(id, req.Product, req.Requester, req.Purpose, req.Duration), time.Now())
	req.Signed, req.Trigger = &signing.Signed{Statement: stmt, Proof: proof}, refresh.TriggerRequest
	opts := client.StartWorkflowOptions{
		ID:            id,
		TaskQueue:     req.TaskQueue,
		StaticSummary: fmt.Sprintf("%s asks to read %s for %s: %s", req.Requester, req.Product, req.Duration, req.Purpose),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(access.SearchDomain).ValueSet(domain),
			temporal.NewSearchAttributeKeyKeyword(access.SearchProduct).ValueSet(name),
			temporal.NewSearchAttributeKeyKeyword(access.SearchStage).ValueSet(string(access.StagePending)),
		),
	}
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, access.WorkflowAccessRequest, req)
	if err != nil {
		return nil, fmt.Errorf("request access to %s: %w", req.Product, err)
	}
	return run, nil
}

// AccessStatus asks an access request for its status.
func (c *Client) AccessStatus(ctx context.Context, workflowID string) (access.Status, error) {
	var st access.Status
	v, err := c.Temporal.QueryWorkflow(ctx, workflowID, "", access.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", workflowID, err)
	}
	return st, v.Get(&st)
}

// AccessRun is one access request as listed by Temporal's visibility.
type AccessRun struct {
	WorkflowID string
	Product    string
	Requester  string
	Stage      access.Stage
	Status     string // Temporal's execution status: Running, Completed, Failed…
	Start      time.Time
}

// AccessRequests lists access requests of an optional product and stage, newest
// first.
func (c *Client) AccessRequests(ctx context.Context, ref string, stage access.Stage, limit int) ([]AccessRun, error) {
	q := fmt.Sprintf("WorkflowType = '%s'", access.WorkflowAccessRequest)
	if ref != "" {
		domain, name, ok := access.SplitRef(ref)
		if !ok {
			return nil, fmt.Errorf("product %q: write <domain>/<product>", ref)
		}
		q += fmt.Sprintf(" AND %s = '%s' AND %s = '%s'", access.SearchDomain, quote(domain), access.SearchProduct, quote(name))
	}
	if stage != "" {
		q += fmt.Sprintf(" AND %s = '%s'", access.SearchStage, quote(string(stage)))
	}
	resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: c.Namespace, Query: q, PageSize: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	var out []AccessRun
	for _, e := range resp.Executions {
		r := AccessRun{WorkflowID: e.Execution.WorkflowId, Status: statusName(e.Status.String()), Start: e.StartTime.AsTime()}
		// access/<domain>/<product>/<requester>/<suffix>
		if parts := strings.Split(r.WorkflowID, "/"); len(parts) >= 5 {
			r.Product, r.Requester = parts[1]+"/"+parts[2], parts[3]
		}
		if sa := e.SearchAttributes; sa != nil {
			if p, ok := sa.IndexedFields[access.SearchStage]; ok {
				var s string
				if converterGet(p, &s) == nil {
					r.Stage = access.Stage(s)
				}
			}
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// PendingAccess returns the running access requests of a product (of every
// product when ref is empty) that wait for a decision.
func (c *Client) PendingAccess(ctx context.Context, ref string) ([]AccessRun, error) {
	runs, err := c.AccessRequests(ctx, ref, access.StagePending, 100)
	if err != nil {
		return nil, err
	}
	var out []AccessRun
	for _, r := range runs {
		if r.Status == StatusRunning {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrNoAccessPending says that no access request of a product waits for a decision.
var ErrNoAccessPending = errors.New("no access request is waiting for a decision")

// DecideAccess delivers a decision to an access request, named by its workflow ID
// or by its product when exactly one request of that product is pending. It
// returns once the request is granted or rejected. The workflow refuses
// principals who may not decide; a refusal is returned as an error.
func (c *Client) DecideAccess(ctx context.Context, target string, d access.Decision) (access.Status, error) {
	var st access.Status
	id := target
	if !strings.HasPrefix(target, "access/") {
		pending, err := c.PendingAccess(ctx, target)
		if err != nil {
			return st, err
		}
		switch len(pending) {
		case 0:
			return st, fmt.Errorf("%s: %w", target, ErrNoAccessPending)
		case 1:
			id = pending[0].WorkflowID
		default:
			var ids []string
			for _, p := range pending {
				ids = append(ids, p.WorkflowID)
			}
			return st, fmt.Errorf("%s: %d access requests wait (%s); name one by its workflow ID", target, len(ids), strings.Join(ids, ", "))
		}
	}
	if c.Signer == nil {
		return st, ErrNoSigner
	}
	cur, err := c.AccessStatus(ctx, id)
	if err != nil {
		return st, err
	}
	_, proof := c.Signer.Sign(access.DecisionStatement(id, cur.Request.Product, d.Principal, d.Approve, d.Comment, cur.Request.Duration), time.Now())
	d.Proof = &proof
	return st, c.updateAccess(ctx, id, access.UpdateDecide, d, &st)
}

// RevokeAccess ends a grant before it expires, through the access request that
// granted it; it returns once the grant is marked revoked in the store.
func (c *Client) RevokeAccess(ctx context.Context, workflowID string, r access.Revocation) (access.Status, error) {
	var st access.Status
	if c.Signer == nil {
		return st, ErrNoSigner
	}
	cur, err := c.AccessStatus(ctx, workflowID)
	if err != nil {
		return st, err
	}
	_, proof := c.Signer.Sign(access.RevokeStatement(workflowID, cur.Request.Product, r.Principal, r.Reason), time.Now())
	r.Proof = &proof
	return st, c.updateAccess(ctx, workflowID, access.UpdateRevoke, r, &st)
}

func (c *Client) updateAccess(ctx context.Context, workflowID, name string, arg, result any) error {
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("%s refused: %w", workflowID, err)
	}
	if err := h.Get(ctx, result); err != nil {
		return fmt.Errorf("%s refused: %w", workflowID, err)
	}
	return nil
}
