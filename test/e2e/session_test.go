package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/test/harness"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"
)

// The SDK's names of a session's own activities.
const (
	sessionCreation   = "internalSessionCreationActivity"
	sessionCompletion = "internalSessionCompletionActivity"
)

// scheduledBy maps each activity type a run scheduled to the workflow task
// that scheduled it (the first time).
func scheduledBy(evs []*historypb.HistoryEvent) map[string]int64 {
	out := map[string]int64{}
	for _, ev := range evs {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			if _, ok := out[a.GetActivityType().GetName()]; !ok {
				out[a.GetActivityType().GetName()] = a.GetWorkflowTaskCompletedEventId()
			}
		}
	}
	return out
}

// TestStagingSessionOverlapsTheStepsAroundIt checks that a run asks for its
// staging session in the same workflow task that reads its product, and
// schedules Govern in the same workflow task that completes the session:
// neither waits for the session.
func TestStagingSessionOverlapsTheStepsAroundIt(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.startWorkers([]string{"overlap"}, nil)
	p := harness.TinyProduct(t, t.TempDir(), "sales", "overlap", "overlap")
	run := e.Start(p, "1", "ana")
	e.Published(run, time.Minute)

	by := scheduledBy(history(t, e, run))
	for _, name := range []string{refresh.ActivityResolve, sessionCreation, sessionCompletion, refresh.ActivityGovern} {
		if by[name] == 0 {
			t.Fatalf("the run scheduled no %s: %v", name, by)
		}
	}
	if by[sessionCreation] != by[refresh.ActivityResolve] {
		t.Errorf("the session was asked for by workflow task %d, the product read by %d: want the same task", by[sessionCreation], by[refresh.ActivityResolve])
	}
	if by[sessionCompletion] != by[refresh.ActivityGovern] {
		t.Errorf("the session was completed by workflow task %d, Govern scheduled by %d: want the same task", by[sessionCompletion], by[refresh.ActivityGovern])
	}
}

// TestRunThatCannotStageGivesItsSessionBack checks that a run that ends
// before staging (its product is not in the revision) completes the session
// it asked for before it ends, instead of leaving the worker to find out at
// its next heartbeat, seconds later, while its only session slot stays taken.
func TestRunThatCannotStageGivesItsSessionBack(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.StartWorkers([]string{"overlap"}, harness.WorkerOptions{MaxConcurrentSessions: 1})
	gone, err := e.Control.Start(t.Context(), control.Refresh{Ref: "sales/not-in-the-mesh", TaskQueue: "overlap", Principal: "ana", Reason: t.Name(), Suffix: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Result(gone, time.Minute); err == nil {
		t.Fatalf("a run of a product the revision does not hold ended %+v; want it failed", res)
	}
	evs := history(t, e, gone)
	by := scheduledBy(evs)
	if by[sessionCreation] == 0 {
		t.Fatalf("the run asked for no session: %v", by)
	}
	if by[sessionCompletion] == 0 {
		t.Errorf("the run ended without completing its session: %v", by)
	}
	// The worker holds one session at a time: the next run stages in it.
	p := harness.TinyProduct(t, t.TempDir(), "sales", "overlap", "overlap")
	e.Published(e.Start(p, "2", "ana"), time.Minute)
}

// TestRunWaitingForAccessHoldsNoSession checks that a run waiting for a
// grant to read its inputs (which may take days) gives back the session it
// asked for when it started: with one session slot on the domain's worker,
// another product of the domain stages and publishes meanwhile.
func TestRunWaitingForAccessHoldsNoSession(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.StartWorkers(harness.Queues(e.set), harness.WorkerOptions{MaxConcurrentSessions: 1, Threads: 2})
	waiting := e.startRef("finance/global-kpis", "1", "chen.jie")
	e.WaitStage(waiting.GetID(), refresh.StageAwaitingAccess, time.Minute)

	queue := e.set.Domain("finance").Queue()
	p := harness.TinyProduct(t, t.TempDir(), "finance", "while-waiting", queue)
	e.Published(e.Start(p, "1", "ana"), time.Minute)
}

// TestCancelledRunCompletesItsSession checks that a run cancelled while it
// stages still completes its session, so that the worker frees the slot at
// once instead of at its next heartbeat, and does not start its stages
// again on another worker.
func TestCancelledRunCompletesItsSession(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	// The input's store never answers: the run stays in Ingest until it is
	// cancelled.
	open := func(ctx context.Context, uri string) (storage.Store, string, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-unblock:
		case <-ctx.Done():
		}
		return nil, "", errors.New("the test's input store is gone")
	}
	e.StartWorkers([]string{"overlap"}, harness.WorkerOptions{Open: open, MaxConcurrentSessions: 1})
	t.Cleanup(func() { close(unblock) })
	p := harness.TinyProduct(t, t.TempDir(), "sales", "cancelled", "overlap")
	p.Inputs[0].URI = "s3://elsewhere/orders.csv"
	run := e.Start(p, "1", "ana")
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatalf("the run never read its input\n%s", e.Explain(run.GetID()))
	}
	if err := e.Temporal.CancelWorkflow(t.Context(), run.GetID(), run.GetRunID()); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Result(run, time.Minute); !temporal.IsCanceledError(err) {
		t.Fatalf("the cancelled run ended %+v, %v; want it cancelled", res, err)
	}
	e.record("cancelled-while-staging", run.GetID(), run.GetRunID())
	evs := history(t, e, run)
	if completedActivities(t, e, run, sessionCompletion) == 0 {
		t.Errorf("the cancelled run did not complete its session: %v", scheduledBy(evs))
	}
	if n := scheduledBy(evs); n[sessionCreation] == 0 {
		t.Fatalf("the run asked for no session: %v", n)
	}
	if n := scheduledActivities(t, e, run, sessionCreation); n != 1 {
		t.Errorf("the cancelled run asked for %d sessions; want it not to start again elsewhere", n)
	}
}
