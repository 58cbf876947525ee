package activities

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// scratchProduct is a product reading one CSV file of rows rows.
func scratchProduct(t *testing.T, rows int, sql string) refresh.Product {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,amount\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,%d.5\n", i, i%1000)
	}
	f := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return refresh.Product{Domain: "sales", Name: "orders", Inputs: []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(f), Format: "csv"}}, SQL: sql}
}

func wantScratchExceeded(t *testing.T, err error, what string) {
	t.Helper()
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	if !ok || appErr.Type() != refresh.ErrScratch || !appErr.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable %s", err, refresh.ErrScratch)
	}
	if !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "raise --scratch-limit") {
		t.Fatalf("error %q does not name %q and what to change", err, what)
	}
}

// TestScratchBudget: a run whose snapshot, transform output or DuckDB spill
// files outgrow ScratchPerRun ends with ErrScratch naming the stage, and an
// interrupted snapshot leaves no partial file behind.
func TestScratchBudget(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	a := &Activities{Store: st, Scratch: scratch, Threads: 1}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	env.RegisterActivity(a.Transform)

	t.Run("snapshot", func(t *testing.T) {
		a.ScratchPerRun = 16 << 10
		p := applyProducts(t, st, scratchProduct(t, 20000, "SELECT * FROM orders"))[0]
		_, err := env.ExecuteActivity(runAs(a, "run-snapshot").Ingest, refresh.IngestInput{Product: p, RunID: "run-snapshot"})
		wantScratchExceeded(t, err, "the snapshot of input orders")
		if used := a.scratchUsed("run-snapshot"); used != 0 {
			t.Fatalf("the interrupted snapshot left %d bytes in scratch", used)
		}
	})

	// ingest snapshots p's input with no bound, then runs its transform within
	// budget bytes.
	transform := func(t *testing.T, runID string, p refresh.Product, budget int64) error {
		a.ScratchPerRun = 0
		p = applyProducts(t, st, p)[0]
		runAs(a, runID)
		v, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: runID})
		if err != nil {
			t.Fatalf("ingest: %v", err)
		}
		var ing refresh.IngestResult
		if err := v.Get(&ing); err != nil {
			t.Fatal(err)
		}
		a.ScratchPerRun = budget
		_, err = env.ExecuteActivity(a.Transform, refresh.TransformInput{Product: p, RunID: runID, Inputs: ing.Inputs})
		return err
	}
	t.Run("output", func(t *testing.T) {
		p := scratchProduct(t, 10, "SELECT range AS n, md5(range::VARCHAR) AS h FROM range(200000)")
		wantScratchExceeded(t, transform(t, "run-output", p, 1<<20), "the transform's output of 200000 rows")
		if err := transform(t, "run-output-fits", p, 64<<20); err != nil {
			t.Fatalf("the same transform within 64 MiB: %v", err)
		}
	})
	t.Run("spill", func(t *testing.T) {
		a.MemoryLimit = "256MB"
		defer func() { a.MemoryLimit = "" }()
		p := scratchProduct(t, 10, "SELECT range AS n, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS h FROM range(6000000) ORDER BY h")
		wantScratchExceeded(t, transform(t, "run-spill", p, 2<<20), "DuckDB's spill files")
	})
}
