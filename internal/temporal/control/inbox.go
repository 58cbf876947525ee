package control

import (
	"context"
	"slices"

	"github.com/meshflow/meshflow/internal/refresh"
)

// inboxLimit bounds the runs awaiting approval that an inbox reads.
const inboxLimit = 100

// RunReader lists runs and reads their status; *Client has it. The inbox
// query needs nothing more, so the HTTP packages can hand it their own
// narrower interfaces.
type RunReader interface {
	RunLister
	Status(ctx context.Context, workflowID, runID string) (refresh.Status, error)
}

// Waiting is a run that waits for a principal's decision, with the status it
// was read with.
type Waiting struct {
	Run    Run
	Status refresh.Status
	// Voted says that the principal has decided on the run already (it still
	// waits for other approvers).
	Voted bool
}

// Inbox is what waits for approval, as one principal sees it.
type Inbox struct {
	// Waiting are the runs the principal is an approver of, newest first.
	Waiting []Waiting
	// Others counts the runs awaiting approval by other principals only.
	Others int
	// Unread holds the errors of runs whose status could not be read; they are
	// neither in Waiting nor in Others.
	Unread []error
}

// ReadInbox is the inbox query: the runs of a product ("" for every product)
// that wait for principal's approval. Visibility lags behind the runs, so each
// run's own status decides: it must still be at the awaiting-approval stage
// and name principal among its approvers. Runs whose status cannot be read are
// reported in Unread; only a failed listing is an error.
func ReadInbox(ctx context.Context, rr RunReader, ref, principal string) (Inbox, error) {
	var in Inbox
	runs, err := AwaitingApproval(ctx, rr, ref, inboxLimit)
	if err != nil {
		return in, err
	}
	for _, run := range runs {
		st, err := rr.Status(ctx, run.WorkflowID, run.RunID)
		switch {
		case err != nil:
			in.Unread = append(in.Unread, err)
		case st.Stage != refresh.StageAwaitingApproval || !slices.Contains(st.Approvers, principal):
			in.Others++
		default:
			in.Waiting = append(in.Waiting, Waiting{Run: run, Status: st, Voted: DecidedBy(st, principal)})
		}
	}
	return in, nil
}

// RunLister lists refresh runs by product and stage; *Client has it.
type RunLister interface {
	Runs(ctx context.Context, ref string, stage refresh.Stage, limit int) ([]Run, error)
}

// AwaitingApproval lists the runs of a product (of every product when ref is
// empty) that are running and, by visibility, wait for approval: the one query
// behind the inbox, the approvals API and the pending-approval metrics.
func AwaitingApproval(ctx context.Context, rr RunLister, ref string, limit int) ([]Run, error) {
	runs, err := rr.Runs(ctx, ref, refresh.StageAwaitingApproval, limit)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, r := range runs {
		if r.Status == StatusRunning {
			out = append(out, r)
		}
	}
	return out, nil
}

// DecidedBy reports whether principal has a recorded decision on the run.
func DecidedBy(st refresh.Status, principal string) bool {
	return slices.ContainsFunc(st.Approvals, func(a refresh.Approval) bool { return a.Principal == principal })
}
