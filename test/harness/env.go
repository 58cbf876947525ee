package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/metrics"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/worker"
)

// Env is a Temporal server, the clients of one of its namespaces and the store
// products and mesh revisions are published to.
type Env struct {
	T testing.TB
	// Name names the suite: workers are named <Name>-<queue>, and Start gives
	// it as the reason of the refreshes it requests.
	Name string
	// Addr is the host:port of the Temporal frontend, Namespace the namespace
	// the clients use.
	Addr, Namespace string
	// Temporal is a raw client of the namespace: what an attacker with Temporal
	// access holds, and how a test describes runs and reads their histories.
	Temporal client.Client
	// Control signs its requests with Mesh's key, as meshflow serve does.
	Control *control.Client
	Store   storage.Store
	// Mesh publishes the revisions runs resolve their products from, with the
	// key Control signs with.
	Mesh *meshrevtest.Mesh
}

// New starts an in-process Temporal server with meshflow's search attributes
// and returns an Env on it and st. The server stops when the test ends;
// workers are started separately, with StartWorkers.
func New(t testing.TB, name string, st storage.Store) *Env {
	t.Helper()
	srv, tc := devservertest.StartMesh(t)
	return Connect(t, name, st, tc, srv.FrontendAddress(), srv.Namespace())
}

// Connect returns an Env on a Temporal server the test started itself: tc is
// a client of namespace on the frontend at addr.
func Connect(t testing.TB, name string, st storage.Store, tc client.Client, addr, namespace string) *Env {
	t.Helper()
	m := meshrevtest.New(t, st)
	return &Env{T: t, Name: name, Addr: addr, Namespace: namespace, Temporal: tc, Store: st, Mesh: m,
		Control: &control.Client{Temporal: tc, Namespace: namespace, Signer: m.Signer}}
}

// PublishFunc is the signature of the Publish activity.
type PublishFunc func(context.Context, refresh.PublishInput) (refresh.PublishResult, error)

// BuildPartitionsFunc is the signature of the BuildPartitions activity.
type BuildPartitionsFunc func(context.Context, refresh.BatchInput) (refresh.BatchResult, error)

// WorkerOptions tune StartWorkers. The zero value runs the real activities on
// the Env's store with one DuckDB thread and the worker's default concurrency.
type WorkerOptions struct {
	// Store replaces the Env's store for the activities (a proxy, a store with
	// hooks).
	Store storage.Store
	// Open opens the stores of input URIs (nil: the activities' default).
	Open func(ctx context.Context, uri string) (storage.Store, string, error)
	// Threads bounds each DuckDB instance (default 1).
	Threads int
	// Metrics, when set, records what the activities do.
	Metrics *metrics.Metrics
	// Publish, when set, is registered as the Publish activity in place of the
	// real one, which it receives.
	Publish func(real PublishFunc) PublishFunc
	// Notify makes the activities leave notifications in the store's outbox.
	Notify bool
	// BuildPartitions, when set, is registered as the BuildPartitions
	// activity in place of the real one, which it receives.
	BuildPartitions func(real BuildPartitionsFunc) BuildPartitionsFunc
	// MaxConcurrentSessions and MaxConcurrentActivities raise the workers'
	// concurrency (0: the worker's defaults).
	MaxConcurrentSessions, MaxConcurrentActivities int
}

