package meshstate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	publishing "github.com/meshflow/meshflow/internal/store/publish"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

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

// publish publishes version 1.0.0 of ref at the given time, with a contract when
// contractText is not empty.
func publish(t *testing.T, st storage.Store, ref string, at time.Time, contractText string) {
	t.Helper()
	publishtest.Publish(t, st, publishtest.Version{Ref: ref, At: at, Contract: contractText})
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
	s := New(Config{Store: st, Runs: runs, Now: func() time.Time { return clock }, TTL: time.Minute})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)

	want := `
# HELP meshflow_product_late 1 when the product is older than its contract's freshness SLA (frequency plus latency), else 0.
# TYPE meshflow_product_late gauge
meshflow_product_late{domain="sales",product="kpis"} 0
meshflow_product_late{domain="sales",product="orders"} 1
# HELP meshflow_product_freshness_seconds Seconds since the product's latest version was published, or since a later run found its output unchanged, at scrape time.
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

// TestDeprecatedInputs: an input of the applied mesh pinned to a deprecated
// major is a series until the deprecation date; inputs that follow the
// latest version, or pin a major that is not deprecated, are none.
func TestDeprecatedInputs(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	const up = "aviation/airports"
	publishtest.Publish(t, st, publishtest.Version{Ref: up, At: now.Add(-2 * time.Hour)})
	publishtest.Publish(t, st, publishtest.Version{Ref: up, At: now.Add(-time.Hour), Breaking: true})
	meshrevtest.New(t, st).Products(t,
		refresh.Product{Domain: "film", Name: "cities", Inputs: []refresh.Input{{Name: "airports", Product: up, Major: 1}, {Name: "now", Product: up}}},
		refresh.Product{Domain: "film", Name: "new", Inputs: []refresh.Input{{Name: "airports", Product: up, Major: 2}}})
	if err := catalog.Deprecate(t.Context(), st, refresh.Deprecation{Product: up, Major: 1, On: "2027-03-01", Note: "use @2", By: "ana", At: now}); err != nil {
		t.Fatal(err)
	}
	clock := now
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(Config{Store: st, Now: func() time.Time { return clock }, TTL: time.Minute}))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshflow_deprecated_inputs 1 for each input of a product of the applied mesh that pins a deprecated major version (upstream@major), until the date (on) from which its runs fail.
# TYPE meshflow_deprecated_inputs gauge
meshflow_deprecated_inputs{input="airports",major="1",on="2027-03-01",product="film/cities",upstream="aviation/airports"} 1
`), "meshflow_deprecated_inputs"); err != nil {
		t.Error(err)
	}
	clock = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if n, err := testutil.GatherAndCount(reg, "meshflow_deprecated_inputs"); err != nil || n != 0 {
		t.Errorf("after the date: %d series (%v), want none", n, err)
	}
}

// TestUnchangedCheckCountsAsFresh: a product published 30h ago (SLA 28h) whose
// run found it unchanged an hour ago is fresh: freshness counts from the check,
// and the last publication stays when it was published.
func TestUnchangedCheckCountsAsFresh(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	publish(t, st, "sales/orders", now.Add(-30*time.Hour), slaContract)
	p := publishing.Publisher{Store: st}
	if err := p.RecordCheck(t.Context(), "sales/orders", layout.Check{Version: "1.0.0", CheckedAt: now.Add(-time.Hour), RunID: "r"}); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: st, Now: func() time.Time { return now }, TTL: time.Minute})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want := fmt.Sprintf(`
# HELP meshflow_product_late 1 when the product is older than its contract's freshness SLA (frequency plus latency), else 0.
# TYPE meshflow_product_late gauge
meshflow_product_late{domain="sales",product="orders"} 0
# HELP meshflow_product_freshness_seconds Seconds since the product's latest version was published, or since a later run found its output unchanged, at scrape time.
# TYPE meshflow_product_freshness_seconds gauge
meshflow_product_freshness_seconds{domain="sales",product="orders"} 3600
# HELP meshflow_product_last_publish_timestamp_seconds When the product's latest version was published (Unix seconds), from the catalog.
# TYPE meshflow_product_last_publish_timestamp_seconds gauge
meshflow_product_last_publish_timestamp_seconds{domain="sales",product="orders"} %d
`, now.Add(-30*time.Hour).Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshflow_product_late", "meshflow_product_freshness_seconds",
		"meshflow_product_last_publish_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}
