package rules

import (
	"testing"
)

// TestJudgeFromCounts judges a set from counts made elsewhere, as a partitioned
// version's sums: row rules by their thresholds, dataset rules over the row count
// and failing fractions; a set whose dataset rules read a column's aggregates
// needs a scan instead.
func TestJudgeFromCounts(t *testing.T) {
	set, errs := compileOne(
		Rule{ID: "positive", Expr: "amount > 0.0", Severity: Error, Threshold: &Threshold{Max: 1, Percent: true}},
		Rule{ID: "enough", Expr: "row_count >= 100", Severity: Error},
		Rule{ID: "mostly", Expr: "failing_fraction.positive < 0.005", Severity: Warning},
	)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if set.NeedsScan() {
		t.Fatal("a set reading only row_count and failing fractions needs no scan")
	}
	res, err := set.Judge(t.Context(), map[string]*RuleResult{"positive": {Checked: 1000, Failing: 8}}, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"positive": StatusPass, "enough": StatusPass, "mostly": StatusWarn}
	for _, r := range res {
		if r.Status != want[r.ID] {
			t.Errorf("rule %s: %s (%s), want %s", r.ID, r.Status, r.Message, want[r.ID])
		}
	}
	res, _ = set.Judge(t.Context(), map[string]*RuleResult{"positive": {Checked: 50, Failing: 5}}, 50, nil)
	if res[0].Status != StatusFail || res[1].Status != StatusFail {
		t.Errorf("10%% failing over 50 rows: %s and %s, want both failing", res[0].Status, res[1].Status)
	}
	dup, errs := compileOne(Rule{ID: "unique", Expr: "duplicate_count.quantity == 0", Severity: Error})
	if len(errs) > 0 || !dup.NeedsScan() {
		t.Fatalf("a duplicate count needs a scan of the rows: %v %v", dup.NeedsScan(), errs)
	}
}
