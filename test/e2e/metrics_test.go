package e2e

import (
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/metrics"
	"github.com/meshflow/meshflow/internal/metrics/meshstate"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRefreshMetrics refreshes one product with metrics on a fresh registry and
// checks the series the activities and the state collector produce.
func TestRefreshMetrics(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(meshstate.New(meshstate.Config{Store: e.Store, Runs: e.Control, TTL: time.Nanosecond}))
	e.StartWorkers(harness.Queues(e.set), harness.WorkerOptions{Threads: 2, Metrics: metrics.New(reg)})
	const domain, name = "supply-chain", "delivery-performance"
	run := e.startRef(domain+"/"+name, "metrics", "chen.jie")
	res, err := e.Result(run, 2*time.Minute)
	if err != nil || res.Stage != refresh.StagePublished {
		t.Fatalf("got %+v, %v; want published", res, err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string, labels map[string]string) *dto.Metric {
		t.Helper()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				for k, v := range labels {
					found := false
					for _, l := range m.GetLabel() {
						found = found || (l.GetName() == k && l.GetValue() == v)
					}
					if !found {
						continue next
					}
				}
				return m
			}
		}
		t.Fatalf("no series %s%v", name, labels)
		return nil
	}
	product := func(extra ...string) map[string]string {
		l := map[string]string{"domain": domain, "product": name}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}

	in := find("meshflow_refresh_rows_total", product("kind", "in")).GetCounter().GetValue()
	out := find("meshflow_refresh_rows_total", product("kind", "out")).GetCounter().GetValue()
	quarantined := find("meshflow_refresh_rows_total", product("kind", "quarantined")).GetCounter().GetValue()
	if in <= 0 || out <= 0 || in != out+quarantined {
		t.Errorf("rows in %v, out %v, quarantined %v: want in = out + quarantined > 0", in, out, quarantined)
	}
	for _, stage := range []refresh.Stage{refresh.StageIngesting, refresh.StageTransforming, refresh.StageValidating, refresh.StagePublishing} {
		if n := find("meshflow_refresh_stage_duration_seconds", product("stage", string(stage))).GetHistogram().GetSampleCount(); n != 1 {
			t.Errorf("stage %s: %d observations, want 1", stage, n)
		}
	}
	if v := find("meshflow_refresh_runs_total", product("outcome", string(refresh.StagePublished))).GetCounter().GetValue(); v != 1 {
		t.Errorf("published runs = %v, want 1", v)
	}
	published := find("meshflow_product_last_publish_timestamp_seconds", product()).GetGauge().GetValue()
	if published <= 0 || published > float64(time.Now().Unix()+1) {
		t.Errorf("last publish timestamp = %v, want a time in the past", published)
	}
	if v := find("meshflow_approvals_pending", product()).GetGauge().GetValue(); v != 0 {
		t.Errorf("approvals pending = %v, want 0", v)
	}
}
