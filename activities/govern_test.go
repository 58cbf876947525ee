package activities

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/refresh"
)

// TestGovernBlocksAChangeThatBreaksAConsumer runs Govern (without Temporal)
// on a version of the China sales without the column city. Its consumer reads
// it, joined with a local CSV file whose columns Govern sniffs, so the
// consumer is checked and breaks; a mesh policy over impact.breaksConsumers
// then does not hold, and the impact names the consumer's output column that
// reads city.
func TestGovernBlocksAChangeThatBreaksAConsumer(t *testing.T) {
	ctx := t.Context()
	res := meshcheck.Check(ctx, meshtest.Example(t))
	if err := res.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	rev, st := revisionOf(t, res.Set)
	china := rev.Products["sales-china/regional-sales"]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "city tiers.csv"), []byte("city name,tier\nShanghai,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	consumer := refresh.Product{Domain: "marketing", Name: "city-tiers",
		SQL: `SELECT s.sku, t.tier, sum(s.units) AS units FROM sales s JOIN tiers t ON t."city name" = s.city GROUP BY ALL`,
		Inputs: []refresh.Input{{Name: "sales", Product: china.Ref()},
			{Name: "tiers", URI: "file://" + filepath.ToSlash(filepath.Join(dir, "city tiers.csv")), Format: refresh.FormatCSV}}}
	old := []refresh.Column{{Name: "day", Type: "DATE"}, {Name: "city", Type: "VARCHAR"}, {Name: "sku", Type: "VARCHAR"},
		{Name: "units", Type: "BIGINT"}, {Name: "net_revenue", Type: "DOUBLE"}, {Name: "currency", Type: "VARCHAR"}, {Name: "orders", Type: "BIGINT"}}
	candidate := slices.Delete(slices.Clone(old), 1, 2)

	a := &Activities{Store: st, Scratch: t.TempDir()}
	gov, err := a.Govern(ctx, refresh.GovernInput{Product: china, RunID: "run-1", Quality: refresh.Quality{RowsIn: 1, RowsOut: 1},
		Policies: []refresh.Policy{{ID: "no-broken-consumers", Message: "A change may not break a consumer.", Rule: "impact.breaksConsumers.size() == 0"}},
		Previous: &refresh.Manifest{Product: china.Ref(), Version: "1.0.0", Columns: old}, Columns: candidate, Consumers: []refresh.Product{consumer}})
	if err != nil {
		t.Fatal(err)
	}
	if gov.Impact == nil || len(gov.Impact.Consumers) != 1 {
		t.Fatalf("impact %+v, want the consumer checked", gov.Impact)
	}
	c := gov.Impact.Consumers[0]
	if !c.Checked || c.Binds || !slices.Equal(c.Reads, []string{"city"}) {
		t.Fatalf("consumer %+v; want it checked over the file's columns, and broken by city", c)
	}
	// The join on city decides every output row.
	for _, o := range c.Outputs {
		if !slices.Equal(o.Reads, []string{"city"}) {
			t.Errorf("output %s reads %v, want city", o.Column, o.Reads)
		}
	}
	if len(c.Outputs) != 3 || !strings.HasPrefix(c.Summary, "marketing/city-tiers will fail: its SQL reads `city`, removed here") {
		t.Errorf("consumer %+v; want all three outputs reading city and the summary saying it", c)
	}
	if len(gov.Policies) != 1 || gov.Policies[0].Holds || !gov.Policies[0].Blocks() {
		t.Fatalf("policies %+v; want no-broken-consumers not to hold", gov.Policies)
	}

	// The same candidate with city kept breaks nobody, and the policy holds.
	gov, err = a.Govern(ctx, refresh.GovernInput{Product: china, RunID: "run-2", Quality: refresh.Quality{RowsIn: 1, RowsOut: 1},
		Policies: []refresh.Policy{{ID: "no-broken-consumers", Message: "m", Rule: "impact.breaksConsumers.size() == 0"}},
		Previous: &refresh.Manifest{Product: china.Ref(), Version: "1.0.0", Columns: old}, Columns: slices.Delete(slices.Clone(old), 4, 5),
		Consumers: []refresh.Product{consumer}})
	if err != nil {
		t.Fatal(err)
	}
	if c := gov.Impact.Consumers[0]; !c.Binds || len(c.Outputs) != 0 || !gov.Policies[0].Holds {
		t.Errorf("removing net_revenue, which the consumer does not read: %+v, policies %+v", c, gov.Policies)
	}
}

// TestPoliciesReadAnomalies: a policy may read quality.anomalies and
// quality.history whether or not the run has any, and blocks a run with an
// anomaly.
func TestPoliciesReadAnomalies(t *testing.T) {
	ctx := t.Context()
	res := meshcheck.Check(ctx, meshtest.Example(t))
	if err := res.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	rev, st := revisionOf(t, res.Set)
	china := rev.Products["sales-china/regional-sales"]
	a := &Activities{Store: st, Scratch: t.TempDir()}
	policies := []refresh.Policy{{ID: "no-anomalies", Message: "Anomalies need a look first.", Rule: "quality.history < 5 || quality.anomalies.size() == 0"}}
	for _, tc := range []struct {
		q     refresh.Quality
		holds bool
	}{
		{refresh.Quality{RowsIn: 1, RowsOut: 1}, true},
		{refresh.Quality{RowsIn: 1, RowsOut: 1, History: 6, Anomalies: []refresh.Anomaly{{Rule: "anomaly_row_count", Metric: "row_count"}}}, false},
	} {
		gov, err := a.Govern(ctx, refresh.GovernInput{Product: china, RunID: "run-1", Quality: tc.q, Policies: policies})
		if err != nil {
			t.Fatal(err)
		}
		if len(gov.Policies) != 1 || gov.Policies[0].Holds != tc.holds || gov.Policies[0].Error != "" {
			t.Errorf("quality %+v: policies %+v, want holds %t", tc.q, gov.Policies, tc.holds)
		}
	}
}
