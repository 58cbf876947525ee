package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

// Fingerprint identifies the rows of a Parquet file whatever their order and
// however the file encodes them: a SHA-256 over the columns' names and types,
// the row count, and the sum and the XOR of DuckDB's hash of each row. The
// sum keeps duplicate rows apart (an XOR alone cancels pairs); the XOR guards
// the sum. Two files with the same fingerprint hold the same rows, but for a
// collision of 64-bit row hashes in both.
func (d *DB) Fingerprint(ctx context.Context, parquet string) (string, error) {
	src := "read_parquet(" + Quote(parquet) + ")"
	cols, err := d.describe(ctx, "SELECT * FROM "+src)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", parquet, err)
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("fingerprint %s: it has no columns", parquet)
	}
	h := sha256.New()
	var ids []string
	for _, c := range cols {
		fmt.Fprintf(h, "%s %s\n", c.Name, c.Type)
		ids = append(ids, Ident(c.Name))
	}
	row := "hash(" + strings.Join(ids, ", ") + ")"
	q := fmt.Sprintf("SELECT count(*), coalesce(sum(%s::HUGEINT), 0)::VARCHAR, coalesce(bit_xor(%s), 0)::VARCHAR FROM %s", row, row, src)
	var n int64
	var sum, xor string
	if err := d.QueryRowContext(ctx, q).Scan(&n, &sum, &xor); err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", parquet, err)
	}
	fmt.Fprintf(h, "rows %d sum %s xor %s\n", n, sum, xor)
	return "rows-v1:" + hex.EncodeToString(h.Sum(nil)), nil
}
