package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/test/harness"
)

// TestImpactListedBeforeApproval publishes the example mesh's sources, then a
// version of the China sales without the column units, which the finance
// KPIs (another domain) read. Under a mesh policy that forbids breaking a
// consumer, the run fails before anyone is asked; without it, the run waits for
// approval and its status (the Temporal status query) lists the KPIs as
// breaking, with the column and the output column that reads it, before
// anyone signs off. The published manifest keeps the impact.
func TestImpactListedBeforeApproval(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.startWorkers(harness.Queues(e.set), nil)
	const china, kpis = "sales-china/regional-sales", "finance/global-kpis"
	for _, ref := range []string{"finance/fx-rates", "sales-emea/regional-sales", china} {
		if v := e.Published(e.startRef(ref, "impact", "chen.jie"), 2*time.Minute); v != "1.0.0" {
			t.Fatalf("%s published %s, want 1.0.0", ref, v)
		}
	}

	p := e.product(china)
	p.SQL = strings.Replace(p.SQL, "sum(quantity) AS units,", "", 1)
	start := strings.Index(p.Contract, "      - name: units\n")
	end := strings.Index(p.Contract, "      - name: net_revenue\n")
	if strings.Contains(p.SQL, "AS units") || start < 0 || end < start {
		t.Fatal("the test's edit of the China product did not apply")
	}
	p.Contract = p.Contract[:start] + p.Contract[end:]

	// A mesh policy blocks the change: nothing is asked, nothing published.
	_, rev := e.Mesh.Apply(t, e.set, func(r *meshrev.Revision) {
		r.Products[china] = p
		r.Policies = append(r.Policies, refresh.Policy{ID: "no-broken-consumers",
			Message: "A change may not break the products that read this one.", Rule: "impact.breaksConsumers.size() == 0"})
	})
	blocked, err := e.Control.Start(t.Context(), control.Refresh{Ref: china, TaskQueue: p.TaskQueue, Revision: rev,
		Principal: "chen.jie", Reason: e.Name, Suffix: "impact-blocked"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Result(blocked, 2*time.Minute); harness.ErrType(err) != refresh.ErrPolicy ||
		!strings.Contains(err.Error(), "policy no-broken-consumers does not hold") {
		t.Fatalf("the change that breaks the KPIs under the policy: %v (type %q); want a policy violation", err, harness.ErrType(err))
	}
	st, err := e.Control.Status(t.Context(), blocked.GetID(), "")
	if err != nil || !slices.Equal(st.Impact.BreaksConsumers(), []string{kpis}) {
		t.Fatalf("status of the blocked run: impact %+v, %v; want the KPIs breaking", st.Impact, err)
	}

	// Without the policy, the stewards are asked, and told.
	run := e.startProduct(p, "impact", "chen.jie")
	st = e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, 2*time.Minute)
	checkKPIsBreak(t, st.Impact)
	if !st.Breaking || len(st.Groups) != 2 || st.Groups[1].Name != "consumer "+kpis {
		t.Fatalf("routing of the change: breaking=%t groups=%+v", st.Breaking, st.Groups)
	}
	for _, who := range []string{"li.wei", "omar.haddad"} {
		if _, err := e.Control.Decide(t.Context(), "", run.GetID(), refresh.Decision{Principal: who, Approve: true, Comment: "KPIs will be fixed"}); err != nil {
			t.Fatalf("%s approves: %v", who, err)
		}
	}
	if v := e.Published(run, time.Minute); v != "2.0.0" {
		t.Fatalf("published %s, want 2.0.0", v)
	}
	shown, err := catalog.Show(t.Context(), e.Store, china)
	if err != nil {
		t.Fatal(err)
	}
	checkKPIsBreak(t, shown.Latest.Impact)
}

// checkKPIsBreak wants an impact that says the KPIs break because they read
// the removed column units, in their output column units alone.
func checkKPIsBreak(t *testing.T, im *refresh.Impact) {
	t.Helper()
	if im == nil {
		t.Fatal("no impact analysis")
	}
	if len(im.Changed) != 1 || im.Changed[0].Name != "units" || im.Changed[0].Change != refresh.ColumnRemoved {
		t.Fatalf("changed columns %+v, want units removed", im.Changed)
	}
	if len(im.Consumers) != 1 {
		t.Fatalf("consumers %+v, want the KPIs alone", im.Consumers)
	}
	c := im.Consumers[0]
	if c.Product != "finance/global-kpis" || !c.Breaks() || !strings.Contains(c.Error, `"units"`) {
		t.Fatalf("the KPIs: %+v; want them breaking with DuckDB's error naming units", c)
	}
	if want := "finance/global-kpis will fail: its SQL reads `units`, removed here"; c.Summary != want {
		t.Errorf("summary %q, want %q", c.Summary, want)
	}
	if len(c.Outputs) != 1 || c.Outputs[0].Column != "units" || !slices.Equal(c.Outputs[0].Reads, []string{"units"}) {
		t.Errorf("outputs that read the change %+v, want units alone", c.Outputs)
	}
}
