// Package control is what clients of meshflow do with Temporal: turn a product of
// the mesh into a refresh run's input, start runs, read their status, find the runs
// waiting for a steward, and deliver decisions. The command line uses it, and so
// will `meshflow serve`.
package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/refresh"
	"github.com/meshflow/meshflow/spec"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.yaml.in/yaml/v3"
)

// Product converts a product of a loaded mesh into what a run needs: relative
// file:// inputs are made absolute against the mesh folder, the contract is carried
// as YAML text, and the governance defaults are filled in.
func Product(set *spec.Set, p *spec.Product) (refresh.Product, error) {
	out := refresh.Product{
		Domain: p.Metadata.Domain, Name: p.Metadata.Name, Owner: p.Metadata.Owner,
		Description: p.Metadata.Description, Tags: p.Metadata.Tags, SQL: p.Transform.SQL,
		ContractFile: p.ContractFile,
	}
	if d := set.Domain(p.Metadata.Domain); d != nil {
		out.TaskQueue = d.Queue()
	} else {
		return out, fmt.Errorf("%s: unknown domain %q", p.Ref(), p.Metadata.Domain)
	}
	meshDir, err := filepath.Abs(set.Dir)
	if err != nil {
		return out, err
	}
	for _, in := range p.Inputs {
		ri := refresh.Input{Name: in.Name, Product: in.Product, Format: in.DataFormat(), Delimiter: in.Delimiter, Header: in.Header}
		if in.URI != "" {
			ri.URI = in.URI
			if rel, ok := strings.CutPrefix(in.URI, "file://"); ok && !strings.HasPrefix(rel, "/") {
				ri.URI = "file://" + filepath.ToSlash(filepath.Join(meshDir, filepath.FromSlash(rel)))
			}
		}
		out.Inputs = append(out.Inputs, ri)
	}
	if p.Contract == nil {
		return out, fmt.Errorf("%s: the contract could not be read; run meshflow validate", p.Ref())
	}
	if p.ContractFile == p.Doc.File {
		b, err := yaml.Marshal(p.ContractNode)
		if err != nil {
			return out, fmt.Errorf("%s: encode inline contract: %w", p.Ref(), err)
		}
		out.Contract = string(b)
	} else {
		out.Contract = string(p.Contract.Doc.Source)
	}
	g := p.Governance
	out.Governance = refresh.Governance{Approval: g.Approval, Stewards: set.People(set.Stewards(p)), Quorum: g.Quorum,
		Timeout: g.Timeout, EscalateTo: set.People(g.EscalateTo), EscalateAfter: g.EscalateAfter}
	if out.Governance.Approval == "" {
		out.Governance.Approval = spec.ApproveNever
	}
	if out.Governance.Timeout == 0 {
		out.Governance.Timeout = spec.DefaultApprovalTimeout
	}
	for _, c := range set.Consumers(p.Ref()) {
		out.Consumers = append(out.Consumers, c.Ref())
	}
	return out, nil
}

// Input builds the input of a refresh of p, with every product downstream of it,
// so that the run can refresh its consumers without reading the mesh folder.
func Input(set *spec.Set, p *spec.Product, submitter, reason string) (refresh.RefreshInput, error) {
	in := refresh.RefreshInput{Submitter: submitter, Reason: reason, Downstream: map[string]refresh.Product{}}
	if set.Mesh != nil {
		for _, pol := range set.Mesh.Policies {
			in.Policies = append(in.Policies, refresh.Policy{ID: pol.ID, Message: pol.Message, Severity: pol.Severity, Rule: pol.Rule})
		}
	}
	var err error
	if in.Product, err = Product(set, p); err != nil {
		return in, err
	}
	queue := slices.Clone(in.Product.Consumers)
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if _, done := in.Downstream[ref]; done {
			continue
		}
		c := set.Product(ref)
		if c == nil {
			continue
		}
		rp, err := Product(set, c)
		if err != nil {
			return in, err
		}
		in.Downstream[ref] = rp
		queue = append(queue, rp.Consumers...)
	}
	return in, nil
}

// Client talks to Temporal on behalf of a person or a program.
type Client struct {
	Temporal  client.Client
	Namespace string
}

// Start starts a refresh run. The workflow ID is refresh/<domain>/<product>/<suffix>.
func (c *Client) Start(ctx context.Context, in refresh.RefreshInput, suffix string) (client.WorkflowRun, error) {
	p := in.Product
	opts := client.StartWorkflowOptions{
		ID:            refresh.WorkflowID(p.Ref(), suffix),
		TaskQueue:     p.TaskQueue,
		StaticSummary: fmt.Sprintf("Refresh %s (%s, by %s)", p.Ref(), in.Reason, in.Submitter),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchDomain).ValueSet(p.Domain),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchProduct).ValueSet(p.Name),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchStage).ValueSet(string(refresh.StageIngesting)),
		),
	}
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, refresh.WorkflowProductRefresh, in)
	if err != nil {
		return nil, fmt.Errorf("start refresh of %s: %w", p.Ref(), err)
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

func statusName(s string) string {
	s = strings.TrimPrefix(s, "WORKFLOW_EXECUTION_STATUS_")
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

// ErrNothingPending says that no run of a product waits for approval.
var ErrNothingPending = errors.New("no run is waiting for approval")

// Pending returns the runs of a product that wait for approval.
func (c *Client) Pending(ctx context.Context, ref string) ([]Run, error) {
	runs, err := c.Runs(ctx, ref, refresh.StageAwaitingApproval, 20)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, r := range runs {
		if r.Status == "Running" {
			out = append(out, r)
		}
	}
	return out, nil
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
	cur, err := c.Status(ctx, workflowID, "")
	if err != nil {
		return st, err
	}
	if d.ManifestHash == "" {
		d.ManifestHash = cur.ManifestHash
	}
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
