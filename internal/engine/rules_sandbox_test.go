package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/rules"
)

// TestRulesInTheSandbox evaluates a contract's rules as the validate stage does,
// on the sandboxed database: translated to SQL and in CEL, writing the passing
// rows and the quarantine to the run's scratch.
func TestRulesInTheSandbox(t *testing.T) {
	r := newSandboxRun(t)
	if _, err := r.db.Run(t.Context(), "checked", "SELECT order_id, city, units FROM orders"); err != nil {
		t.Fatal(err)
	}
	ds := &diag.List{}
	cols := []rules.Column{{Name: "order_id", Type: rules.Int}, {Name: "city", Type: rules.String}, {Name: "units", Type: rules.Int}}
	set := rules.Compile(cols, []rules.Rule{
		{ID: "units_1", Column: "units", Expr: "units > 1", Severity: rules.Error},
		{ID: "city_1", Column: "city", Expr: "city.matches('^[A-Z]')", Severity: rules.Error},
	}, rules.DefaultOptions(), ds)
	if ds.HasErrors() {
		t.Fatal(ds.Items())
	}
	for _, cel := range []bool{false, true} {
		pass, quarantine := filepath.Join(r.run, "data.parquet"), filepath.Join(r.run, "quarantine.parquet")
		rep, err := set.Evaluate(t.Context(), r.db.DB, "checked", rules.EvalOptions{PassingPath: pass, QuarantinePath: quarantine, ForceCEL: cel})
		if err != nil {
			t.Fatalf("cel=%v: %v", cel, err)
		}
		if rep.Rows != 5 || rep.Passing != 3 || rep.Quarantined != 2 {
			t.Errorf("cel=%v: %d rows, %d passing, %d quarantined; want 5, 3, 2", cel, rep.Rows, rep.Passing, rep.Quarantined)
		}
		for _, f := range []string{pass, quarantine} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("cel=%v: %v", cel, err)
			}
		}
	}
}
