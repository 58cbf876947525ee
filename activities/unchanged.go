package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"
)

// RecordCheck records that a run found its output identical to the product's
// latest version: the check record (layout.Check) that freshness, the SLA
// metrics, product-late and the catalog page count from.
//
// Like Publish it believes the store, not its input: the run must be the one
// that scheduled it, and the output its checks staged must equal the latest
// version's. A check is never recorded later than it is made.
func (a *Activities) RecordCheck(ctx context.Context, in refresh.CheckInput) error {
	if err := a.checkUnchanged(ctx, in); err != nil {
		return err
	}
	checkedAt := in.CheckedAt.UTC()
	if now := time.Now().UTC(); checkedAt.After(now) {
		checkedAt = now
	}
	p := publish.Publisher{Store: a.Store, Logger: a.logger()}
	return p.RecordCheck(ctx, in.Ref, layout.Check{Version: in.Version, CheckedAt: checkedAt, RunID: in.RunID,
		WorkflowID: in.WorkflowID, MeshRevision: in.MeshRevision})
}

// checkUnchanged refuses to record a check that the run did not make: its
// staged checks and governance must find the latest version's output again.
func (a *Activities) checkUnchanged(ctx context.Context, in refresh.CheckInput) error {
	if info := a.scheduledBy(ctx); in.WorkflowID != info.WorkflowExecution.ID {
		return unauthorized("the check names workflow %s, but %s scheduled it", in.WorkflowID, info.WorkflowExecution.ID)
	}
	if _, err := a.resolveFor(ctx, in.MeshRevision, in.Ref, in.RunID); err != nil {
		return err
	}
	checks, gov, err := a.stagedVerdicts(ctx, in.Ref, in.RunID)
	if err != nil {
		return err
	}
	head, found, err := catalog.ReadLatest(ctx, a.Store, in.Ref)
	if err != nil {
		return err
	}
	if !found || head.Pointer.Version != in.Version || checks.Partitions != nil ||
		!refresh.Unchanged(head.Manifest, gov.Govern.Contract, checks.Validate.Data, checks.Validate.Quality) {
		return unauthorized("the output this run checked is not that of %s %s", in.Ref, in.Version)
	}
	return nil
}

// Runs is what superseding needs from Temporal: the runs of a product that
// wait for approval, what Temporal records of one run, and the supersede
// signal. *control.Client has it; it is an interface so that activities link
// no Temporal client.
type Runs interface {
	WaitingRuns(ctx context.Context, ref string) ([]refresh.RunInfo, error)
	DescribeRun(ctx context.Context, workflowID, runID string) (refresh.RunInfo, error)
	SignalSupersede(ctx context.Context, workflowID, runID string, s refresh.Supersede) error
}

// SupersedeOlder asks every run of the product that waits for approval and
// started before in.Self to end as superseded. Each one checks the claim with
// VerifySupersede before it believes it. A worker without Runs signals nobody.
func (a *Activities) SupersedeOlder(ctx context.Context, in refresh.SupersedeOlderInput) (refresh.SupersedeOlderResult, error) {
	var res refresh.SupersedeOlderResult
	if a.Runs == nil {
		return res, nil
	}
	runs, err := a.Runs.WaitingRuns(ctx, in.Ref)
	if err != nil {
		return res, fmt.Errorf("list the runs of %s that wait for approval: %w", in.Ref, err)
	}
	for _, r := range runs {
		if r.WorkflowID == in.Self.WorkflowID || !r.Running || !r.StartedAt.Before(in.StartedAt) {
			continue
		}
		err := a.Runs.SignalSupersede(ctx, r.WorkflowID, r.RunID, in.Self)
		if errors.Is(err, refresh.ErrRunNotFound) {
			continue // it ended while visibility still listed it
		}
		if err != nil {
			return res, fmt.Errorf("tell %s that %s supersedes it: %w", r.WorkflowID, in.Self.WorkflowID, err)
		}
		res.Signalled = append(res.Signalled, r.WorkflowID)
	}
	return res, nil
}

// VerifySupersede checks a supersede claim against Temporal's record of the
// claiming run, never against the signal's word: the claim holds only for a
// ProductRefresh run of the same product, on the same task queue (so that
// meshflow's own workers ran it), started after the run it supersedes, that
// reached approval (it waits for approval, publishes or published).
func (a *Activities) VerifySupersede(ctx context.Context, in refresh.VerifySupersedeInput) (refresh.VerifySupersedeResult, error) {
	refuse := func(format string, args ...any) (refresh.VerifySupersedeResult, error) {
		return refresh.VerifySupersedeResult{Reason: fmt.Sprintf(format, args...)}, nil
	}
	c := in.Claim
	switch {
	case a.Runs == nil:
		return refuse("this worker cannot read Temporal's record of runs, so it cannot verify the claim")
	case c.WorkflowID == "" || c.RunID == "":
		return refuse("the claim names no run (workflow ID %q, run ID %q)", c.WorkflowID, c.RunID)
	case c.WorkflowID == in.Self.WorkflowID:
		return refuse("a run cannot supersede itself")
	case !strings.HasPrefix(c.WorkflowID, refresh.WorkflowID(in.Ref, "")):
		return refuse("%s is not a refresh of %s", c.WorkflowID, in.Ref)
	}
	info, err := a.Runs.DescribeRun(ctx, c.WorkflowID, c.RunID)
	if err != nil {
		if errors.Is(err, refresh.ErrRunNotFound) {
			return refuse("Temporal has no run %s (run ID %s)", c.WorkflowID, c.RunID)
		}
		return refresh.VerifySupersedeResult{}, fmt.Errorf("read Temporal's record of %s: %w", c.WorkflowID, err)
	}
	switch {
	case info.WorkflowType != refresh.WorkflowProductRefresh:
		return refuse("%s is a %s, not a %s", c.WorkflowID, info.WorkflowType, refresh.WorkflowProductRefresh)
	case info.Domain+"/"+info.Product != in.Ref:
		return refuse("%s refreshes %s/%s, not %s", c.WorkflowID, info.Domain, info.Product, in.Ref)
	case info.TaskQueue != in.TaskQueue:
		return refuse("%s runs on task queue %q, not %q", c.WorkflowID, info.TaskQueue, in.TaskQueue)
	case !info.StartedAt.After(in.StartedAt):
		return refuse("%s started at %s, not after this run (%s)", c.WorkflowID, info.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
			in.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	switch info.Stage {
	case refresh.StageAwaitingApproval, refresh.StagePublishing, refresh.StagePublished:
		return refresh.VerifySupersedeResult{Valid: true}, nil
	}
	return refuse("%s has not reached approval (stage %q)", c.WorkflowID, info.Stage)
}
