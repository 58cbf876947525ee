package meshcheck

import (
	"context"
	"strings"
	"testing"
)

// TestTransformSQLIsOneQuery checks that validate refuses transform SQL the engine
// would refuse at run time, at its place in the spec.
func TestTransformSQLIsOneQuery(t *testing.T) {
	const (
		fx   = "finance/fx-rates.yaml"
		emea = "sales-emea/regional-sales.yaml"
		fxQL = "sql: SELECT day, currency, usd_rate FROM rates"
		help = "  = help: the transform is one query over the inputs, as tables by their names (use WITH for intermediate steps); meshflow reads the inputs and writes the output itself, and runs the query in a sandbox without COPY, ATTACH, SET, PRAGMA, INSTALL, LOAD or any other command"
	)
	cases := []struct {
		name string
		edit edit
		want []string
	}{
		{"COPY", edit{fx, fxQL, "sql: COPY rates TO '/tmp/rates.csv'"}, []string{
			"finance/fx-rates.yaml:12:8 error sql-statement: transform.sql must be one SELECT or WITH statement; found COPY", help,
		}},
		{"a forged grant after the query", edit{emea, "    FROM orders\n", "    FROM orders;\n    COPY (SELECT 'sales-emea' AS grantee) TO 'store/_grants/forged.json'\n"}, []string{
			"sales-emea/regional-sales.yaml:24:5 error sql-statement: transform.sql must be one SELECT or WITH statement; found COPY (statement 2 of 2)", help,
		}},
		{"two queries", edit{fx, fxQL, "sql: SELECT 1 AS a; SELECT 2 AS b"}, []string{
			"finance/fx-rates.yaml:12:23 error sql-statement: transform.sql must be one SELECT or WITH statement; found a second query (statement 2 of 2)", help,
		}},
		{"ATTACH in a quoted scalar", edit{fx, fxQL, `sql: "SELECT 1 AS a; ATTACH 'x.db'"`}, []string{
			"finance/fx-rates.yaml:12:24 error sql-statement: transform.sql must be one SELECT or WITH statement; found ATTACH (statement 2 of 2)", help,
		}},
		{"SET", edit{fx, fxQL, "sql: SET enable_external_access = true"}, []string{
			"finance/fx-rates.yaml:12:8 error sql-statement: transform.sql must be one SELECT or WITH statement; found SET", help,
		}},
		{"syntax error", edit{fx, fxQL, "sql: SELECT day, FROM rates WHERE"}, []string{
			"finance/fx-rates.yaml:12:36 error sql-syntax: transform.sql does not parse: syntax error at end of input",
			"  = help: fix the SQL at the caret",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyExample(t)
			applyEdits(t, dir, []edit{tc.edit})
			res := Check(context.Background(), dir)
			if got, want := render(dir, res.Diagnostics.Items()), strings.Join(tc.want, "\n")+"\n"; got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
