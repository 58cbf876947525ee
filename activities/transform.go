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

	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	if err := checkStagedInputs(in.Product.Ref(), in.RunID, in.Inputs); err != nil {
		return res, err
	}
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
	for _, input := range in.Inputs {
		var spec refresh.Input
		for _, i := range in.Product.Inputs {
			if i.Name == input.Name {
				spec = i
			}
		}
		spec.Format = input.Format
		if err := a.loadInput(ctx, db, in.Product, spec, inputFiles[input.Name], in.RunID, input.Source); err != nil {
			return res, err
		}
		progress.Store("loaded input " + input.Name)
	}
	if err := a.stageRejects(ctx, db, in.Product.Ref(), in.RunID); err != nil {
		return res, err
	}
	progress.Store("running the transform SQL")
	rows, err := db.Run(ctx, "candidate", in.Product.SQL)
	if err != nil {
		return res, transformErr(err)
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

// loadInput loads the local files of an input into the engine as a table named
// after the input, within the run's scratch budget. Rows that are not rows fail
// with a non-retryable error naming the file and line.
// Errors name source, the input's origin, when it is set.
func (a *Activities) loadInput(ctx context.Context, db *engine.DB, p refresh.Product, input refresh.Input, files []string, runID, source string) error {
	var copyBudget int64
	if left, limited := a.scratchLeft(runID); limited {
		copyBudget = max(1, left)
	}
	format := input.Format
	if input.Product != "" {
		format = refresh.FormatParquet
	}
	_, err := db.LoadInput(ctx, engine.Input{Name: input.Name, Format: format, Files: files, Delimiter: input.Delimiter, Header: input.Header, BadRows: input.BadRows, MaxCopyBytes: copyBudget})
	if errors.Is(err, engine.ErrCopyTooLarge) {
		return a.scratchExceeded(p.Ref(), "the readable copy of input "+input.Name)
	}
	if de, ok := errors.AsType[*engine.DataError](err); ok {
		if source != "" {
			return badInput("%s (source %s)", de.Error(), source)
		}
		return badInput("%s", de.Error())
	}
	return err
}

// transformErr makes an error of the transform SQL non-retryable.
func transformErr(err error) error {
	if se, ok := errors.AsType[*engine.SQLError](err); ok {
		return temporal.NewNonRetryableApplicationError("transform SQL: "+se.Error(), refresh.ErrTransform, nil)
	}
	return err
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
