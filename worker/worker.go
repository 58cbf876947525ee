// Package worker wires a Temporal worker for a task queue: it registers the
// workflows and the activities under the names of package refresh, enables
// sessions (a refresh's ingest, transform and validate stages share one worker's
// scratch), and bounds concurrency.
package worker

import (
	"time"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/workflows"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// Options tune a worker.
type Options struct {
	// MaxConcurrentActivities bounds the activities running at once (default 8).
	MaxConcurrentActivities int
	// MaxConcurrentSessions bounds the refreshes staging on this worker at once
	// (default 2): each holds a DuckDB instance and scratch files.
	MaxConcurrentSessions int
	// Identity names the worker in the Temporal UI.
	Identity string
	// StopTimeout is how long Stop waits for running activities to finish
	// before cancelling their contexts (default 0: cancel at once). Activities
	// that heartbeat see the cancellation on their next heartbeat; the server
	// retries them on another worker after their heartbeat timeout.
	StopTimeout time.Duration
}

// New creates a worker polling taskQueue, with every meshflow workflow and activity
// registered. Start it with Start or Run.
func New(c client.Client, taskQueue string, acts *activities.Activities, opt Options) sdkworker.Worker {
	if opt.MaxConcurrentActivities <= 0 {
		opt.MaxConcurrentActivities = 8
	}
	if opt.MaxConcurrentSessions <= 0 {
		opt.MaxConcurrentSessions = 2
	}
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		EnableSessionWorker:                true,
		MaxConcurrentSessionExecutionSize:  opt.MaxConcurrentSessions,
		MaxConcurrentActivityExecutionSize: opt.MaxConcurrentActivities,
		Identity:                           opt.Identity,
		WorkerStopTimeout:                  opt.StopTimeout,
	})
	acts.Serve(taskQueue)
	engine.KeepWarm(1)
	workflows.Register(w)
	Register(w, acts)
	return w
}

// ActivityRegistry is what registering activities needs from a worker.
type ActivityRegistry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers the refresh activities under their names; the stage
// activities are the Measured… ones, which record metrics when a.Metrics is set.
func Register(r ActivityRegistry, a *activities.Activities) {
	for name, fn := range map[string]any{
		refresh.ActivityIngest:            a.MeasuredIngest,
		refresh.ActivityTransform:         a.MeasuredTransform,
		refresh.ActivityValidate:          a.MeasuredValidate,
		refresh.ActivityLatest:            a.LatestManifest,
		refresh.ActivityPublish:           a.MeasuredPublish,
		refresh.ActivityInputsPublished:   a.InputsPublished,
		refresh.ActivityCleanup:           a.CleanupStaging,
		refresh.ActivityGovern:            a.Govern,
		refresh.ActivityResolve:           a.ResolveProduct,
		refresh.ActivityAccessGranted:     a.AccessGranted,
		refresh.ActivityNotifyEscalation:  a.NotifyEscalation,
		refresh.ActivityPlanPartitions:    a.MeasuredPlan,
		refresh.ActivityBuildPartitions:   a.BuildPartitions,
		refresh.ActivityCombinePartitions: a.MeasuredCombine,
		refresh.ActivityRecordCheck:       a.RecordCheck,
		refresh.ActivitySupersedeOlder:    a.SupersedeOlder,
		refresh.ActivityVerifySupersede:   a.VerifySupersede,
		access.ActivityResolveAccess:      a.ResolveAccess,
		access.ActivityRecordGrant:        a.RecordGrant,
		access.ActivityRevokeGrant:        a.RevokeGrant,
		access.ActivityNotifyExpiring:     a.NotifyAccessExpiring,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
