package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// ticksPerRate makes the transform of the fx-ticks product slow enough to kill
// a worker in the middle of it: every rate of the finance example is repeated
// this many times.
const ticksPerRate = 200_000

const fxTicksContract = `apiVersion: v3.1.0
kind: DataContract
id: fx-ticks
version: 1.0.0
status: active
schema:
  - name: fx_ticks
    properties:
      - {name: day, logicalType: date, required: true}
      - {name: currency, logicalType: string, required: true}
      - {name: usd_rate, logicalType: number, required: true, quality: [{type: custom, engine: cel, implementation: "usd_rate > 0.0"}]}
      - {name: tick, logicalType: integer, required: true}
`

// TestWorkerKilledMidTransform kills the real `meshflow worker` process while it
// runs a refresh's transform. The run finishes once another worker polls the
// queue: the staging session starts again on it, and exactly one version is
// published, complete and checked.
func TestWorkerKilledMidTransform(t *testing.T) {
	bin := harness.BuildMeshflow(t)
	storeDir := t.TempDir()
	st, err := storage.OpenLocal(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st)
	const queue = "e2e-kill"
	fx := filepath.Join(meshtest.Example(t), "data", "finance", "fx.csv")
	rates := countLines(t, fx) - 1
	p := refresh.Product{Domain: "e2e", Name: "fx-ticks", Owner: "finance-data", TaskQueue: queue,
		Inputs:   []refresh.Input{{Name: "rates", URI: "file://" + filepath.ToSlash(fx), Format: "csv"}},
		SQL:      fmt.Sprintf("SELECT r.day, r.currency, r.usd_rate, g.i AS tick FROM rates r CROSS JOIN range(%d) g(i)", ticksPerRate),
		Contract: fxTicksContract, ContractFile: "fx-ticks.odcs.yaml", Governance: refresh.Governance{Approval: "never"}}

	scratch := t.TempDir()
	w := harness.StartProcess(t, bin, "worker", "--temporal-address", e.Addr, "--namespace", "default",
		"--store", storeDir, "--task-queues", queue, "--scratch", scratch, "-v")
	run := e.startProduct(p, "kill", "ana")
	started := time.Now()

	// Wait until the worker process really runs the transform: the activity is
	// started by that process, and DuckDB's scratch folder of the run exists.
	transformDir := filepath.Join(scratch, run.GetRunID(), "transform")
	identity := fmt.Sprintf("/%d/%s", w.Pid(), queue)
	testwait.For(t, 2*time.Minute, "the worker process to run the transform", func() bool {
		st, err := e.Control.Status(t.Context(), run.GetID(), "")
		if err != nil || st.Stage != refresh.StageTransforming {
			return false
		}
		d, err := e.Temporal.DescribeWorkflowExecution(t.Context(), run.GetID(), "")
		if err != nil {
			return false
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == refresh.ActivityTransform && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED &&
				strings.HasSuffix(a.GetLastWorkerIdentity(), identity) {
				_, err := os.Stat(transformDir)
				return err == nil
			}
		}
		return false
	})
	w.Kill(t)
	t.Logf("worker process killed %s after the start, in the transform", time.Since(started).Round(time.Millisecond))

	// The killed worker never finished its transform.
	if n := completedActivities(t, e, run, refresh.ActivityTransform); n != 0 {
		t.Fatalf("the transform completed %d time(s) before the worker was killed; the test must kill it mid-transform", n)
	}

	e.startWorkers([]string{queue}, nil)
	res, err := e.Result(run, 4*time.Minute)
	if err != nil || res.Stage != refresh.StagePublished || res.Version != "1.0.0" {
		t.Fatalf("after the worker was killed: got %+v, %v; want published 1.0.0\n%s", res, err, e.Explain(run.GetID()))
	}
	t.Logf("published %s after the start", time.Since(started).Round(time.Millisecond))

	// The session was started again and the transform ran again, on the new worker.
	sessions, transforms := scheduledActivities(t, e, run, "internalSessionCreationActivity"), scheduledActivities(t, e, run, refresh.ActivityTransform)
	if sessions < 2 || transforms < 2 {
		t.Errorf("history: %d staging sessions and %d transforms scheduled; want at least 2 of each after the kill", sessions, transforms)
	}
	if n := completedActivities(t, e, run, refresh.ActivityTransform); n != 1 {
		t.Errorf("history: %d completed transforms, want 1", n)
	}

	entry, err := catalog.Show(t.Context(), st, p.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(entry.Versions, ",") != "1.0.0" || entry.Latest.RunID != run.GetRunID() {
		t.Fatalf("versions %v (latest by run %s); want exactly 1.0.0 by run %s", entry.Versions, entry.Latest.RunID, run.GetRunID())
	}
	// No claimed-but-lost version either: every object of the product belongs to
	// 1.0.0 or is its latest pointer or the pointer to the newest 1.x.
	objs, err := st.List(t.Context(), p.Ref()+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Key != layout.LatestKey(p.Ref()) && o.Key != layout.MajorKey(p.Ref(), 1) && !strings.HasPrefix(o.Key, layout.VersionPrefix(p.Ref(), "1.0.0")+"/") {
			t.Errorf("object %s belongs to no published version", o.Key)
		}
	}
	m := entry.Latest
	if got := sha(t, st, m.Data.Key); got != m.Data.SHA256 {
		t.Errorf("data checksum %s, manifest says %s", got, m.Data.SHA256)
	}
	q := m.Quality
	want := int64(rates * ticksPerRate)
	if q.RowsIn != want || q.RowsIn != q.RowsOut+q.Quarantined || q.Quarantined != 0 {
		t.Errorf("rows in %d, out %d, quarantined %d; want %d in, all out", q.RowsIn, q.RowsOut, q.Quarantined, want)
	}
	noStaging(t, st)
}

// history returns the events of a run.
func history(t *testing.T, e *env, run client.WorkflowRun) []*historypb.HistoryEvent {
	t.Helper()
	it := e.Temporal.GetWorkflowHistory(t.Context(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var evs []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", run.GetID(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// scheduledActivities counts the activities of a type a run scheduled.
func scheduledActivities(t *testing.T, e *env, run client.WorkflowRun, activityType string) int {
	t.Helper()
	n := 0
	for _, ev := range history(t, e, run) {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activityType {
			n++
		}
	}
	return n
}

// completedActivities counts the activities of a type a run scheduled that
// completed.
func completedActivities(t *testing.T, e *env, run client.WorkflowRun, activityType string) int {
	t.Helper()
	scheduled := map[int64]bool{}
	n := 0
	for _, ev := range history(t, e, run) {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activityType {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			n++
		}
	}
	return n
}

// countLines counts the lines of a text file.
func countLines(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}
