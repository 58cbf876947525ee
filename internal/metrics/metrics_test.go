package metrics

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
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
	}})
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
meshflow_rule_failing_rows{domain="sales",product="orders",rule="has_region",severity="warning"} 1
meshflow_rule_failing_rows{domain="sales",product="orders",rule="positive_revenue",severity="error"} 0
# HELP meshflow_rule_failures_total Validations in which the rule failed, warned or could not be evaluated.
# TYPE meshflow_rule_failures_total counter
meshflow_rule_failures_total{domain="sales",product="orders",rule="has_region",severity="warning"} 1
meshflow_rule_failures_total{domain="sales",product="orders",rule="positive_revenue",severity="error"} 1
# HELP meshflow_refresh_runs_total Refresh runs that ended, by outcome (published, rejected, expired, failed).
# TYPE meshflow_refresh_runs_total counter
meshflow_refresh_runs_total{domain="sales",outcome="published",product="orders"} 1
meshflow_refresh_runs_total{domain="sales",outcome="rejected",product="orders"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"meshflow_refresh_rows_total", "meshflow_rule_failing_rows", "meshflow_rule_failures_total", "meshflow_refresh_runs_total"); err != nil {
		t.Error(err)
	}
}

func TestStageAndDecisionHistograms(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	m.Stage("sales/orders", refresh.StageTransforming, 1500*time.Millisecond)
	m.Stage("sales/orders", refresh.StageTransforming, 500*time.Millisecond)
	m.Decided("sales/orders", DecisionApproved, 90*time.Second)
	m.Decided("sales/orders", DecisionApproved, -time.Second) // clock skew: ignored
	if n := testutil.CollectAndCount(m.stage, "meshflow_refresh_stage_duration_seconds"); n != 1 {
		t.Errorf("stage series = %d, want 1", n)
	}
	h := m.stage.WithLabelValues("sales", "orders", "transforming").(prometheus.Histogram)
	if got := histogramCount(t, h); got != 2 {
		t.Errorf("stage observations = %d, want 2", got)
	}
	d := m.decision.WithLabelValues("sales", "orders", DecisionApproved).(prometheus.Histogram)
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
	m.Decided("a/b", DecisionExpired, time.Second)
}

func TestFreshnessSLA(t *testing.T) {
	for _, tc := range []struct {
		props []contract.SLAProperty
		want  time.Duration
		err   string
	}{
		{props: []contract.SLAProperty{{Property: "frequency", Value: int64(1), Unit: "d"}, {Property: "latency", Value: int64(4), Unit: "h"}}, want: 28 * time.Hour},
		{props: []contract.SLAProperty{{Property: "latency", Value: 30.0, Unit: "minutes"}}, want: 30 * time.Minute},
		{props: []contract.SLAProperty{{Property: "retention", Value: int64(1), Unit: "y"}}, want: 0},
		{props: []contract.SLAProperty{{Property: "frequency", Value: "2", Unit: "h"}}, want: 2 * time.Hour},
		{props: []contract.SLAProperty{{Property: "frequency", Value: int64(1), Unit: "fortnight"}}, err: `unit "fortnight"`},
		{props: []contract.SLAProperty{{Property: "frequency", Value: true, Unit: "d"}}, err: "not a number"},
	} {
		got, err := FreshnessSLA(tc.props)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FreshnessSLA(%+v) error = %v, want %q", tc.props, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("FreshnessSLA(%+v) = %v, %v; want %v", tc.props, got, err, tc.want)
		}
	}
}

type fakeRuns struct {
	runs  []control.Run
	err   error
	calls int
}

func (f *fakeRuns) Runs(_ context.Context, _ string, stage refresh.Stage, _ int) ([]control.Run, error) {
	f.calls++
	if stage != refresh.StageAwaitingApproval {
		return nil, nil
	}
	return f.runs, f.err
}

const slaContract = `apiVersion: v3.1.0
kind: DataContract
id: orders
name: orders
version: 1.0.0
status: active
slaProperties:
  - property: frequency
    value: 1
    unit: d
  - property: latency
    value: 4
    unit: h
`

