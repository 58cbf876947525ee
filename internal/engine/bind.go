package engine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
)

// Table is a table a query may read, by its columns.
type Table struct {
	Name    string
	Columns []Column
}

// BindError is a query that does not bind over the tables it was given: a
// column or table it names does not exist, or types do not fit.
type BindError struct{ Message string }

func (e *BindError) Error() string { return e.Message }

// Bind checks, without running it, that query binds over empty tables with the
// given columns, in a sandboxed DuckDB of its own that reads no file. It
// returns the query's output columns, or a *BindError.
func Bind(ctx context.Context, scratch string, tables []Table, query string) ([]Column, error) {
	db, err := Open(ctx, scratch, 1, "256MB", 0)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, t := range tables {
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, Ident(c.Name)+" "+c.Type)
		}
		if len(cols) == 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE "+Ident(t.Name)+" ("+strings.Join(cols, ", ")+")"); err != nil {
			return nil, fmt.Errorf("create table %s for binding: %w", t.Name, err)
		}
	}
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	cols, err := db.describe(ctx, q)
	if err != nil {
		if _, ok := err.(describeError); ok {
			return nil, &BindError{Message: cleanError(err)}
		}
		return nil, err
	}
	return cols, nil
}

// describeError is DuckDB refusing to describe a query: it does not bind.
type describeError struct{ error }

// describe returns the columns a query would have, by DuckDB's DESCRIBE, without
// running it; a query that does not bind is a describeError.
func (d *DB) describe(ctx context.Context, query string) ([]Column, error) {
	rows, err := d.QueryContext(ctx, "DESCRIBE "+query)
	if err != nil {
		return nil, describeError{err}
	}
	defer rows.Close()
	var out []Column
	for rows.Next() {
		var name, typ string
		var rest [4]any // null, key, default, extra
		if err := rows.Scan(&name, &typ, &rest[0], &rest[1], &rest[2], &rest[3]); err != nil {
			return nil, err
		}
		out = append(out, Column{Name: name, Type: typ})
	}
	return out, rows.Err()
}

// DescribeInput returns the columns DuckDB reads from an input's local files,
// sniffing a sample of each rather than reading it whole.
func (d *DB) DescribeInput(ctx context.Context, in Input) ([]Column, error) {
	var files []string
	for _, f := range in.Files {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
			files = append(files, Quote(f))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("input %s has no file with data", in.Name)
	}
	list := "[" + strings.Join(files, ", ") + "]"
	var src string
	switch in.Format {
	case refresh.FormatCSV:
		header := in.Header == nil || *in.Header
		delim := in.Delimiter
		if delim == "" {
			delim = ","
		}
		src = fmt.Sprintf("read_csv(%s, header = %t, delim = %s)", list, header, Quote(delim))
	case refresh.FormatJSON:
		src = fmt.Sprintf("read_json(%s, format = 'auto')", list)
	case refresh.FormatParquet:
		src = fmt.Sprintf("read_parquet(%s)", list)
	default:
		return nil, fmt.Errorf("input %s: unsupported format %q", in.Name, in.Format)
	}
	cols, err := d.describe(ctx, "SELECT * FROM "+src)
	if err != nil {
		return nil, &DataError{Input: in.Name, Err: err}
	}
	return cols, nil
}
