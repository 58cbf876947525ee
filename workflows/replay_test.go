package workflows

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays the histories of real runs (recorded by the
// end-to-end tests with -record-histories) against the current workflow code: a
// change that would make old runs non-deterministic fails here, before a deploy
// strands the runs waiting for approval. testdata/histories holds runs of the
// current code; each folder below it, runs of the code before a GetVersion
// change (before-provenance: before ChangeManifestProvenance;
// before-mesh-revision: before ChangeMeshRevision; before-unchanged: before
// ChangeUnchanged and ChangeSupersede; before-fewer-steps: before
// ChangeFewerSteps; before-overlap: ChangeBaseline's version 1, before
// BaselineOverlap), which must replay on their old path.
func TestReplayRecordedHistories(t *testing.T) {
	for _, dir := range []string{"histories", filepath.Join("histories", "before-provenance"), filepath.Join("histories", "before-mesh-revision"),
		filepath.Join("histories", "before-unchanged"), filepath.Join("histories", "before-fewer-steps"),
		filepath.Join("histories", "before-overlap")} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 3 {
			t.Fatalf("found %d recorded histories in testdata/%s, want the published, approved and failed paths (go test ./test/e2e -record-histories)", len(files), dir)
		}
		for _, f := range files {
			t.Run(filepath.Join(dir, filepath.Base(f)), func(t *testing.T) {
				r := worker.NewWorkflowReplayer()
				Register(r)
				if err := replay(r, f); err != nil {
					t.Fatalf("replay %s: %v", f, err)
				}
			})
		}
	}
}

// replay replays the history in file under the workflow ID recorded next to it
// (<name>.workflow-id): runs verify signatures that name their workflow ID.
// Histories recorded before the ID was kept replay under the replayer's own.
func replay(r worker.WorkflowReplayer, file string) error {
	id, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".workflow-id")
	if errors.Is(err, fs.ErrNotExist) {
		return r.ReplayWorkflowHistoryFromJSONFile(nil, file)
	}
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: strings.TrimSpace(string(id))}})
}
