package control

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
)

// fakeReader lists runs and answers their status from maps.
type fakeReader struct {
	runs     []Run
	statuses map[string]refresh.Status
	asked    struct {
		ref   string
		stage refresh.Stage
		limit int
	}
}

func (f *fakeReader) Runs(_ context.Context, ref string, stage refresh.Stage, limit int) ([]Run, error) {
	f.asked.ref, f.asked.stage, f.asked.limit = ref, stage, limit
	return f.runs, nil
}

func (f *fakeReader) Status(_ context.Context, workflowID, _ string) (refresh.Status, error) {
	st, ok := f.statuses[workflowID]
	if !ok {
		return st, errors.New("query " + workflowID + ": unreachable")
	}
	return st, nil
}

func TestReadInbox(t *testing.T) {
	awaiting := func(approvers ...string) refresh.Status {
		return refresh.Status{Stage: refresh.StageAwaitingApproval, Approvers: approvers}
	}
	voted := awaiting("maria.rossi", "omar.haddad")
	voted.Approvals = []refresh.Approval{{Principal: "maria.rossi", Decision: refresh.Approve}}
	f := &fakeReader{
		runs: []Run{
			{WorkflowID: "mine", Status: StatusRunning},
			{WorkflowID: "voted", Status: StatusRunning},
			{WorkflowID: "theirs", Status: StatusRunning},
			{WorkflowID: "moved-on", Status: StatusRunning}, // visibility lags: the run publishes already
			{WorkflowID: "closed", Status: "Terminated"},
			{WorkflowID: "unreadable", Status: StatusRunning},
		},
		statuses: map[string]refresh.Status{
			"mine": awaiting("maria.rossi"), "voted": voted, "theirs": awaiting("omar.haddad"),
			"moved-on": {Stage: refresh.StagePublishing, Approvers: []string{"maria.rossi"}}, "closed": awaiting("maria.rossi"),
		},
	}
	in, err := ReadInbox(t.Context(), f, "finance/kpis", "maria.rossi")
	if err != nil {
		t.Fatal(err)
	}
	if f.asked.ref != "finance/kpis" || f.asked.stage != refresh.StageAwaitingApproval || f.asked.limit != inboxLimit {
		t.Errorf("listed %+v, want the product's runs awaiting approval", f.asked)
	}
	var ids []string
	for _, w := range in.Waiting {
		ids = append(ids, w.Run.WorkflowID)
		if w.Voted != (w.Run.WorkflowID == "voted") {
			t.Errorf("%s: voted %v", w.Run.WorkflowID, w.Voted)
		}
	}
	if !slices.Equal(ids, []string{"mine", "voted"}) || in.Others != 2 || len(in.Unread) != 1 {
		t.Errorf("inbox %v, others %d, unread %v; want mine and voted, 2 others, 1 unread", ids, in.Others, in.Unread)
	}
}
