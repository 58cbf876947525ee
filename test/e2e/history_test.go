package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/test/harness"
)

// historyContract is the orders contract with a dataset rule against the
// product's history: the volume may not fall below half the median of the
// latest published versions.
const historyContract = `apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true}
      - {name: amount, logicalType: number}
    quality:
      - {id: volume_holds, type: custom, engine: cel, severity: error, implementation: "row_count >= 0.5 * history.row_count.median"}
`

// writeOrders writes an orders file of n rows, every tenth amount null.
func writeOrders(t *testing.T, file string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,amount\n")
	for i := 1; i <= n; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "%d,\n", i)
		} else {
			fmt.Fprintf(&b, "%d,%d.5\n", i, i)
		}
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rule returns the status's result of a rule, failing the test without one.
func rule(t *testing.T, st refresh.Status, id string) refresh.RuleSummary {
	t.Helper()
	for _, r := range st.Rules {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("the status has no rule %s: %+v", id, st.Rules)
	return refresh.RuleSummary{}
}

// TestHistoryRuleBlocksACollapse publishes five versions of a product whose
// contract compares the volume with the history, then refreshes it with a
// tenth of the rows: the history rule fails the run, naming the rule and the
// figures, and the built-in volume anomaly warns. The first run, with no
// history yet, reports the rule as skipped and publishes.
func TestHistoryRuleBlocksACollapse(t *testing.T) {
	e := harness.New(t, "e2e", harness.LocalStore(t))
	const queue = "history"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Threads: 2})
	file := filepath.Join(t.TempDir(), "orders.csv")
	p := harness.TinyProduct(t, t.TempDir(), "sales", "orders", queue)
	p.Inputs[0].URI = "file://" + filepath.ToSlash(file)
	p.Contract = historyContract

	for i, n := range []int{200, 204, 196, 202, 198} {
		writeOrders(t, file, n)
		run := e.Start(p, fmt.Sprintf("v%d", i), "ana")
		e.Published(run, 2*time.Minute)
		st, err := e.Control.Status(t.Context(), run.GetID(), "")
		if err != nil {
			t.Fatal(err)
		}
		r := rule(t, st, "volume_holds")
		switch {
		case i == 0 && (r.Status != "skipped" || !strings.Contains(r.Message, "no published version to compare with yet")):
			t.Errorf("first run: volume_holds %s %q, want skipped for want of history", r.Status, r.Message)
		case i > 0 && r.Status != "pass":
			t.Errorf("run %d: volume_holds %s %q, want pass", i, r.Status, r.Message)
		}
		if st.Warnings != 0 {
			t.Errorf("run %d of a steady volume warns: %+v", i, st.Rules)
		}
	}

	writeOrders(t, file, 20)
	run := e.Start(p, "collapse", "ana")
	_, err := e.Result(run, 2*time.Minute)
	if err == nil || harness.ErrType(err) != refresh.ErrQuality {
		t.Fatalf("the collapse: got %v (%s), want the run to fail its quality check\n%s", err, harness.ErrType(err), e.Explain(run.GetID()))
	}
	// The median of 200, 204, 196, 202 and 198 is 200: 20 < 100.
	const figures = "volume_holds: the dataset does not satisfy the rule; found row_count = 20, history.row_count.median = 200, over the last 5 published versions"
	if !strings.Contains(err.Error(), figures) {
		t.Errorf("the failure says %q, want it to contain %q", err, figures)
	}
	st, err := e.Control.Status(t.Context(), run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if r := rule(t, st, "volume_holds"); r.Status != "fail" {
		t.Errorf("volume_holds %s, want fail", r.Status)
	}
	if r := rule(t, st, "anomaly_row_count"); r.Status != "warn" ||
		!strings.HasPrefix(r.Message, "volume anomaly: 20 rows against a median of 200 over the last 5 versions") {
		t.Errorf("anomaly_row_count %s %q, want the volume anomaly", r.Status, r.Message)
	}
	if st.Warnings != 1 {
		t.Errorf("%d warnings, want the anomaly's", st.Warnings)
	}
	head, found, err := catalog.ReadLatest(t.Context(), e.Store, p.Ref())
	if err != nil || !found || head.Manifest.Quality.RowsIn != 198 {
		t.Errorf("latest after the collapse: %+v (found %t, %v), want the fifth version", head.Manifest.Quality, found, err)
	}
}

// TestPartitionedHistoryRuleBlocksACollapse: a partitioned product's history
// is per version, over every partition: a rebuilt day that loses most of its
// rows fails the history rule of the version, though no partition is checked
// against the history alone.
func TestPartitionedHistoryRuleBlocksACollapse(t *testing.T) {
	pe := newPartitionedEnv(t)
	pe.p.SQL, pe.p.Contract = deliveriesByID(`{id: volume_holds, type: custom, engine: cel, implementation: "row_count >= 0.5 * history.row_count.median", severity: error}`)
	day := func(date string, n, from int) {
		var rows []string
		for i := range n {
			rows = append(rows, delivery(from+i, date+" 08:00:00"))
		}
		writeDay(t, pe.data, date, rows...)
	}
	day("2026-06-01", 30, 0)
	day("2026-06-02", 10, 100)
	pe.run("first", "")
	day("2026-06-02", 12, 100)
	m, _ := pe.run("second", "")
	if m.Quality.RowsIn != 42 {
		t.Fatalf("the second version has %d rows in, want 42", m.Quality.RowsIn)
	}
	// The first day collapses: 12 + 3 rows against a median of (40+42)/2 = 41.
	day("2026-06-01", 3, 0)
	run := pe.start("collapse", "")
	_, err := pe.Result(run, 3*time.Minute)
	if err == nil || harness.ErrType(err) != refresh.ErrQuality {
		t.Fatalf("got %v (%s); want the run to fail its quality check\n%s", err, harness.ErrType(err), pe.Explain(run.GetID()))
	}
	const figures = "volume_holds: the dataset does not satisfy the rule; found row_count = 15, history.row_count.median = 41, over the last 2 published versions"
	if !strings.Contains(err.Error(), figures) {
		t.Errorf("the failure says %q, want it to contain %q", err, figures)
	}
	st, err := pe.Control.Status(t.Context(), run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rules {
		if strings.Contains(r.ID, " in ") {
			t.Errorf("a partition was checked against the version's history: %+v", r)
		}
	}
}
