package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/meshflow/meshflow/internal/refresh"
)

func mesh(t *testing.T, policies string) *spec.Mesh {
	t.Helper()
	src := "policies:\n" + policies
	ds := &diag.List{}
	doc, ok := yamlfile.Parse("mesh.yaml", []byte(src), ds)
	if !ok {
		t.Fatal(ds.Err())
	}
	m := &spec.Mesh{Doc: doc}
	yamlfile.Decode(doc, doc.Root, m, ds)
	return m
}

func TestCompileErrorsArePositioned(t *testing.T) {
	m := mesh(t, `  - {id: typo, message: m, rule: 'product.owner != "" && produt.tags.size() > 0'}
  - id: not-bool
    message: m
    rule: size(product.tags)
  - id: block
    message: m
    rule: |
      product.owner != ""
        && product.description = ""
`)
	ds := &diag.List{}
	set := Compile(m, ds)
	var got []string
	for _, d := range ds.Items() {
		got = append(got, fmt.Sprintf("%s %s", d.Pos, d.Message))
	}
	want := []string{
		`mesh.yaml:2:58 policy "typo": undeclared reference to 'produt' (did you mean 'product'?)`,
		`mesh.yaml:5:11 policy "not-bool" must return a bool, it returns int`,
		`mesh.yaml:10:32 policy "block": Syntax error: token recognition error at: '= '`,
		`mesh.yaml:10:34 policy "block": Syntax error: extraneous input '""' expecting <EOF>`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(set.Policies) != 0 {
		t.Errorf("compiled %d broken policies", len(set.Policies))
	}
}

func TestEvaluate(t *testing.T) {
	m := mesh(t, `  - {id: described, message: has a description, rule: 'product.description != ""'}
  - {id: tagged, message: has tags, severity: warning, rule: 'size(product.tags) > 0'}
  - {id: checked, message: has no failing rules, rule: 'quality.blocked == false'}
  - {id: contract-quality, message: reads the contract only, rule: 'contract.all(k, k != "quality")'}
`)
	ds := &diag.List{}
	set := Compile(m, ds)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	p := refresh.Product{Name: "x", Domain: "d", Owner: "o"}
	res := set.Evaluate(context.Background(), p, nil, nil, nil)
	// The rule that only mentions the word quality is evaluated outside a run.
	if len(res) != 3 || res[2].ID != "contract-quality" || !res[2].Holds {
		t.Fatalf("outside a run, only the policy reading quality must be skipped: %+v", res)
	}
	if res[0].Holds || !res[0].Blocks() || res[1].Holds || res[1].Blocks() {
		t.Errorf("got %+v", res)
	}
	res = set.Evaluate(context.Background(), p, nil, map[string]any{"blocked": false}, nil)
	if len(res) != 4 || !res[2].Holds {
		t.Errorf("got %+v", res)
	}
	// A policy that reads a missing field fails closed.
	res = set.Evaluate(context.Background(), p, nil, map[string]any{}, nil)
	if res[2].Holds || res[2].Error == "" {
		t.Errorf("missing quality field must fail closed: %+v", res[2])
	}
}

// TestImpactBlocksABreakingChange: a policy over impact.breaksConsumers holds
// without a candidate change (as at validate time) and for a change that breaks
// no consumer, and blocks one that breaks a consumer, naming it.
func TestImpactBlocksABreakingChange(t *testing.T) {
	m := mesh(t, `  - id: no-broken-consumers
    message: A change may not break the products that read this one.
    rule: impact.breaksConsumers.size() == 0
  - id: kpis-never-break
    message: Nothing may break the board's KPIs.
    rule: '!("finance/global-kpis" in impact.breaksConsumers)'
`)
	ds := &diag.List{}
	set := Compile(m, ds)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	p := refresh.Product{Name: "regional-sales", Domain: "sales-china", Owner: "o"}
	holds := func(res []Result) []bool {
		var out []bool
		for _, r := range res {
			if r.Error != "" {
				t.Fatalf("policy %s: %s", r.ID, r.Error)
			}
			out = append(out, r.Holds)
		}
		return out
	}
	if got := holds(set.Evaluate(context.Background(), p, nil, nil, nil)); fmt.Sprint(got) != "[true true]" {
		t.Errorf("without a change: holds %v, want both", got)
	}
	harmless := &refresh.Impact{Changed: []refresh.ChangedColumn{{Name: "city", Change: refresh.ColumnRemoved}},
		Consumers: []refresh.ConsumerImpact{{Product: "finance/global-kpis", Checked: true, Binds: true}}}
	if got := holds(set.Evaluate(context.Background(), p, nil, map[string]any{}, harmless)); fmt.Sprint(got) != "[true true]" {
		t.Errorf("a change no consumer reads: holds %v, want both", got)
	}
	breaking := &refresh.Impact{Changed: harmless.Changed, Consumers: []refresh.ConsumerImpact{
		{Product: "finance/global-kpis", Checked: true, Binds: false, Error: `Referenced column "city" not found`},
		{Product: "film/raw", Checked: false}, // not checked: not known to break
	}}
	res := set.Evaluate(context.Background(), p, nil, map[string]any{}, breaking)
	if got := holds(res); fmt.Sprint(got) != "[false false]" || !res[0].Blocks() {
		t.Errorf("a change that breaks the KPIs: holds %v, want neither, blocking", got)
	}
	if got := Facts(p, nil, nil, breaking)["impact"].(map[string]any)["breaksConsumers"]; fmt.Sprint(got) != "[finance/global-kpis]" {
		t.Errorf("impact.breaksConsumers = %v, want the KPIs alone", got)
	}
}
