package rules

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
)

func ptr(f float64) *float64 { return &f }

// versions returns observations of versions with the given row counts, newest
// first, whose amount column has the given null fractions (nil: none known).
func versions(rows []int64, nulls []float64) []Observation {
	var out []Observation
	for i, n := range rows {
		o := Observation{Version: "1.0." + string(rune('0'+i)), Rows: n, Columns: map[string]ColumnObservation{}}
		c := ColumnObservation{Min: ptr(float64(i)), Max: ptr(float64(10 * (i + 1)))}
		if nulls != nil {
			c.NullFraction = ptr(nulls[i])
		}
		o.Columns["amount"] = c
		out = append(out, o)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestHistoryStats(t *testing.T) {
	h := NewHistory(versions([]int64{100, 90, 110, 130}, []float64{0.1, 0, 0.2, 0.1}))
	if h.Versions != 4 {
		t.Fatalf("versions %d, want 4", h.Versions)
	}
	rc := h.RowCount
	want := Stats{N: 4, Last: 100, Mean: 107.5, Median: 105, MAD: 10, Min: 90, Max: 130,
		Stddev: math.Sqrt((7.5*7.5 + 17.5*17.5 + 2.5*2.5 + 22.5*22.5) / 4)}
	if rc.N != want.N || !near(rc.Last, want.Last) || !near(rc.Mean, want.Mean) || !near(rc.Median, want.Median) ||
		!near(rc.MAD, want.MAD) || !near(rc.Min, want.Min) || !near(rc.Max, want.Max) || !near(rc.Stddev, want.Stddev) {
		t.Errorf("row count stats %+v, want %+v", rc, want)
	}
	a := h.Columns["amount"]
	if !near(a.NullFraction.Median, 0.1) || !near(a.NullFraction.Max, 0.2) || a.NullFraction.N != 4 {
		t.Errorf("null fraction stats %+v", a.NullFraction)
	}
	if !near(a.Min.Min, 0) || !near(a.Max.Max, 40) || !near(a.Max.Last, 10) {
		t.Errorf("min %+v, max %+v", a.Min, a.Max)
	}
	if NewHistory(nil) != nil {
		t.Error("no observations give a history")
	}
	if s := summarise([]float64{7}); s.Stddev != 0 || s.MAD != 0 || s.Median != 7 || s.Last != 7 {
		t.Errorf("one value: %+v", s)
	}
}

// TestHistoryRules evaluates dataset rules over a table of 3 rows with a
// history, without one, and with a history that lacks what a rule reads.
func TestHistoryRules(t *testing.T) {
	db := nullTable(t)
	set, errs := compileNull(t,
		Rule{ID: "volume", Expr: `row_count >= 0.5 * history.row_count.median`},
		Rule{ID: "nulls", Expr: `double(null_count.d) / double(row_count) <= history.columns.d.null_fraction.max + 0.1`},
		Rule{ID: "grown", Expr: `history.versions < 3 || max.a <= history.columns.a.max.max`},
		Rule{ID: "dynamic", Expr: `["d"].all(c, history.columns[c].null_fraction.n > 0)`},
	)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hist := NewHistory([]Observation{
		{Rows: 10, Columns: map[string]ColumnObservation{"d": {NullFraction: ptr(0.5)}, "a": {Max: ptr(0)}}},
		{Rows: 8, Columns: map[string]ColumnObservation{"d": {NullFraction: ptr(0.2)}, "a": {Max: ptr(5)}}},
		{Rows: 4},
	})
	rep, err := set.Evaluate(t.Context(), db, "t", EvalOptions{History: hist})
	if err != nil {
		t.Fatal(err)
	}
	// 4 rows against a median of 8: 4 >= 4 passes.
	check := func(rep *Report, id string, status Status, msg string) {
		t.Helper()
		r := rep.Rule(id)
		if r == nil {
			t.Fatalf("no result for %s", id)
		}
		if r.Status != status || !strings.Contains(r.Message, msg) {
			t.Errorf("%s: %s %q, want %s containing %q", id, r.Status, r.Message, status, msg)
		}
	}
	rows := rep.Rows
	if rows != 4 {
		t.Fatalf("the table has %d rows, the test expects 4", rows)
	}
	check(rep, "volume", StatusPass, "")
	check(rep, "nulls", StatusPass, "")
	// max.a is 1 and the largest max in history 5.
	check(rep, "grown", StatusPass, "")
	check(rep, "dynamic", StatusPass, "")
	if rep.History != hist {
		t.Error("the report does not keep the history")
	}

	// A collapse: the median doubles, so 4 rows fail, and the message names the
	// figures.
	hist = NewHistory([]Observation{{Rows: 20}, {Rows: 16}, {Rows: 4}})
	rep, err = set.Evaluate(t.Context(), db, "t", EvalOptions{History: hist})
	if err != nil {
		t.Fatal(err)
	}
	check(rep, "volume", StatusFail, "the dataset does not satisfy the rule; found row_count = 4, history.row_count.median = 16, over the last 3 published versions")
	check(rep, "nulls", StatusSkipped, "skipped: no published version has column d")
	check(rep, "dynamic", StatusSkipped, "skipped: the history lacks a figure the rule reads")
	if !rep.Blocked() {
		t.Error("a failing history rule does not block")
	}

	// No history at all: every rule reading it is skipped, and nothing blocks.
	rep, err = set.Evaluate(t.Context(), db, "t", EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"volume", "nulls", "grown", "dynamic"} {
		check(rep, id, StatusSkipped, "skipped: no published version to compare with yet")
	}
	if rep.Blocked() {
		t.Error("skipped rules block")
	}

	// A history whose column has no null fraction known.
	hist = NewHistory([]Observation{{Rows: 4, Columns: map[string]ColumnObservation{"d": {Min: ptr(1)}}}})
	rep, err = set.Evaluate(t.Context(), db, "t", EvalOptions{History: hist})
	if err != nil {
		t.Fatal(err)
	}
	check(rep, "nulls", StatusSkipped, "skipped: no published version has a null fraction of column d")

	// Judge, as partitioned versions use it, reads the history too.
	res, err := set.Judge(t.Context(), nil, 3, NewHistory([]Observation{{Rows: 10}}))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ID != "volume" || res[0].Status != StatusFail || !strings.Contains(res[0].Message, "history.row_count.median = 10") {
		t.Errorf("judged %+v", res[0])
	}
}

func compileNull(t *testing.T, rules ...Rule) (*Set, []string) {
	t.Helper()
	for i := range rules {
		rules[i].Locate = locate
	}
	var ds diag.List
	set := Compile(nullCols, rules, Options{}, &ds)
	var out []string
	for _, d := range ds.Items() {
		out = append(out, d.Pos.String()+": "+d.Message)
	}
	return set, out
}

func TestHistoryCompileErrors(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"unknown stat", `row_count > history.row_count.medain`,
			[]string{"p.yaml:10:34: cel: rule r: undefined field 'medain' (history has versions, row_count and columns.<column>.null_fraction, .min and .max; each of these figures has n, last, mean, median, stddev, mad, min and max)"}},
		{"unknown column", "row_count > 0 &&\n  history.columns.amont.null_fraction.max < 0.1",
			[]string{`p.yaml:11:18: unknown-column: rule r: history.columns["amont"] names no column (did you mean amount? columns are: amount, quantity, email, order ts)`}},
		{"wrong type", `history.row_count.median == "many"`,
			[]string{"p.yaml:10:30: cel: rule r: found no matching overload for '_==_' applied to '(double, string)'"}},
		{"row rule", `amount < history.columns.amount.max.max`,
			[]string{"p.yaml:10:14: cel: rule r: undeclared reference to 'history' (history is for dataset rules, which read aggregates and no column: compare max.amount with history.columns.amount.max.max, or row_count with history.row_count.median)"}},
		{"ok", `history.versions < 5 || row_count >= 0.5 * history.row_count.median && double(null_count.email) <= history.columns.email.null_fraction.max * double(row_count)`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := compileOne(Rule{Expr: tc.expr})
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("got\n%s\nwant a line starting\n%s", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestAnomalies(t *testing.T) {
	steady := []int64{1000, 1010, 990, 1005, 995, 1000}
	nulls := []float64{0.01, 0.01, 0.01, 0.01, 0.01, 0.01}
	h := NewHistory(versions(steady, nulls))
	cur := func(rows int64, null float64) Observation {
		return Observation{Rows: rows, Columns: map[string]ColumnObservation{"amount": {NullFraction: ptr(null)}, "new": {NullFraction: ptr(1)}}}
	}
	if got := h.Anomalies(cur(1020, 0.02)); len(got) != 0 {
		t.Errorf("a steady run flags %+v", got)
	}
	got := h.Anomalies(cur(100, 0.30))
	if len(got) != 2 {
		t.Fatalf("a collapse with a null spike flags %+v, want 2 anomalies", got)
	}
	v := got[0]
	// median 1000, MAD 5 floored at 50 (5% of the median).
	if v.ID() != "anomaly_row_count" || v.Median != 1000 || v.MAD != 50 || !near(v.Score, 0.6745*(100-1000)/50.0) || v.Versions != 6 {
		t.Errorf("volume anomaly %+v", v)
	}
	if want := "volume anomaly: 100 rows against a median of 1000 over the last 6 versions (MAD 50, modified z-score -12.1, threshold 3.5)"; v.Message != want {
		t.Errorf("message %q, want %q", v.Message, want)
	}
	n := got[1]
	if n.ID() != "anomaly_null_fraction_amount" || n.Column != "amount" || !near(n.MAD, NullRateMADFloor) || n.Score < AnomalyThreshold {
		t.Errorf("null anomaly %+v", n)
	}
	if !strings.Contains(n.Message, "column amount is 30.00% null against a median of 1.00%") {
		t.Errorf("null anomaly message %q", n.Message)
	}
	// Constant history: the floor keeps a 20% change quiet and flags a 30% one.
	flat := NewHistory(versions([]int64{500, 500, 500, 500, 500}, nil))
	if got := flat.Anomalies(Observation{Rows: 600}); len(got) != 0 {
		t.Errorf("a 20%% change on a constant history flags %+v", got)
	}
	if got := flat.Anomalies(Observation{Rows: 650}); len(got) != 1 || got[0].Score <= AnomalyThreshold {
		t.Errorf("a 30%% change on a constant history flags %+v", got)
	}
	// Fewer than five versions: no anomaly, however far.
	short := NewHistory(versions([]int64{500, 500, 500, 500}, nil))
	if got := short.Anomalies(Observation{Rows: 1}); len(got) != 0 {
		t.Errorf("four versions flag %+v", got)
	}
	// The report lists them as warnings.
	rep := &Report{}
	rep.AddAnomalies(short.Anomalies(Observation{Rows: 1}))
	rep.AddAnomalies(h.Anomalies(cur(100, 0.01)))
	if len(rep.Rules) != 1 || rep.Rules[0].Status != StatusWarn || rep.Rules[0].Severity != Warning || rep.Blocked() || len(rep.Anomalies) != 1 {
		t.Errorf("report %+v", rep)
	}
	b, err := json.Marshal(h)
	if err != nil || !strings.Contains(string(b), `"row_count":{"n":6,`) {
		t.Errorf("history JSON %s, %v", b, err)
	}
}

func TestAnomalyOptOut(t *testing.T) {
	base := "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - {name: id, logicalType: integer}\n"
	for _, tc := range []struct {
		name, extra string
		on          bool
		problem     string
	}{
		{"absent", "", true, ""},
		{"off", "customProperties:\n  - {property: meshflow.anomalies, value: off}\n", false, ""},
		{"false", "customProperties:\n  - {property: meshflow.anomalies, value: false}\n", false, ""},
		{"on", "customProperties:\n  - {property: meshflow.anomalies, value: \"on\"}\n", true, ""},
		{"bad", "customProperties:\n  - {property: meshflow.anomalies, value: sometimes}\n", true,
			`c.odcs.yaml:11:43: meshflow.anomalies is "sometimes", not on or off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ds diag.List
			c, ok := contract.Load("c.odcs.yaml", []byte(base+tc.extra), &ds)
			if !ok {
				t.Fatal(ds.Err())
			}
			var got diag.List
			if on := AnomaliesEnabled(c, &got); on != tc.on {
				t.Errorf("enabled %t, want %t", on, tc.on)
			}
			var msgs []string
			for _, d := range got.Items() {
				msgs = append(msgs, d.Pos.String()+": "+d.Message)
			}
			if strings.Join(msgs, "\n") != tc.problem {
				t.Errorf("problems %q, want %q", msgs, tc.problem)
			}
		})
	}
}
