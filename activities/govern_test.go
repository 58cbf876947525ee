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
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
)

// TestGovernBlocksAChangeThatBreaksAConsumer runs Govern (in the SDK's test
// environment)
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
	const chinaRef = "sales-china/regional-sales"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "city tiers.csv"), []byte("city name,tier\nShanghai,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	consumer := refresh.Product{Domain: "marketing", Name: "city-tiers",
		SQL: `SELECT s.sku, t.tier, sum(s.units) AS units FROM sales s JOIN tiers t ON t."city name" = s.city GROUP BY ALL`,
		Inputs: []refresh.Input{{Name: "sales", Product: chinaRef},
			{Name: "tiers", URI: "file://" + filepath.ToSlash(filepath.Join(dir, "city tiers.csv")), Format: refresh.FormatCSV}}}
	// Govern reads the consumers and the policies from the revision.
	china := rev.Products[chinaRef]
	china.Consumers = []string{consumer.Ref()}
	rev.Products[chinaRef], rev.Products[consumer.Ref()] = china, consumer
	rev.Policies = []refresh.Policy{{ID: "no-broken-consumers", Message: "A change may not break a consumer.", Rule: "impact.breaksConsumers.size() == 0"}}
	applyBuilt(t, st, rev)
	china = resolvedFor(t, st, chinaRef).Product
	old := []refresh.Column{{Name: "day", Type: "DATE"}, {Name: "city", Type: "VARCHAR"}, {Name: "sku", Type: "VARCHAR"},
		{Name: "units", Type: "BIGINT"}, {Name: "net_revenue", Type: "DOUBLE"}, {Name: "currency", Type: "VARCHAR"}, {Name: "orders", Type: "BIGINT"}}
	candidate := slices.Delete(slices.Clone(old), 1, 2)
	// It compares with the latest published version, and the columns and
	// the quality this run's checks staged.
	publishtest.Publish(t, st, publishtest.Version{Ref: chinaRef, Manifest: refresh.Manifest{Columns: old}})

	a := &Activities{Store: st, Scratch: t.TempDir()}
	env := activityEnv(a)
	stageChecksForTest(t, a, chinaRef, refresh.ValidateResult{Quality: refresh.Quality{RowsIn: 1, RowsOut: 1}, Columns: candidate})
	gov, err := execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: china, RunID: testRunID})
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
	stageChecksForTest(t, a, chinaRef, refresh.ValidateResult{Quality: refresh.Quality{RowsIn: 1, RowsOut: 1}, Columns: slices.Delete(slices.Clone(old), 4, 5)})
	gov, err = execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: china, RunID: testRunID})
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
	rev.Policies = []refresh.Policy{{ID: "no-anomalies", Message: "Anomalies need a look first.", Rule: "quality.history < 5 || quality.anomalies.size() == 0"}}
	applyBuilt(t, st, rev)
	china := resolvedFor(t, st, "sales-china/regional-sales").Product
	a := &Activities{Store: st, Scratch: t.TempDir()}
	env := activityEnv(a)
	for _, tc := range []struct {
		q     refresh.Quality
		holds bool
	}{
		{refresh.Quality{RowsIn: 1, RowsOut: 1}, true},
		{refresh.Quality{RowsIn: 1, RowsOut: 1, History: 6, Anomalies: []refresh.Anomaly{{Rule: "anomaly_row_count", Metric: "row_count"}}}, false},
	} {
		stageChecksForTest(t, a, china.Ref(), refresh.ValidateResult{Quality: tc.q})
		gov, err := execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: china, RunID: testRunID})
		if err != nil {
			t.Fatal(err)
		}
		if len(gov.Policies) != 1 || gov.Policies[0].Holds != tc.holds || gov.Policies[0].Error != "" {
			t.Errorf("quality %+v: policies %+v, want holds %t", tc.q, gov.Policies, tc.holds)
		}
	}
}
