package activities

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sync/atomic"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"go.temporal.io/sdk/temporal"
)

// Transform runs the product's SQL in DuckDB over the staged inputs and stages the
// result as Parquet. Malformed input rows and SQL errors end the run with a
// non-retryable error that says which input or what in the SQL.
func (a *Activities) Transform(ctx context.Context, in refresh.TransformInput) (refresh.TransformResult, error) {
	res, err := a.transform(ctx, in)
	return res, a.scratchErr(in.Product.Ref(), "the transform", err)
}

func (a *Activities) transform(ctx context.Context, in refresh.TransformInput) (refresh.TransformResult, error) {
	var res refresh.TransformResult
	var progress atomic.Value
	progress.Store("loading inputs")
	stop := heartbeat(ctx, func() any { return progress.Load() })
	defer stop()

	inputFiles := map[string][]string{}
	for _, input := range in.Inputs {
		for _, obj := range input.Objects {
			// The staged name keeps the snapshot's number, format and
			// compression suffix (0000.csv.gz), by which the engine reads it.
			file := a.scratchDir(in.RunID, "inputs", input.Name, path.Base(obj.Key))
			if err := a.download(ctx, obj, file); err != nil {
				return res, err
			}
			inputFiles[input.Name] = append(inputFiles[input.Name], file)
		}
	}
	if err := a.checkScratch(in.Product.Ref(), in.RunID, "the snapshot of its inputs"); err != nil {
		return res, err
	}
	db, err := a.openEngine(ctx, in.RunID, "transform")
	if err != nil {
		return res, err
	}
	defer db.Close()
	var copyBudget int64
	if left, limited := a.scratchLeft(in.RunID); limited {
		copyBudget = max(1, left)
	}
	for _, input := range in.Inputs {
		files := inputFiles[input.Name]
		var spec refresh.Input
		for _, i := range in.Product.Inputs {
			if i.Name == input.Name {
				spec = i
			}
		}
		rows, err := db.LoadInput(ctx, engine.Input{Name: input.Name, Format: input.Format, Files: files, Delimiter: spec.Delimiter, Header: spec.Header, BadRows: spec.BadRows, MaxCopyBytes: copyBudget})
		if err != nil {
			if errors.Is(err, engine.ErrCopyTooLarge) {
				return res, a.scratchExceeded(in.Product.Ref(), "the readable copy of input "+input.Name)
			}
			if de, ok := errors.AsType[*engine.DataError](err); ok {
				return res, badInput("%s (source %s)", de.Error(), input.Source)
			}
			return res, err
		}
		progress.Store(fmt.Sprintf("loaded input %s: %d rows", input.Name, rows))
	}
	if err := a.stageRejects(ctx, db, in.Product.Ref(), in.RunID); err != nil {
		return res, err
	}
	progress.Store("running the transform SQL")
	rows, err := db.Run(ctx, "candidate", in.Product.SQL)
	if err != nil {
		if se, ok := errors.AsType[*engine.SQLError](err); ok {
			return res, temporal.NewNonRetryableApplicationError("transform SQL: "+se.Error(), refresh.ErrTransform, nil)
		}
		return res, err
	}
	progress.Store(fmt.Sprintf("writing %d rows", rows))
	cols, err := db.Columns(ctx, "candidate")
	if err != nil {
		return res, err
	}
	file := filepath.Join(a.scratchDir(in.RunID), "candidate.parquet")
	if err := db.WriteParquet(ctx, "candidate", file); err != nil {
		return res, err
	}
	if err := a.checkScratch(in.Product.Ref(), in.RunID, fmt.Sprintf("the transform's output of %d rows", rows)); err != nil {
		return res, err
	}
	obj, err := a.upload(ctx, file, layout.StagedKey(in.Product.Ref(), in.RunID, layout.Candidate))
	if err != nil {
		return res, err
	}
	res.Candidate, res.Rows = obj, rows
	for _, c := range cols {
		res.Columns = append(res.Columns, refresh.Column{Name: c.Name, Type: c.Type})
	}
	return res, nil
}

// stageRejects stages the input lines the loads set aside, if any, where
// Validate finds them.
func (a *Activities) stageRejects(ctx context.Context, db *engine.DB, ref, runID string) error {
	n, err := db.Rejected(ctx)
	if err != nil || n == 0 {
		return err
	}
	file := filepath.Join(a.scratchDir(runID), layout.Rejects)
	if err := db.WriteParquet(ctx, engine.RejectsTable, file); err != nil {
		return err
	}
	_, err = a.upload(ctx, file, layout.StagedKey(ref, runID, layout.Rejects))
	return err
}
