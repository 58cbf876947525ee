package workflows

import (
	"fmt"
	"time"

	"github.com/meshflow/meshflow/internal/partition"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// buildPartitions runs the stages of a partitioned product: plan which
// partitions to build, build them in batches spread over the domain's workers (at
// most maxParallel at once), and check the version as a whole. Plans and batch
// results are staged objects; the history holds only their references and
// counts, so a backfill of thousands of partitions stays far below Temporal's
// limits (about three events per batch of up to partition.MaxBatch partitions).
func (r *run) buildPartitions(ctx workflow.Context) (staged, error) {
	var out staged
	r.setStage(ctx, refresh.StageIngesting, "planning the partitions")
	r.status.Inputs = len(r.p.Inputs)
	var plan refresh.PlanResult
	if err := workflow.ExecuteActivity(batchOptions(ctx, "Plan the partitions of "+r.p.Ref()+": list the inputs by partition key, snapshot the unpartitioned ones",
		refresh.ErrBadInput, refresh.ErrNotPublished, refresh.ErrBadSpec, refresh.ErrUnauthorized, refresh.ErrScratch),
		refresh.ActivityPlanPartitions, refresh.PlanInput{Product: r.p, RunID: r.runID, Requested: r.in.Partitions}).Get(ctx, &plan); err != nil {
		return out, r.wrap(refresh.StageIngesting, err)
	}
	progress := &refresh.PartitionProgress{Build: plan.Build, CarriedOver: plan.CarriedOver, Batches: plan.Batches}
	r.status.Partitions = progress
	out.ing.Inputs = plan.Inputs
	r.status.Deprecated = refresh.DeprecatedInputs(plan.Inputs)

	maxParallel := r.p.Partitions.MaxParallel
	if maxParallel <= 0 {
		maxParallel = partition.DefaultMaxParallel
	}
	building := func() string {
		return fmt.Sprintf("building partitions: %d of %d done in %d batches, %d carried over", progress.Done, progress.Build, progress.Batches, progress.CarriedOver)
	}
	r.setStage(ctx, refresh.StageTransforming, building())
	results := make([]refresh.ObjectRef, plan.Batches)
	sel := workflow.NewSelector(ctx)
	var failed error
	next, inFlight := 0, 0
	start := func(i int) {
		f := workflow.ExecuteActivity(batchOptions(ctx, fmt.Sprintf("Build batch %d of %d of %s", i+1, plan.Batches, r.p.Ref()),
			refresh.ErrBadInput, refresh.ErrTransform, refresh.ErrContract, refresh.ErrBadSpec, refresh.ErrUnauthorized, refresh.ErrScratch),
			refresh.ActivityBuildPartitions, refresh.BatchInput{Product: r.p, RunID: r.runID, Plan: plan.Plan, Batch: i})
		inFlight++
		sel.AddFuture(f, func(f workflow.Future) {
			inFlight--
			var br refresh.BatchResult
			if err := f.Get(ctx, &br); err != nil {
				if failed == nil {
					failed = err
				}
				return
			}
			results[i] = br.Result
			progress.Done += br.Partitions
			progress.BatchesDone++
			r.status.RowsIn += br.RowsIn
			r.status.RowsOut += br.RowsOut
			r.status.Quarantined += br.Quarantined
			r.status.Detail = building()
			workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — %s: %s", r.p.Ref(), r.status.Stage, r.status.Detail))
		})
	}
	for next < plan.Batches && inFlight < maxParallel {
		start(next)
		next++
	}
	for inFlight > 0 {
		sel.Select(ctx)
		for failed == nil && next < plan.Batches && inFlight < maxParallel {
			start(next)
			next++
		}
	}
	if failed != nil {
		return out, r.wrap(refresh.StageTransforming, failed)
	}

	r.setStage(ctx, refresh.StageValidating, fmt.Sprintf("checking the version as a whole: %d built, %d carried over", progress.Done, progress.CarriedOver))
	var comb refresh.CombineResult
	if err := workflow.ExecuteActivity(batchOptions(ctx, "Check "+r.p.Ref()+" as a whole: every partition, the dataset rules over their union",
		refresh.ErrContract, refresh.ErrBadSpec, refresh.ErrScratch),
		refresh.ActivityCombinePartitions, refresh.CombineInput{Product: r.p, RunID: r.runID, Plan: plan.Plan, Batches: results}).Get(ctx, &comb); err != nil {
		return out, r.wrap(refresh.StageValidating, err)
	}
	out.val = comb.Validate
	out.parts = &comb.Partitions
	q := out.val.Quality
	r.status.RowsIn, r.status.RowsOut, r.status.Quarantined, r.status.Warnings = q.RowsIn, q.RowsOut, q.Quarantined, q.Warnings
	r.status.Rules = q.Rules
	return out, nil
}

// batchOptions are the options of the partitioned stages. They run on any
// worker of the domain's queue (no session: each stage reads what it needs from
// the store) and heartbeat, so that a lost worker costs one attempt of one batch.
// Eager execution is off: it would hand every batch to the worker that runs the
// workflow task instead of spreading the batches over the queue's workers.
func batchOptions(ctx workflow.Context, summary string, nonRetryable ...string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:   6 * time.Hour,
		HeartbeatTimeout:      30 * time.Second,
		DisableEagerExecution: true,
		Summary:               summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
}
