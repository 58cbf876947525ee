package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestValidatedAndFinished(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	q := refresh.Quality{RowsIn: 10, RowsOut: 8, Quarantined: 2, Rules: []refresh.RuleSummary{
		{ID: "positive_revenue", Severity: "error", Status: "fail", Failing: 2},
		{ID: "has_region", Severity: "warning", Status: "pass"},
	}}
	m.Validated("sales/orders", q)
	m.Validated("sales/orders", refresh.Quality{RowsIn: 5, RowsOut: 5, Rules: []refresh.RuleSummary{
		{ID: "positive_revenue", Severity: "error", Status: "pass"},
		{ID: "has_region", Severity: "warning", Status: "warn", Failing: 1},
		{ID: "volume", Severity: "error", Status: "skipped"},
		{ID: "anomaly_null_fraction_city", Severity: "warning", Status: "warn"},
	}, Anomalies: []refresh.Anomaly{{Rule: "anomaly_null_fraction_city", Metric: "null_fraction", Column: "city"}}})
	m.Finished("sales/orders", refresh.StagePublished)
	m.Finished("sales/orders", refresh.StageRejected)
	m.Finished("sales/orders", refresh.StageValidating) // not final: ignored

	want := `
# HELP meshflow_refresh_rows_total Rows checked against the contract, by kind: in (the transform's output), out (passed), quarantined.
# TYPE meshflow_refresh_rows_total counter
meshflow_refresh_rows_total{domain="sales",kind="in",product="orders"} 15
meshflow_refresh_rows_total{domain="sales",kind="out",product="orders"} 13
meshflow_refresh_rows_total{domain="sales",kind="quarantined",product="orders"} 2
# HELP meshflow_rule_failing_rows Rows failing each quality rule in the product's last validation (0 for a rule that passed).
# TYPE meshflow_rule_failing_rows gauge
meshflow_rule_failing_rows{domain="sales",product="orders",rule="anomaly_null_fraction_city",severity="warning"} 0
meshflow_rule_failing_rows{domain="sales",product="orders",rule="has_region",severity="warning"} 1
meshflow_rule_failing_rows{domain="sales",product="orders",rule="positive_revenue",severity="error"} 0
meshflow_rule_failing_rows{domain="sales",product="orders",rule="volume",severity="error"} 0
# HELP meshflow_rule_failures_total Validations in which the rule failed, warned or could not be evaluated.
# TYPE meshflow_rule_failures_total counter
meshflow_rule_failures_total{domain="sales",product="orders",rule="anomaly_null_fraction_city",severity="warning"} 1
meshflow_rule_failures_total{domain="sales",product="orders",rule="has_region",severity="warning"} 1
meshflow_rule_failures_total{domain="sales",product="orders",rule="positive_revenue",severity="error"} 1
# HELP meshflow_quality_anomalies Built-in anomaly warnings in the product's last validation, by metric (row_count, null_fraction: how many columns).
# TYPE meshflow_quality_anomalies gauge
meshflow_quality_anomalies{domain="sales",metric="null_fraction",product="orders"} 1
meshflow_quality_anomalies{domain="sales",metric="row_count",product="orders"} 0
# HELP meshflow_refresh_runs_total Refresh runs that ended, by outcome (published, rejected, expired, failed).
# TYPE meshflow_refresh_runs_total counter
meshflow_refresh_runs_total{domain="sales",outcome="published",product="orders"} 1
meshflow_refresh_runs_total{domain="sales",outcome="rejected",product="orders"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"meshflow_refresh_rows_total", "meshflow_rule_failing_rows", "meshflow_rule_failures_total", "meshflow_refresh_runs_total", "meshflow_quality_anomalies"); err != nil {
		t.Error(err)
	}
}

func TestStageAndDecisionHistograms(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	m.Stage("sales/orders", refresh.StageTransforming, 1500*time.Millisecond)
	m.Stage("sales/orders", refresh.StageTransforming, 500*time.Millisecond)
	m.Decided("sales/orders", refresh.WaitApproved, 90*time.Second)
	m.Decided("sales/orders", refresh.WaitApproved, -time.Second) // clock skew: ignored
	if n := testutil.CollectAndCount(m.stage, "meshflow_refresh_stage_duration_seconds"); n != 1 {
		t.Errorf("stage series = %d, want 1", n)
	}
	h := m.stage.WithLabelValues("sales", "orders", "transforming").(prometheus.Histogram)
	if got := histogramCount(t, h); got != 2 {
		t.Errorf("stage observations = %d, want 2", got)
	}
	d := m.decision.WithLabelValues("sales", "orders", string(refresh.WaitApproved)).(prometheus.Histogram)
	if got := histogramCount(t, d); got != 1 {
		t.Errorf("decision observations = %d, want 1", got)
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	h.Collect(ch)
	var out dto.Metric
	if err := (<-ch).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount()
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Stage("a/b", refresh.StageIngesting, time.Second)
	m.Validated("a/b", refresh.Quality{RowsIn: 1})
	m.Finished("a/b", refresh.StageFailed)
	m.Decided("a/b", refresh.WaitExpired, time.Second)
}
