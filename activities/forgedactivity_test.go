package activities

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TestForgedActivityInputsAreRefused: activities scheduled by a workflow
// other than meshflow's, with a run ID that climbs out of the scratch (which
// would widen DuckDB's sandbox to the worker's disk) or a transform whose
// staged inputs are another product's published objects, are refused as
// unauthorized before anything is read or written.
func TestForgedActivityInputsAreRefused(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret, err := st.Put(t.Context(), "other/secret/v1.0.0/data.csv", strings.NewReader("id\n1\n"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(csv, []byte("id\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Join(t.TempDir(), "scratch")
	a := &Activities{Store: st, Scratch: scratch, Threads: 1}
	p := applyProducts(t, st, refresh.Product{Domain: "sec", Name: "p", SQL: "SELECT * FROM orders",
		Inputs: []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(csv), Format: refresh.FormatCSV}}})[0]
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	env.RegisterActivity(a.Transform)
	want := func(what string, err error) {
		t.Helper()
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized {
			t.Errorf("%s: %v; want %s", what, err, refresh.ErrUnauthorized)
		}
	}
	for _, runID := range []string{"../..", "..", "a/../../b", ""} {
		_, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: runID})
		want("Ingest with run ID "+runID, err)
		_, err = env.ExecuteActivity(a.Transform, refresh.TransformInput{Product: p, RunID: runID})
		want("Transform with run ID "+runID, err)
	}
	runAs(a, "run-1")
	stolen := []refresh.StagedInput{{Name: "orders", Format: refresh.FormatCSV, Objects: []refresh.ObjectRef{{Key: secret.Key, Size: secret.Size, SHA256: secret.SHA256}}}}
	_, err = env.ExecuteActivity(a.Transform, refresh.TransformInput{Product: p, RunID: "run-1", Inputs: stolen})
	want("Transform of another product's data", err)
	if _, err := os.Stat(filepath.Join(scratch, "run-1", "inputs")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused transform downloaded its inputs: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(scratch)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(scratch)); len(entries) != 0 {
		t.Errorf("the refused activities wrote next to the scratch: %v", entries)
	}
}
