package engine

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
	return db.bind(ctx, tables, query)
}

// Binder binds queries one after another in one DuckDB instance, each over
// tables of its own, which a transaction holds and rolls back: checking a
// mesh of many products costs one instance, not one per product.
type Binder struct {
	scratch string
	db      *DB
}

// NewBinder returns a Binder whose instance keeps its files in scratch; it
// opens the instance with the first Bind.
func NewBinder(scratch string) *Binder { return &Binder{scratch: scratch} }

// Bind is engine.Bind in b's instance.
func (b *Binder) Bind(ctx context.Context, tables []Table, query string) ([]Column, error) {
	if b.db == nil {
		db, err := Open(ctx, b.scratch, 1, "256MB", 0)
		if err != nil {
			return nil, err
		}
		b.db = db
	}
	if _, err := b.db.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, err
	}
	cols, err := b.db.bind(ctx, tables, query)
	if _, rerr := b.db.ExecContext(ctx, "ROLLBACK"); rerr != nil {
		// The tables may outlive the query: the next Bind starts afresh.
		b.Close()
	}
	return cols, err
}

// Close closes b's instance, if it opened one.
func (b *Binder) Close() {
	if b.db != nil {
		_ = b.db.Close()
		b.db = nil
	}
}

// bind creates tables, empty, and describes query over them.
func (d *DB) bind(ctx context.Context, tables []Table, query string) ([]Column, error) {
	for _, t := range tables {
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, Ident(c.Name)+" "+c.Type)
		}
		if len(cols) == 0 {
			continue
		}
		if _, err := d.ExecContext(ctx, "CREATE TABLE "+Ident(t.Name)+" ("+strings.Join(cols, ", ")+")"); err != nil {
			return nil, fmt.Errorf("create table %s for binding: %w", t.Name, err)
		}
	}
	cols, err := d.describe(ctx, trimQuery(query))
	if err != nil {
		if _, ok := err.(describeError); ok {
			return nil, &BindError{Message: cleanError(err)}
		}
		return nil, err
	}
	return cols, nil
}

func trimQuery(query string) string {
	return strings.TrimRight(strings.TrimSpace(query), ";")
}

// TableColumn is a column of one of the tables a query reads.
type TableColumn struct {
	Table  string `json:"table"`
	Column string `json:"column"`
}

// ColumnLineage is an output column of a query and the columns of its tables
// that DuckDB reads to compute it.
type ColumnLineage struct {
	Column
	Reads []TableColumn
}

// Lineage binds query over empty tables like Bind and returns, for each of its
// output columns, the table columns it reads: the column lineage of the SQL.
//
// DuckDB works it out, not a parser of ours. For output column i, Lineage asks
// for the plan of SELECT #i FROM (query): DuckDB's unused-columns optimizer
// then drops from every table scan the columns that output does not need, so
// the columns each scan still projects are exactly those the value of column i
// depends on, through expressions, joins, filters, grouping, ordering and
// window clauses alike (a column a WHERE clause reads counts for every output
// column: it decides which rows there are). Every other optimizer is off in
// this database: with them, DuckDB would fold the scans of empty tables into
// empty results, push filters into scans (where their columns no longer show
// as projected) or drop joins whose columns are unused, and the plan would
// not say what the SQL reads. Where DuckDB does not prune, Lineage names more
// than an output needs, never less: a CTE that DuckDB materialises because the
// query names it twice is read whole, and so is a window's input, so their
// columns count for every output column that reads them. A query that does not
// bind is a *BindError.
func Lineage(ctx context.Context, scratch string, tables []Table, query string) ([]ColumnLineage, error) {
	db, err := open(ctx, scratch, 1, "256MB", 0, onlyColumnPruning, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	cols, err := db.bind(ctx, tables, query)
	if err != nil {
		return nil, err
	}
	q := trimQuery(query)
	out := make([]ColumnLineage, len(cols))
	for i, c := range cols {
		var plan string
		row := db.QueryRowContext(ctx, fmt.Sprintf("EXPLAIN (FORMAT JSON) SELECT #%d FROM (%s\n)", i+1, q))
		var kind string
		if err := row.Scan(&kind, &plan); err != nil {
			return nil, fmt.Errorf("plan output column %s: %w", c.Name, err)
		}
		reads, err := scannedColumns(plan)
		if err != nil {
			return nil, fmt.Errorf("read the plan of output column %s: %w", c.Name, err)
		}
		out[i] = ColumnLineage{Column: c, Reads: reads}
	}
	return out, nil
}

// keptOptimizers are the DuckDB optimizers Lineage leaves on: those that
// prune the columns nothing reads, and the inlining of CTEs named once, which
// lets the pruning see through them.
var keptOptimizers = []string{"unused_columns", "column_lifetime", "cte_inlining"}

// onlyColumnPruning turns off every DuckDB optimizer but keptOptimizers.
func onlyColumnPruning(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT name FROM duckdb_optimizers() ORDER BY name")
	if err != nil {
		return fmt.Errorf("list the optimizers: %w", err)
	}
	defer rows.Close()
	var off []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !slices.Contains(keptOptimizers, name) {
			off = append(off, name)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "SET disabled_optimizers = "+Quote(strings.Join(off, ","))); err != nil {
		return fmt.Errorf("turn optimizers off: %w", err)
	}
	return nil
}

// planNode is an operator of a plan as EXPLAIN (FORMAT JSON) writes it.
type planNode struct {
	Name      string                     `json:"name"`
	Children  []planNode                 `json:"children"`
	ExtraInfo map[string]json.RawMessage `json:"extra_info"`
}

// scannedColumns returns the columns the table scans of a JSON plan project,
// sorted, without repeats.
func scannedColumns(plan string) ([]TableColumn, error) {
	var nodes []planNode
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		return nil, err
	}
	var out []TableColumn
	var walk func([]planNode) error
	walk = func(nodes []planNode) error {
		for _, n := range nodes {
			if raw, ok := n.ExtraInfo["Table"]; ok {
				var table string
				if err := json.Unmarshal(raw, &table); err != nil {
					return fmt.Errorf("table of %s: %w", n.Name, err)
				}
				// The plan names tables catalog.schema.table; the tables Bind
				// creates are in memory.main.
				table = strings.TrimPrefix(table, "memory.main.")
				cols, err := stringOrList(n.ExtraInfo["Projections"])
				if err != nil {
					return fmt.Errorf("projections of %s: %w", n.Name, err)
				}
				for _, c := range cols {
					if c != "" {
						out = append(out, TableColumn{Table: table, Column: c})
					}
				}
			}
			if err := walk(n.Children); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(nodes); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b TableColumn) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Column, b.Column))
	})
	return slices.Compact(out), nil
}

// stringOrList reads a value EXPLAIN writes as one string when there is one
// and as a list otherwise.
func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	err := json.Unmarshal(raw, &list)
	return list, err
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
