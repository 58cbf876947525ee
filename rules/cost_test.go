package rules

import (
	"context"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

func TestCostFailsClosed(t *testing.T) {
	db := nullTable(t)
	list := "[" + strings.Repeat("1, ", 29) + "1]"
	tests := []struct {
		name string
		opt  Options
		rule Rule
		want string
	}{
		{"rule cost limit", Options{RuleCostLimit: 50, EstimateLimit: 1 << 40},
			Rule{ID: "r", Expr: list + `.all(x, x != a)`},
			"row 2 costs more than the rule cost limit 50; the rule fails closed"},
		{"dataset budget", Options{DatasetBudget: 30},
			Rule{ID: "r", Expr: `[1, 2].exists(x, x == a)`, Severity: Warning},
			"the CEL cost budget of the dataset (30) is exhausted"},
		{"dataset rule budget", Options{DatasetBudget: 5},
			Rule{ID: "r", Expr: list + `.all(x, x < row_count)`, Severity: Warning},
			"the CEL cost budget of the dataset (5) is exhausted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ds diag.List
			set := Compile(nullCols, []Rule{tc.rule}, tc.opt, &ds)
			if ds.Len() > 0 {
				t.Fatal(ds.Err())
			}
			rep, err := set.Evaluate(context.Background(), db, "t", EvalOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Rule("r")
			if r.Status != StatusError || !strings.Contains(r.Message, tc.want) {
				t.Errorf("status %s, message %q; want error with %q", r.Status, r.Message, tc.want)
			}
			if !rep.Blocked() {
				t.Error("a rule that ran out of budget must block publication")
			}
			if rep.Rows != rep.Passing+rep.Quarantined {
				t.Errorf("rows %d != passing %d + quarantined %d", rep.Rows, rep.Passing, rep.Quarantined)
			}
		})
	}
}

func TestCostEstimateRejects(t *testing.T) {
	// Nested comprehensions over a string of up to MaxStringLength bytes: a rule
	// that could take minutes per row is refused at validate time.
	var ds diag.List
	l := "[1,2,3,4,5,6,7,8,9,10]"
	Compile(nullCols, []Rule{{ID: "slow", Expr: l + ".all(x, " + l + ".all(y, s.contains(string(x) + string(y))))"}}, Options{}, &ds)
	items := ds.Items()
	if len(items) != 1 || items[0].Code != "cel-cost" ||
		items[0].Message != "rule slow: estimated cost 8591246351 exceeds the budget 1000000" {
		t.Fatalf("got %v", items)
	}
	// The same rule is accepted under a higher limit.
	ds = diag.List{}
	Compile(nullCols, []Rule{{ID: "slow", Expr: l + ".all(x, " + l + ".all(y, s.contains(string(x) + string(y))))"}}, Options{EstimateLimit: 1e10}, &ds)
	if ds.Len() != 0 {
		t.Errorf("got %v", ds.Items())
	}
}
