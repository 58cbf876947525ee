package activities

import (
	"context"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/activity"
)

// The Measured… activities are the stage activities with metrics: each
// successful attempt's duration (a failed attempt says nothing about how long a
// stage takes), and for validation the rows and rules. The worker registers them
// under the stages' activity names; with a nil Metrics they only call through.

// MeasuredIngest is Ingest, timed.
func (a *Activities) MeasuredIngest(ctx context.Context, in refresh.IngestInput) (refresh.IngestResult, error) {
	start := time.Now()
	res, err := a.Ingest(ctx, in)
	a.stageDone(in.Product.Ref(), refresh.StageIngesting, start, err)
	return res, err
}

// MeasuredTransform is Transform, timed.
func (a *Activities) MeasuredTransform(ctx context.Context, in refresh.TransformInput) (refresh.TransformResult, error) {
	start := time.Now()
	res, err := a.Transform(ctx, in)
	a.stageDone(in.Product.Ref(), refresh.StageTransforming, start, err)
	return res, err
}

// MeasuredValidate is Validate, timed, recording the rows and every rule's outcome.
func (a *Activities) MeasuredValidate(ctx context.Context, in refresh.ValidateInput) (refresh.ValidateResult, error) {
	start := time.Now()
	res, err := a.Validate(ctx, in)
	a.stageDone(in.Product.Ref(), refresh.StageValidating, start, err)
	if err == nil {
		a.Metrics.Validated(in.Product.Ref(), res.Quality)
	}
	return res, err
}

// MeasuredPlan is PlanPartitions, timed as the ingest stage it stands for.
func (a *Activities) MeasuredPlan(ctx context.Context, in refresh.PlanInput) (refresh.PlanResult, error) {
	start := time.Now()
	res, err := a.PlanPartitions(ctx, in)
	a.stageDone(in.Product.Ref(), refresh.StageIngesting, start, err)
	return res, err
}

// MeasuredCombine is CombinePartitions, recording the version's rows, rules
// and partitions.
func (a *Activities) MeasuredCombine(ctx context.Context, in refresh.CombineInput) (refresh.CombineResult, error) {
	start := time.Now()
	res, err := a.CombinePartitions(ctx, in)
	a.stageDone(in.Product.Ref(), refresh.StageValidating, start, err)
	if err == nil {
		a.Metrics.Validated(in.Product.Ref(), res.Validate.Quality)
		a.Metrics.Partitioned(in.Product.Ref(), res.Partitions)
	}
	return res, err
}

// MeasuredPublish is Publish, timed.
func (a *Activities) MeasuredPublish(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
	start := time.Now()
	res, err := a.Publish(ctx, in)
	a.stageDone(in.Manifest.Product, refresh.StagePublishing, start, err)
	return res, err
}

func (a *Activities) stageDone(ref string, stage refresh.Stage, start time.Time, err error) {
	if err == nil {
		a.Metrics.Stage(ref, stage, time.Since(start))
	}
}

// runEnded records a run's outcome and, when it waited for approval, how long
// the decision took. Only the first attempt of the cleanup records, so that a
// retried cleanup does not count the run twice.
func (a *Activities) runEnded(ctx context.Context, in refresh.CleanupInput) {
	if a.Metrics == nil || activity.GetInfo(ctx).Attempt > 1 {
		return
	}
	a.Metrics.Finished(in.Ref, in.Stage)
	if ap := in.Approval; ap != nil && !ap.Since.IsZero() && !ap.At.IsZero() {
		a.Metrics.Decided(in.Ref, ap.Decision, ap.At.Sub(ap.Since))
	}
}