// StartWorkers starts an in-process worker on each queue, all of them running
// the same activities, and returns the activities. The workers stop when the
// test ends.
func (e *Env) StartWorkers(queues []string, o WorkerOptions) *activities.Activities {
	e.T.Helper()
	st := o.Store
	if st == nil {
		st = e.Store
	}
	threads := o.Threads
	if threads == 0 {
		threads = 1
	}
	acts := &activities.Activities{Store: st, Open: o.Open, Scratch: e.T.TempDir(), Threads: threads,
		Logger: QuietLogger(), Metrics: o.Metrics, Notify: o.Notify, Runs: e.Control}
	for _, q := range queues {
		w := worker.New(e.Temporal, q, acts, worker.Options{Identity: e.Name + "-" + q,
			MaxConcurrentSessions: o.MaxConcurrentSessions, MaxConcurrentActivities: o.MaxConcurrentActivities})
		if o.Publish != nil {
			w.RegisterActivityWithOptions(o.Publish(acts.Publish), activity.RegisterOptions{Name: refresh.ActivityPublish, DisableAlreadyRegisteredCheck: true})
		}
		if o.BuildPartitions != nil {
			w.RegisterActivityWithOptions(o.BuildPartitions(acts.BuildPartitions), activity.RegisterOptions{Name: refresh.ActivityBuildPartitions, DisableAlreadyRegisteredCheck: true})
		}
		if err := w.Start(); err != nil {
			e.T.Fatalf("start a worker on %s: %v", q, err)
		}
		e.T.Cleanup(w.Stop)
	}
	return acts
}

// Start publishes a revision that holds p alone and starts a refresh of p from
// it, requested by submitter through a signed request, with the workflow ID
// refresh/<ref>/<suffix>.
func (e *Env) Start(p refresh.Product, suffix, submitter string) client.WorkflowRun {
	e.T.Helper()
	run, err := e.Mesh.Start(e.T, e.Control, p, suffix, submitter, e.Name)
	if err != nil {
		e.T.Fatalf("start a refresh of %s: %v", p.Ref(), err)
	}
	return run
}

// Result waits up to within for a run's result.
func (e *Env) Result(run client.WorkflowRun, within time.Duration) (refresh.Result, error) {
	ctx, cancel := context.WithTimeout(e.T.Context(), within)
	defer cancel()
	var res refresh.Result
	err := run.Get(ctx, &res)
	return res, err
}

// Published waits up to within for a run and fails the test, explaining where
// the run stands, unless it published. It returns the version published.
func (e *Env) Published(run client.WorkflowRun, within time.Duration) string {
	e.T.Helper()
	res, err := e.Result(run, within)
	if err != nil || res.Stage != refresh.StagePublished {
		e.T.Fatalf("run %s: got %+v, %v; want published\n%s", run.GetID(), res, err, e.Explain(run.GetID()))
	}
	return res.Version
}

// WaitStage waits up to within until the status query of the workflow id
// answers stage, and returns that status. It fails the test, with the last
// stage seen and where the run stands, when the run does not get there.
func (e *Env) WaitStage(id string, stage refresh.Stage, within time.Duration) refresh.Status {
	e.T.Helper()
	var st refresh.Status
	err := testwait.Poll(within, func() error {
		var err error
		if st, err = e.Control.Status(e.T.Context(), id, ""); err != nil {
			return err
		}
		if st.Stage != stage {
			return fmt.Errorf("stage %q", st.Stage)
		}
		return nil
	})
	if err != nil {
		e.T.Fatalf("run %s did not reach stage %s: %v\n%s", id, stage, err, e.Explain(id))
	}
	return st
}

// Explain describes the latest run of the workflow id for a failure message:
// its status and its pending activities with their last failures.
func (e *Env) Explain(id string) string {
	var b strings.Builder
	// The test's context may be done already: a failure message is still due.
	ctx := context.Background()
	st, err := e.Control.Status(ctx, id, "")
	fmt.Fprintf(&b, "status: stage %q detail %q error %q (query error %v)", st.Stage, st.Detail, st.Error, err)
	d, err := e.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		fmt.Fprintf(&b, "; describe: %v", err)
		return b.String()
	}
	for _, a := range d.GetPendingActivities() {
		fmt.Fprintf(&b, "; pending %s: state %s, attempt %d, last failure %q, last worker %q",
			a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), a.GetLastFailure().GetMessage(), a.GetLastWorkerIdentity())
	}
	return b.String()
}

// ErrType returns the type of the application error in err, or "" when err
// holds none.
func ErrType(err error) string {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		return appErr.Type()
	}
	return ""
}
