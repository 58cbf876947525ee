package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync/atomic"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/pgsnap"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
)

// postgresSourceName says what a PostgreSQL input read, for the staged input's
// source: the URI without user information or parameters, and the table or
// query.
func postgresSourceName(in refresh.Input) string {
	uri := in.URI
	if u, err := url.Parse(uri); err == nil {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		uri = u.String()
	} else {
		uri = "a PostgreSQL uri"
	}
	if in.Table != "" {
		return uri + " table " + in.Table
	}
	return uri + " query"
}

// snapshotPostgres copies a PostgreSQL table or query, read in one REPEATABLE
// READ transaction, into a Parquet file of the run's scratch with the columns'
// types, and stages it. Credentials come from the worker's PG* environment.
func (a *Activities) snapshotPostgres(ctx context.Context, ref, runID string, input refresh.Input) (refresh.ObjectRef, error) {
	csvFile := a.scratchDir(runID, "inputs", input.Name, "snapshot.csv")
	if err := os.MkdirAll(a.scratchDir(runID, "inputs", input.Name), 0o755); err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("input %s: %w", input.Name, err)
	}
	defer os.Remove(csvFile)
	f, err := os.Create(csvFile)
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("input %s: %w", input.Name, err)
	}
	w := &countWriter{w: f, left: -1}
	if left, limited := a.scratchLeft(runID); limited {
		w.left = left
	}
	stop := heartbeat(ctx, func() any {
		return fmt.Sprintf("input %s: %s of rows read from PostgreSQL", input.Name, sizeText(w.n.Load()))
	})
	cols, rows, err := pgsnap.Snapshot(ctx, pgsnap.Source{URI: input.URI, Table: input.Table, Query: input.Query, Hosts: a.PostgresHosts}, w)
	stop()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errScratchFull) {
		return refresh.ObjectRef{}, a.scratchExceeded(ref, fmt.Sprintf("the snapshot of input %s (PostgreSQL)", input.Name))
	}
	if pgErr, ok := errors.AsType[*pgsnap.Error](err); ok {
		return refresh.ObjectRef{}, badInput("input %s: %s", input.Name, pgErr.Msg)
	}
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("input %s: %w", input.Name, err)
	}

	db, err := a.openEngine(ctx, runID, "ingest-"+input.Name)
	if err != nil {
		return refresh.ObjectRef{}, err
	}
	defer os.RemoveAll(a.scratchDir(runID, "ingest-"+input.Name))
	defer db.Close()
	tcols := make([]engine.TextColumn, len(cols))
	for i, c := range cols {
		tcols[i] = engine.TextColumn{Name: c.Name, Type: c.Type, Hex: c.Hex}
	}
	n, err := db.LoadTypedCSV(ctx, "snapshot", csvFile, tcols)
	if err != nil {
		if ctx.Err() != nil {
			return refresh.ObjectRef{}, ctx.Err()
		}
		if _, ok := errors.AsType[*engine.DataError](err); ok {
			return refresh.ObjectRef{}, badInput("input %s: the rows PostgreSQL sent do not convert: %v", input.Name, errors.Unwrap(err))
		}
		return refresh.ObjectRef{}, a.scratchErr(ref, "the snapshot of input "+input.Name, err)
	}
	if n != rows {
		return refresh.ObjectRef{}, fmt.Errorf("input %s: PostgreSQL sent %d rows, the snapshot holds %d", input.Name, rows, n)
	}
	file := a.scratchDir(runID, "inputs", input.Name, "0000.parquet")
	if err := db.WriteParquet(ctx, "snapshot", file); err != nil {
		return refresh.ObjectRef{}, a.scratchErr(ref, "the snapshot of input "+input.Name, fmt.Errorf("input %s: %w", input.Name, err))
	}
	if err := a.checkScratch(ref, runID, "the snapshot of input "+input.Name); err != nil {
		return refresh.ObjectRef{}, err
	}
	a.logger().Info("postgresql input snapshotted", "product", ref, "input", input.Name, "source", postgresSourceName(input), "rows", rows, "columns", len(cols))
	return a.upload(ctx, file, layout.StagedInputKey(ref, runID, input.Name, 0, string(refresh.FormatParquet)))
}

// countWriter counts what passes and, when left >= 0, fails with
// errScratchFull once more than left bytes were written.
type countWriter struct {
	w    io.Writer
	n    atomic.Int64
	left int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.left >= 0 && c.n.Load()+int64(len(p)) > c.left {
		return 0, errScratchFull
	}
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
