package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

var orderCols = []Column{
	{Name: "amount", Type: Double},
	{Name: "quantity", Type: Int},
	{Name: "email", Type: String, Nullable: true},
	{Name: "order ts", Type: Timestamp},
}

// locate places an expression at line 10, column 5 of p.yaml.
func locate(line, col int) diag.Pos {
	if line == 1 {
		col += 4
	}
	return diag.Pos{File: "p.yaml", Line: 9 + line, Col: col}
}

func compileOne(rules ...Rule) (*Set, []string) {
	var ds diag.List
	for i := range rules {
		if rules[i].Locate == nil {
			rules[i].Locate = locate
		}
		if rules[i].ID == "" {
			rules[i].ID = "r"
		}
		rules[i].Pos = diag.Pos{File: "p.yaml", Line: 9, Col: 3}
	}
	set := Compile(orderCols, rules, Options{}, &ds)
	var out []string
	for _, d := range ds.Items() {
		s := fmt.Sprintf("%s: %s: %s", d.Pos, d.Code, d.Message)
		if d.Hint != "" {
			s += " (" + d.Hint + ")"
		}
		out = append(out, s)
	}
	return set, out
}

func TestCompileErrors(t *testing.T) {
	const cols = "columns are: amount, quantity, email, order ts"
	const (
		syntaxHint   = "fix the expression at the caret: a rule is a CEL condition such as `units > 0 && city != \"\"`"
		overloadHint = "give the operator or function values of the types it takes: integer columns are int, number columns double, date and timestamp columns timestamp; convert with int(), double() or string()"
	)
	tests := []struct {
		name  string
		rules []Rule
		want  []string
	}{
		{"ok", []Rule{{Expr: `amount >= 0.0 && (email == null || email.contains("@"))`}}, nil},
		{"unknown column", []Rule{{Expr: `amout > 0.0`}}, []string{
			"p.yaml:10:5: cel: rule r: undeclared reference to 'amout' (did you mean 'amount'?) (" + cols + ")",
		}},
		{"every error, second line", []Rule{{Expr: "quantity > 0 &&\n  qty > 1 && emial != null"}}, []string{
			"p.yaml:11:3: cel: rule r: undeclared reference to 'qty' (" + cols + ")",
			"p.yaml:11:14: cel: rule r: undeclared reference to 'emial' (did you mean 'email'?) (" + cols + ")",
		}},
		{"not bool", []Rule{{Expr: `quantity + 1`}}, []string{
			"p.yaml:10:5: cel-type: rule r must return a bool, it returns int (write a condition that is true for good data, such as `x > 0`)",
		}},
		{"syntax", []Rule{{Expr: `amount >`}}, []string{
			"p.yaml:10:13: cel: rule r: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER} (" + syntaxHint + ")",
		}},
		{"type mismatch", []Rule{{Expr: `email > 3`}}, []string{
			"p.yaml:10:11: cel: rule r: found no matching overload for '_>_' applied to '(wrapper(string), int)' (" + overloadHint + ")",
		}},
		{"row map key", []Rule{{Expr: `row["order ts"] > timestamp("2024-01-01T00:00:00Z") && row["order_ts"] != null`}}, []string{
			`p.yaml:10:63: unknown-column: rule r: row["order_ts"] names no column (did you mean order ts? ` + cols + ")",
		}},
		{"dataset keys", []Rule{
			{ID: "pos", Expr: `amount > 0.0`},
			{ID: "ds", Expr: "null_count.emial == 0 &&\nfailing_fraction[\"pos\"] < 0.1 && failing_fraction.po < 0.1 && max.amount < 10.0"},
		}, []string{
			`p.yaml:10:15: unknown-column: rule ds: null_count["emial"] names no column (` + cols + ")",
			"p.yaml:11:50: unknown-rule: rule ds: failing_fraction.po names no row rule (did you mean pos? row rules are: pos)",
		}},
		{"dataset threshold", []Rule{{Expr: `row_count > 0`, Threshold: &Threshold{Max: 1}}}, []string{
			"p.yaml:9:3: rule-threshold: dataset rule r cannot have a threshold (thresholds count failing rows; a dataset rule has none)",
		}},
		{"ids and columns", []Rule{
			{ID: "a", Expr: `amount > 0.0`, Column: "amt"},
			{ID: "a", Expr: `true`},
			{ID: "b", Expr: `true`},
		}, []string{
			"p.yaml:9:3: rule-id: duplicate rule id \"a\" (give every rule a unique id)",
			"p.yaml:9:3: unknown-column: rule a is about column \"amt\", which the schema does not have (" + cols + ")",
		}},
		{"estimated cost", []Rule{{Expr: `[` + strings.Repeat("1,", 199) + `1].all(x, [` + strings.Repeat("1,", 199) + `1].all(y, email.contains(string(x + y))))`}}, []string{
			"p.yaml:10:5: cel-cost: rule r: estimated cost 1717987242811 exceeds the budget 1000000 (avoid nested comprehensions and work over long strings or lists, or raise the estimate limit)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := compileOne(tc.rules...)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestClassify(t *testing.T) {
	set, errs := compileOne(
		Rule{ID: "row", Expr: `quantity > 0`},
		Rule{ID: "ds", Expr: `row_count > 0 && null_count.email == 0`},
		Rule{ID: "prop", Column: "amount", Expr: `amount > 0.0`},
		Rule{ID: "comp", Expr: `[1].all(min, min > 0)`},
	)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]Kind{"row": Row, "ds": Dataset, "prop": Row, "comp": Row}
	for id, k := range set.Rules() {
		if want[id] != k {
			t.Errorf("%s: kind %s, want %s", id, k, want[id])
		}
	}
	// A rule mixing a column and an aggregate is a row rule, where the aggregate
	// is undeclared.
	_, errs = compileOne(Rule{Expr: `quantity < row_count`})
	if len(errs) != 1 || !strings.Contains(errs[0], "undeclared reference to 'row_count'") {
		t.Errorf("mixed rule: %v", errs)
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`amount >= 0.0`, `email == null || email.contains("@")`, `row["order ts"] < timestamp("2024-01-01T00:00:00Z")`,
		`null_count.email * 100 / row_count < 20`, `failing_fraction.x < 0.1`, `[1,2].all(x, x > quantity)`,
		`amount >`, `"unterminated`, `a.b.c[`, `quantity in [1, null, "x"]`, `size(email) > 2 ? true : false`,
		`email.matches("[")`, `{}`, `1 / 0 == 0`, "amount >\n\t>", `row_count > 0 && quantity > 0`,
	} {
		f.Add(s)
	}
	tr := &translator{cols: map[string]Column{}, sqlTypes: map[string]string{}, ieeeDiv: true}
	for _, c := range orderCols {
		tr.cols[c.Name] = c
		tr.sqlTypes[c.Name] = canonical[c.Type]
	}
	tr.sqlTypes["order ts"] = "TIMESTAMP"
	f.Fuzz(func(t *testing.T, expr string) {
		var ds diag.List
		set := Compile(orderCols, []Rule{{ID: "x", Expr: expr}, {ID: "y", Expr: expr, Locate: locate}}, Options{}, &ds)
		for _, r := range set.rules {
			if r.kind == Row {
				_, _ = tr.rule(r.ast.NativeRep().Expr())
			}
		}
	})
}
