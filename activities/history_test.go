package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/rules"
)

func float(f float64) *float64 { return &f }

// publishRows publishes versions of ref with the given rows in, each with a
// column amount of rows/10 nulls, oldest first.
func publishRows(t *testing.T, st storage.Store, ref string, rows ...int64) {
	t.Helper()
	at := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	for i, n := range rows {
		publishtest.Publish(t, st, publishtest.Version{Ref: ref, At: at.Add(time.Duration(i) * time.Hour),
			Manifest: refresh.Manifest{Quality: refresh.Quality{RowsIn: n, RowsOut: n,
				Columns: []refresh.ColumnStats{{Name: "amount", Nulls: n / 10, Min: float(1), Max: float(float64(n))}, {Name: "city"}}}}})
	}
}

// TestProductHistoryReadsTheLatestVersions: the history holds the latest
// rules.HistoryVersions published versions, newest first, with their row counts,
// null fractions and minima and maxima, and is nil for a product never
// published.
func TestProductHistoryReadsTheLatestVersions(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st}
	h, err := a.productHistory(t.Context(), "sales/orders")
	if err != nil || h != nil {
		t.Fatalf("history of an unpublished product: %+v, %v", h, err)
	}
	rows := make([]int64, rules.HistoryVersions+3)
	for i := range rows {
		rows[i] = int64(100 + 10*i)
	}
	publishRows(t, st, "sales/orders", rows...)
	h, err = a.productHistory(t.Context(), "sales/orders")
	if err != nil {
		t.Fatal(err)
	}
	if h.Versions != rules.HistoryVersions {
		t.Errorf("versions %d, want %d", h.Versions, rules.HistoryVersions)
	}
	// The latest 20 of 100, 110, … 320: 130 to 320.
	if rc := h.RowCount; rc.Last != 320 || rc.Min != 130 || rc.Max != 320 || rc.Median != 225 {
		t.Errorf("row count %+v", rc)
	}
	amount := h.Columns["amount"]
	if amount.NullFraction.N != rules.HistoryVersions || amount.NullFraction.Max > 0.1 || amount.NullFraction.Min < 0.09 {
		t.Errorf("null fraction %+v", amount.NullFraction)
	}
	if amount.Max.Last != 320 || amount.Min.Median != 1 {
		t.Errorf("min %+v, max %+v", amount.Min, amount.Max)
	}
	if city := h.Columns["city"]; city.NullFraction.Median != 0 || city.Max.N != 0 {
		t.Errorf("city %+v", city)
	}
}

// TestAnomaliesInTheQualitySummary: a collapse against five steady versions is
// a warning rule of the summary and an anomaly, and a contract with
// meshflow.anomalies: off has none.
func TestAnomaliesInTheQualitySummary(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publishRows(t, st, "sales/orders", 1000, 1010, 990, 1000, 1005)
	a := &Activities{Store: st}
	h, err := a.productHistory(t.Context(), "sales/orders")
	if err != nil {
		t.Fatal(err)
	}
	load := func(extra string) *contract.Contract {
		t.Helper()
		var ds diag.List
		c, ok := contract.Load("c.odcs.yaml", []byte("apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\n"+
			"schema:\n  - name: t\n    properties:\n      - {name: amount, logicalType: number}\n"+extra), &ds)
		if !ok {
			t.Fatal(ds.Err())
		}
		return c
	}
	cur := refresh.Quality{RowsIn: 40, RowsOut: 40, Columns: []refresh.ColumnStats{{Name: "amount", Nulls: 4}}}

	rep := &rules.Report{Rows: 40, Passing: 40, History: h}
	addAnomalies(rep, load(""), h, cur)
	q := Summarize(rep)
	if q.Warnings != 1 || len(q.Rules) != 1 || len(q.Anomalies) != 1 || q.History != 5 {
		t.Fatalf("summary %+v", q)
	}
	if r := q.Rules[0]; r.ID != "anomaly_row_count" || r.Status != "warn" || r.Severity != "warning" ||
		!strings.HasPrefix(r.Message, "volume anomaly: 40 rows against a median of 1000 over the last 5 versions") {
		t.Errorf("rule %+v", r)
	}
	if an := q.Anomalies[0]; an.Rule != "anomaly_row_count" || an.Median != 1000 || an.Score > -rules.AnomalyThreshold {
		t.Errorf("anomaly %+v", an)
	}
	if refresh.Green(q, nil) {
		t.Error("a run with an anomaly is green: it would be auto-approved")
	}

	rep = &rules.Report{Rows: 40, Passing: 40, History: h}
	addAnomalies(rep, load("customProperties:\n  - {property: meshflow.anomalies, value: off}\n"), h, cur)
	if q := Summarize(rep); q.Warnings != 0 || len(q.Anomalies) != 0 {
		t.Errorf("opted out, the summary has %+v", q)
	}
}
