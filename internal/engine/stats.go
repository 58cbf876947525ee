package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
)

// ColumnStats computes, in one pass over a Parquet file, each column's null
// count, approximate distinct count and, for numeric columns, its minimum and
// maximum.
func (d *DB) ColumnStats(ctx context.Context, parquet string) ([]refresh.ColumnStats, error) {
	src := "read_parquet(" + Quote(parquet) + ")"
	described, err := d.describe(ctx, "SELECT * FROM "+src)
	if err != nil || len(described) == 0 {
		return nil, err
	}
	type col struct {
		name    string
		numeric bool
	}
	var cols []col
	for _, c := range described {
		cols = append(cols, col{c.Name, isNumeric(c.Type)})
	}
	var exprs []string
	for _, c := range cols {
		id := Ident(c.name)
		exprs = append(exprs, fmt.Sprintf("count(*) - count(%s)", id), fmt.Sprintf("approx_count_distinct(%s)", id))
		if c.numeric {
			exprs = append(exprs, fmt.Sprintf("min(%s)::DOUBLE", id), fmt.Sprintf("max(%s)::DOUBLE", id))
		}
	}
	row := d.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+src)
	var dest []any
	out := make([]refresh.ColumnStats, len(cols))
	mins := make([]sql.NullFloat64, len(cols))
	maxs := make([]sql.NullFloat64, len(cols))
	for i, c := range cols {
		out[i].Name = c.name
		dest = append(dest, &out[i].Nulls, &out[i].Distinct)
		if c.numeric {
			dest = append(dest, &mins[i], &maxs[i])
		}
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	for i := range out {
		if mins[i].Valid {
			out[i].Min = &mins[i].Float64
		}
		if maxs[i].Valid {
			out[i].Max = &maxs[i].Float64
		}
	}
	return out, nil
}

// isNumeric reports whether a DuckDB type is a number.
func isNumeric(typ string) bool {
	t := strings.ToUpper(typ)
	for _, p := range []string{"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}
