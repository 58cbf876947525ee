package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshflow/meshflow/internal/refresh"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
)

// WaitingRuns returns the running refresh runs of a product that wait for
// approval, as Temporal's visibility lists them.
func (c *Client) WaitingRuns(ctx context.Context, ref string) ([]refresh.RunInfo, error) {
	runs, err := c.Runs(ctx, ref, refresh.StageAwaitingApproval, 100)
	if err != nil {
		return nil, err
	}
	var out []refresh.RunInfo
	for _, r := range runs {
		out = append(out, refresh.RunInfo{WorkflowID: r.WorkflowID, RunID: r.RunID, Stage: r.Stage,
			Running: r.Status == StatusRunning, StartedAt: r.Start})
	}
	return out, nil
}

// DescribeRun returns what Temporal records of one run: its type, task queue,
// start, whether it runs, and its search attributes (product and stage). A run
// Temporal does not know is refresh.ErrRunNotFound.
func (c *Client) DescribeRun(ctx context.Context, workflowID, runID string) (refresh.RunInfo, error) {
	info := refresh.RunInfo{WorkflowID: workflowID, RunID: runID}
	resp, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return info, fmt.Errorf("%s (run %s): %w", workflowID, runID, refresh.ErrRunNotFound)
	}
	if err != nil {
		return info, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	e := resp.GetWorkflowExecutionInfo()
	info.WorkflowType = e.GetType().GetName()
	info.TaskQueue = e.GetTaskQueue()
	info.Running = e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if e.GetStartTime() != nil {
		info.StartedAt = e.GetStartTime().AsTime()
	}
	if sa := e.GetSearchAttributes(); sa != nil {
		get := func(k string) string {
			var s string
			if p, ok := sa.IndexedFields[k]; ok && converterGet(p, &s) == nil {
				return s
			}
			return ""
		}
		info.Domain, info.Product, info.Stage = get(refresh.SearchDomain), get(refresh.SearchProduct), refresh.Stage(get(refresh.SearchStage))
	}
	return info, nil
}

// SignalSupersede tells a waiting run that the run s, a newer run of the same
// product, reached approval; the run verifies the claim before it ends. A run
// that closed meanwhile (visibility lags) is refresh.ErrRunNotFound.
func (c *Client) SignalSupersede(ctx context.Context, workflowID, runID string, s refresh.Supersede) error {
	err := c.Temporal.SignalWorkflow(ctx, workflowID, runID, refresh.SignalSupersede, s)
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return fmt.Errorf("%s (run %s): %w", workflowID, runID, refresh.ErrRunNotFound)
	}
	if err != nil {
		return fmt.Errorf("signal %s: %w", workflowID, err)
	}
	return nil
}
