package e2e

import (
	"flag"
	"os"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

var recordHistories = flag.Bool("record-histories", false,
	"write the histories of the runs these tests make to workflows/testdata/histories, for the replay tests")

// record writes the history of a finished run for the workflows package's replay
// test, when -record-histories is set.
func (e *env) record(name, workflowID, runID string) {
	e.T.Helper()
	if !*recordHistories {
		return
	}
	it := e.Temporal.GetWorkflowHistory(e.T.Context(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.T.Fatalf("read history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		e.T.Fatal(err)
	}
	dir := filepath.Join("..", "..", "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		e.T.Fatal(err)
	}
	// The run's workflow ID is not in its history, and signed requests and
	// decisions name it: the replay test replays the run under its own ID.
	if err := os.WriteFile(filepath.Join(dir, name+".workflow-id"), []byte(workflowID+"\n"), 0o644); err != nil {
		e.T.Fatal(err)
	}
}