// publish writes what Publish leaves in the store: a version's manifest and
// contract, and the latest pointer.
func publish(t *testing.T, st storage.Store, ref string, at time.Time, contractText string) {
	t.Helper()
	ctx := t.Context()
	m := refresh.Manifest{Product: ref, Version: "1.0.0", RunID: "r1", PublishedAt: at}
	if contractText != "" {
		key := ref + "/v1.0.0/contract.odcs.yaml"
		if _, err := st.Put(ctx, key, strings.NewReader(contractText), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		m.Contract = &refresh.ObjectRef{Key: key, SHA256: "x"}
	}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, key, strings.NewReader(string(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(ref+"/v1.0.0/manifest.json", m)
	put(ref+"/latest.json", map[string]any{"version": "1.0.0", "manifestKey": ref + "/v1.0.0/manifest.json", "runId": "r1", "publishedAt": at})
}

func TestStateCollector(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	publish(t, st, "sales/orders", now.Add(-30*time.Hour), slaContract) // SLA 28h: late
	publish(t, st, "sales/kpis", now.Add(-time.Hour), slaContract)      // on time
	publish(t, st, "sales/raw", now.Add(-90*time.Second), "")           // no SLA
	runs := &fakeRuns{runs: []control.Run{
		{Product: "sales/kpis", Status: "Running", Start: now.Add(-2 * time.Hour)},
		{Product: "sales/kpis", Status: "Running", Start: now.Add(-10 * time.Minute)},
		{Product: "sales/kpis", Status: "Completed", Start: now.Add(-5 * time.Hour)},
	}}
	clock := now
	s := NewState(StateConfig{Store: st, Runs: runs, Now: func() time.Time { return clock }, TTL: time.Minute})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)

	want := `
# HELP meshflow_product_late 1 when the product is older than its contract's freshness SLA (frequency plus latency), else 0.
# TYPE meshflow_product_late gauge
meshflow_product_late{domain="sales",product="kpis"} 0
meshflow_product_late{domain="sales",product="orders"} 1
# HELP meshflow_product_freshness_seconds Seconds since the product's latest version was published, at scrape time.
# TYPE meshflow_product_freshness_seconds gauge
meshflow_product_freshness_seconds{domain="sales",product="kpis"} 3600
meshflow_product_freshness_seconds{domain="sales",product="orders"} 108000
meshflow_product_freshness_seconds{domain="sales",product="raw"} 90
# HELP meshflow_approvals_pending Runs of the product waiting for approval, from Temporal's visibility.
# TYPE meshflow_approvals_pending gauge
meshflow_approvals_pending{domain="sales",product="kpis"} 2
meshflow_approvals_pending{domain="sales",product="orders"} 0
meshflow_approvals_pending{domain="sales",product="raw"} 0
# HELP meshflow_approval_oldest_pending_seconds Age of the product's oldest run waiting for approval, counted from the run's start (an upper bound of its wait).
# TYPE meshflow_approval_oldest_pending_seconds gauge
meshflow_approval_oldest_pending_seconds{domain="sales",product="kpis"} 7200
# HELP meshflow_state_up 1 when the last read of the source (catalog, temporal) for the state metrics worked, else 0.
# TYPE meshflow_state_up gauge
meshflow_state_up{source="catalog"} 1
meshflow_state_up{source="temporal"} 1
`
	names := []string{"meshflow_product_late", "meshflow_product_freshness_seconds", "meshflow_approvals_pending",
		"meshflow_approval_oldest_pending_seconds", "meshflow_state_up"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if ts := gaugeValue(t, reg, "meshflow_product_last_publish_timestamp_seconds", "orders"); ts != float64(now.Add(-30*time.Hour).Unix()) {
		t.Errorf("last publish timestamp = %v", ts)
	}

	// Within the TTL the cached read is reused, but freshness follows the clock.
	clock = now.Add(30 * time.Second)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if runs.calls != 1 {
		t.Errorf("Temporal was asked %d times within the TTL, want 1", runs.calls)
	}
	if f := gaugeValue(t, reg, "meshflow_product_freshness_seconds", "raw"); f != 120 {
		t.Errorf("freshness after 30s = %v, want 120", f)
	}

	// After the TTL a failing source says so and keeps its last values.
	clock = now.Add(2 * time.Minute)
	runs.err = context.DeadlineExceeded
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshflow_state_up 1 when the last read of the source (catalog, temporal) for the state metrics worked, else 0.
# TYPE meshflow_state_up gauge
meshflow_state_up{source="catalog"} 1
meshflow_state_up{source="temporal"} 0
`), "meshflow_state_up"); err != nil {
		t.Error(err)
	}
}

// gaugeValue gathers reg and returns the gauge name of a product of domain sales.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name, product string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "product" && l.GetValue() == product {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{product=%q}", name, product)
	return 0
}
