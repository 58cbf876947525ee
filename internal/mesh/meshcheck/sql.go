package meshcheck

import (
	"context"
	"errors"
	"strings"

	"github.com/meshflow/meshflow/internal/engine/sqlcheck"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// checkSQL reports each product whose transform SQL is not exactly one SELECT or
// WITH statement, as the engine would refuse it at run time, at its place in the
// spec. The SQL is parsed by DuckDB (package sqlcheck), never run.
func checkSQL(ctx context.Context, set *spec.Set, ds *diag.List) {
	bad := map[string]bool{}
	defer func() { bindSQL(ctx, set, bad, ds) }()
	for _, p := range set.Products {
		node := p.Doc.At("transform", "sql")
		if node == nil || strings.TrimSpace(p.Transform.SQL) == "" {
			bad[p.Ref()] = true
			continue // spec reports a missing or empty SQL
		}
		err := sqlcheck.CheckText(ctx, p.Transform.SQL)
		ce, ok := errors.AsType[*sqlcheck.Error](err)
		if err != nil {
			bad[p.Ref()] = true
		}
		switch {
		case err == nil:
		case !ok:
			ds.Errorf(p.Doc.PosAt("transform", "sql"), "sql-check", "this is a problem of meshflow, not of the spec: try again",
				"could not check transform.sql: %v", err)
		case ce.Syntax:
			ds.Errorf(p.Doc.ScalarPos(node, ce.Line, ce.Col), "sql-syntax", "fix the SQL at the caret",
				"transform.sql does not parse: %s", ce.Message())
		default:
			ds.Errorf(p.Doc.ScalarPos(node, ce.Line, ce.Col), "sql-statement",
				"the transform is one query over the inputs, as tables by their names (use WITH for intermediate steps); meshflow reads the inputs and writes the output itself, and runs the query in a sandbox without COPY, ATTACH, SET, PRAGMA, INSTALL, LOAD or any other command",
				"transform.sql %s", ce.Message())
		}
	}
}
