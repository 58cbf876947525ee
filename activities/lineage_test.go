package activities

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/interop/openlineage"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/testsuite"
)

func outboxEvent(t *testing.T, st storage.Store, runID string, seq int) openlineage.RunEvent {
	t.Helper()
	r, _, err := st.Get(context.Background(), layout.LineageOutboxKey(runID, seq))
	if err != nil {
		t.Fatalf("event %d of %s: %v", seq, runID, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var ev openlineage.RunEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestLineageEvents: with lineage on, Ingest leaves a START and the cleanup of
// a failed run a FAIL in the outbox; a retried Ingest leaves the first START;
// with no sender at all (the receiver down), the activities succeed. With
// lineage off, nothing is written.
func TestLineageEvents(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st, Scratch: t.TempDir(), Threads: 1, Lineage: &openlineage.Naming{Mesh: "acme"}}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	env.RegisterActivity(a.CleanupStaging)
	p := applyProducts(t, st, scratchProduct(t, 10, "SELECT id, amount FROM orders"))[0]
	const run = "run-lineage"
	runAs(a, run)
	if _, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: run}); err != nil {
		t.Fatal(err)
	}
	first := outboxEvent(t, st, run, openlineage.SeqStart)
	if first.EventType != openlineage.Start || first.Job.Namespace != "acme" || first.Job.Name != "sales/orders" ||
		len(first.Inputs) != 1 || first.Inputs[0].Namespace != "file" {
		t.Fatalf("START = %+v", first)
	}
	if _, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: run}); err != nil {
		t.Fatal(err)
	}
	if again := outboxEvent(t, st, run, openlineage.SeqStart); !again.EventTime.Equal(first.EventTime) {
		t.Fatal("a retried Ingest replaced the START event")
	}
	if _, err := env.ExecuteActivity(a.CleanupStaging, refresh.CleanupInput{Ref: p.Ref(), RunID: run, Stage: refresh.StageFailed}); err != nil {
		t.Fatal(err)
	}
	end := outboxEvent(t, st, run, openlineage.SeqEnd)
	if end.EventType != openlineage.Fail || end.Run.RunID != first.Run.RunID || end.Run.Facets == nil ||
		!strings.Contains(end.Run.Facets.ErrorMessage.Message, "while transforming") {
		t.Fatalf("FAIL = %+v", end)
	}

	// With the run's status at hand, the FAIL event carries the run's own error.
	a.RunStatus = func(context.Context, string, string) (refresh.Status, error) {
		return refresh.Status{Error: "input orders: line 3: wrong number of fields"}, nil
	}
	const run2 = "run-lineage-2"
	runAs(a, run2)
	if _, err := env.ExecuteActivity(a.CleanupStaging, refresh.CleanupInput{Ref: p.Ref(), RunID: run2, Stage: refresh.StageFailed}); err != nil {
		t.Fatal(err)
	}
	if end := outboxEvent(t, st, run2, openlineage.SeqEnd); end.Run.Facets == nil || end.Run.Facets.ErrorMessage.Message != "input orders: line 3: wrong number of fields" {
		t.Fatalf("FAIL with the run's status = %+v", end.Run.Facets)
	}
	a.RunStatus = nil

	off := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-off")
	env.RegisterActivity(off.Ingest)
	if _, err := env.ExecuteActivity(off.Ingest, refresh.IngestInput{Product: p, RunID: "run-off"}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := st.List(context.Background(), layout.LineageOutboxPrefix+"run-off/"); len(objs) != 0 {
		t.Fatalf("lineage off wrote %v", objs)
	}
}
