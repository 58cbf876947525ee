// Package control is what clients of meshflow do with Temporal: turn a product of
// the mesh into a refresh run's input, start runs, read their status, find the runs
// waiting for a steward (ReadInbox, the one inbox query), and deliver decisions.
// `meshflow serve` acts through it with its signing key; the command line reads
// runs through it.
package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Client talks to Temporal on behalf of a person or a program.
type Client struct {
	Temporal  client.Client
	Namespace string
	// Signer signs the actions the client sends (requests, decisions,
	// revocations) in the name of the principal they carry. Only meshflow
	// serve (and meshflow dev, which holds serve's key) has one: workflows
	// refuse unsigned actions, so a client without a signer can read runs but
	// not act on them.
	Signer *signing.Signer
}

// ErrNoSigner says that the client cannot sign, so its actions would be refused.
var ErrNoSigner = errors.New("this client holds no signing key: act through meshflow serve (--server)")

// Refresh asks for a refresh run.
type Refresh struct {
	// Ref is the product, "<domain>/<name>"; TaskQueue its domain's queue.
	Ref       string
	TaskQueue string
	// Revision is the mesh revision to run ("" for the current one).
	Revision string
	// Principal is the authenticated person who asks; they may not approve it.
	Principal string
	Reason    string
	// Suffix ends the workflow ID refresh/<domain>/<product>/<suffix>.
	Suffix string
	// Partitions, for a partitioned product, is a range of partitions to build
	// whatever their state ("2026-09-01..2026-09-07").
	Partitions string
}

// Start starts a refresh run, signing the request in the principal's name. The
// run reads everything else from the mesh revision.
func (c *Client) Start(ctx context.Context, rq Refresh) (client.WorkflowRun, error) {
	if c.Signer == nil {
		return nil, ErrNoSigner
	}
	domain, name, ok := strings.Cut(rq.Ref, "/")
	if !ok || rq.Principal == "" || rq.TaskQueue == "" {
		return nil, fmt.Errorf("start refresh of %q: name the product as <domain>/<product>, its task queue and the principal", rq.Ref)
	}
	id := refresh.WorkflowID(rq.Ref, rq.Suffix)
	stmt, proof := c.Signer.Sign(refresh.RequestStatement(id, rq.Ref, rq.Principal, rq.Reason, rq.Revision), time.Now())
	in := refresh.RefreshInput{Ref: rq.Ref, Revision: rq.Revision, Trigger: refresh.TriggerRequest,
		Request: &signing.Signed{Statement: stmt, Proof: proof}, Submitter: rq.Principal, Reason: rq.Reason, Partitions: rq.Partitions}
	opts := client.StartWorkflowOptions{
		ID:            id,
		TaskQueue:     rq.TaskQueue,
		StaticSummary: fmt.Sprintf("Refresh %s (%s, by %s)", rq.Ref, rq.Reason, rq.Principal),
		// A worker of the queue in this process (meshflow dev) takes the
		// first workflow task with the start's reply, without a trip through
		// matching; elsewhere the start is an ordinary one.
		EnableEagerStart: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchDomain).ValueSet(domain),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchProduct).ValueSet(name),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchStage).ValueSet(string(refresh.StageIngesting)),
		),
	}
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, refresh.WorkflowProductRefresh, in)
	if err != nil {
		return nil, fmt.Errorf("start refresh of %s: %w", rq.Ref, err)
	}
	return run, nil
}

// Status asks a run for its status.
func (c *Client) Status(ctx context.Context, workflowID, runID string) (refresh.Status, error) {
	var st refresh.Status
	v, err := c.Temporal.QueryWorkflow(ctx, workflowID, runID, refresh.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", workflowID, err)
	}
	return st, v.Get(&st)
}

// Run is one refresh run as listed by Temporal's visibility.
type Run struct {
	WorkflowID string
	RunID      string
	Product    string
	Stage      refresh.Stage
	Version    string
	Status     string // Temporal's execution status: Running, Completed, Failed…
	Start      time.Time
	Close      time.Time
}

