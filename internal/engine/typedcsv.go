package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// TextColumn is a column of a CSV file written by a database that knows its
// types, such as PostgreSQL's COPY … (FORMAT csv).
type TextColumn struct {
	Name string
	// Type is the DuckDB type the text casts to. "DECIMAL" without width and
	// scale is the narrowest DECIMAL that holds every value, or DOUBLE when none
	// does (more than 38 digits, NaN or infinities).
	Type string
	// Hex says the text is bytes as \x followed by hex digits (PostgreSQL's
	// bytea); Type is BLOB.
	Hex bool
}

// LoadTypedCSV materialises a header-less CSV file as a table named name with
// the given columns and types: an unquoted empty field is NULL and a quoted
// one ("") the empty string. It returns the row count.
func (d *DB) LoadTypedCSV(ctx context.Context, name, file string, cols []TextColumn) (int64, error) {
	if len(cols) == 0 {
		return 0, &DataError{Input: name, Err: fmt.Errorf("the result has no columns")}
	}
	raw := "raw_" + name
	var spec []string
	for i := range cols {
		spec = append(spec, fmt.Sprintf("%s: 'VARCHAR'", Quote(fmt.Sprintf("c%d", i))))
	}
	load := fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM read_csv(%s, header = false, delim = ',', quote = '\"', escape = '\"', "+
		"allow_quoted_nulls = false, auto_detect = false, strict_mode = true, columns = {%s})", Ident(raw), Quote(file), strings.Join(spec, ", "))
	if _, err := d.ExecContext(ctx, load); err != nil {
		return 0, &DataError{Input: name, Err: err}
	}
	defer func() { _, _ = d.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+Ident(raw)) }()
	var sel []string
	for i, c := range cols {
		src := Ident(fmt.Sprintf("c%d", i))
		typ := c.Type
		if typ == "DECIMAL" {
			var err error
			if typ, err = d.decimalType(ctx, raw, src); err != nil {
				return 0, &DataError{Input: name, Err: fmt.Errorf("column %s: %w", c.Name, err)}
			}
		}
		expr := fmt.Sprintf("CAST(%s AS %s)", src, typ)
		if c.Hex {
			expr = fmt.Sprintf("unhex(substr(%s, 3))", src)
		}
		sel = append(sel, expr+" AS "+Ident(c.Name))
	}
	q := fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT %s FROM %s", Ident(name), strings.Join(sel, ", "), Ident(raw))
	if _, err := d.ExecContext(ctx, q); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &DataError{Input: name, Err: err}
	}
	return d.Count(ctx, name)
}

// decimalType returns the narrowest DECIMAL(p,s) that holds every value of a
// text column of decimal numbers, or DOUBLE.
func (d *DB) decimalType(ctx context.Context, table, col string) (string, error) {
	var whole, scale sql.NullInt64
	var special bool
	q := fmt.Sprintf(`SELECT max(length(split_part(ltrim(%[1]s, '-+'), '.', 1))), max(length(split_part(%[1]s, '.', 2))),
		coalesce(bool_or(%[1]s IN ('NaN', 'Infinity', '-Infinity')), false) FROM %[2]s`, col, Ident(table))
	if err := d.QueryRowContext(ctx, q).Scan(&whole, &scale, &special); err != nil {
		return "", err
	}
	if !whole.Valid { // no values: any width will do
		return "DECIMAL(38,10)", nil
	}
	p := max(whole.Int64+scale.Int64, 1)
	if special || p > 38 {
		return "DOUBLE", nil
	}
	return fmt.Sprintf("DECIMAL(%d,%d)", p, scale.Int64), nil
}
