package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays the histories of real runs (recorded by the
// end-to-end tests with -record-histories) against the current workflow code: a
// change that would make old runs non-deterministic fails here, before a deploy
// strands the runs waiting for approval. testdata/histories holds runs of the
// current code; each folder below it, runs of the code before a GetVersion
// change (before-provenance: before ChangeManifestProvenance), which must replay
// on their old path.
func TestReplayRecordedHistories(t *testing.T) {
	for _, dir := range []string{"histories", filepath.Join("histories", "before-provenance")} {
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
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
					t.Fatalf("replay %s: %v", f, err)
				}
			})
		}
	}
}
