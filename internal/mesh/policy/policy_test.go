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
	res := set.Evaluate(context.Background(), p, nil, nil)
	// The rule that only mentions the word quality is evaluated outside a run.
	if len(res) != 3 || res[2].ID != "contract-quality" || !res[2].Holds {
		t.Fatalf("outside a run, only the policy reading quality must be skipped: %+v", res)
	}
	if res[0].Holds || !res[0].Blocks() || res[1].Holds || res[1].Blocks() {
		t.Errorf("got %+v", res)
	}
	res = set.Evaluate(context.Background(), p, nil, map[string]any{"blocked": false})
	if len(res) != 4 || !res[2].Holds {
		t.Errorf("got %+v", res)
	}
	// A policy that reads a missing field fails closed.
	res = set.Evaluate(context.Background(), p, nil, map[string]any{})
	if res[2].Holds || res[2].Error == "" {
		t.Errorf("missing quality field must fail closed: %+v", res[2])
	}
}
