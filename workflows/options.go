package workflows

import (
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// sessionOptions are the options of the long stages that run inside the staging
// session: they heartbeat, and a few retries happen on the same worker before the
// session is given up and started again elsewhere.
func sessionOptions(ctx workflow.Context, summary string, nonRetryable ...string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    30 * time.Second,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
}

// publishOptions retry for as long as it takes: publication is idempotent, and an
// object store outage should delay a run, not fail it.
func publishOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{refresh.ErrVersionTaken},
		},
	})
}

// shortOptions are for quick metadata reads and cleanup.
func shortOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			MaximumAttempts:    10,
		},
	})
}