// Runs lists refresh runs matching an optional product ("<domain>/<name>") and
// stage, newest first.
func (c *Client) Runs(ctx context.Context, ref string, stage refresh.Stage, limit int) ([]Run, error) {
	q := fmt.Sprintf("WorkflowType = '%s'", refresh.WorkflowProductRefresh)
	if ref != "" {
		domain, name, ok := strings.Cut(ref, "/")
		if !ok {
			return nil, fmt.Errorf("product %q: write <domain>/<product>", ref)
		}
		q += fmt.Sprintf(" AND %s = '%s' AND %s = '%s'", refresh.SearchDomain, quote(domain), refresh.SearchProduct, quote(name))
	}
	if stage != "" {
		q += fmt.Sprintf(" AND %s = '%s'", refresh.SearchStage, quote(string(stage)))
	}
	resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: c.Namespace, Query: q, PageSize: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []Run
	for _, e := range resp.Executions {
		r := Run{WorkflowID: e.Execution.WorkflowId, RunID: e.Execution.RunId, Status: statusName(e.Status.String()), Start: e.StartTime.AsTime()}
		if e.CloseTime != nil {
			r.Close = e.CloseTime.AsTime()
		}
		if sa := e.SearchAttributes; sa != nil {
			get := func(k string) string {
				if p, ok := sa.IndexedFields[k]; ok {
					var s string
					if err := converterGet(p, &s); err == nil {
						return s
					}
				}
				return ""
			}
			r.Product = get(refresh.SearchDomain) + "/" + get(refresh.SearchProduct)
			r.Stage = refresh.Stage(get(refresh.SearchStage))
			r.Version = get(refresh.SearchVersion)
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

func quote(s string) string { return strings.ReplaceAll(s, "'", "") }

// StatusRunning is the execution status of a run that has not closed.
const StatusRunning = "Running"

func statusName(s string) string {
	s = strings.TrimPrefix(s, "WORKFLOW_EXECUTION_STATUS_")
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

// ErrNothingPending says that no run of a product waits for approval.
var ErrNothingPending = errors.New("no run is waiting for approval")

// Pending returns the runs of a product that wait for approval, whoever their
// approvers are; ReadInbox returns those of one principal.
func (c *Client) Pending(ctx context.Context, ref string) ([]Run, error) {
	return AwaitingApproval(ctx, c, ref, 20)
}

// Decide delivers a decision on the run of a product that waits for approval (or
// on the given workflow ID). The decision is for the manifest the run reviews at the
// moment of the call. The validator in the workflow refuses principals who may not
// decide; a refusal is returned as an error and leaves no trace in the run.
func (c *Client) Decide(ctx context.Context, ref, workflowID string, d refresh.Decision) (refresh.Status, error) {
	var st refresh.Status
	if workflowID == "" {
		pending, err := c.Pending(ctx, ref)
		if err != nil {
			return st, err
		}
		switch len(pending) {
		case 0:
			return st, fmt.Errorf("%s: %w", ref, ErrNothingPending)
		case 1:
			workflowID = pending[0].WorkflowID
		default:
			var ids []string
			for _, p := range pending {
				ids = append(ids, p.WorkflowID)
			}
			return st, fmt.Errorf("%s: %d runs wait for approval (%s); name one with --run", ref, len(ids), strings.Join(ids, ", "))
		}
	}
	if c.Signer == nil {
		return st, ErrNoSigner
	}
	cur, err := c.Status(ctx, workflowID, "")
	if err != nil {
		return st, err
	}
	if d.ManifestHash == "" {
		d.ManifestHash = cur.ManifestHash
	}
	_, proof := c.Signer.Sign(refresh.DecisionStatement(workflowID, cur.Product, d.Principal, d.Approve, d.Comment, d.ManifestHash), time.Now())
	d.Proof = &proof
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: refresh.UpdateDecide, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return st, fmt.Errorf("%s refused: %w", workflowID, err)
	}
	if err := h.Get(ctx, &st); err != nil {
		return st, fmt.Errorf("%s refused: %w", workflowID, err)
	}
	return st, nil
}
