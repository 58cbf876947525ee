// Package meshcheck validates a whole mesh, as `meshflow validate` and `meshflow
// apply` do: it loads mesh.yaml and every product spec and contract (package spec),
// checks that each transform SQL is one SELECT or WITH statement (package
// engine/sqlcheck, which links DuckDB for its parser), compiles each contract's
// rules against its columns (package rules), compiles the mesh-wide policies and
// checks every product against them (package policy), and returns every problem
// found, sorted. Policies see each product as a run does: resolved the way
// `meshflow apply` puts it in the mesh revision (meshrev.Product).
package meshcheck

import (
	"context"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/policy"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/rules"
)

// Result is a validated mesh.
type Result struct {
	Set *spec.Set
	// Rules holds each product's compiled rules, by product reference.
	Rules map[string]*rules.Set
	// Policies are the mesh's compiled policies.
	Policies *policy.Set
	// Verdicts holds, by product reference, the outcome of every policy that
	// applies outside a run. A product that cannot be resolved (its spec has
	// errors) has none.
	Verdicts map[string][]policy.Result
	// Diagnostics holds every problem found.
	Diagnostics *diag.List
}

// Check validates the mesh in dir.
func Check(ctx context.Context, dir string) *Result {
	set, ds := spec.Load(dir)
	res := &Result{Set: set, Rules: map[string]*rules.Set{}, Verdicts: map[string][]policy.Result{}, Diagnostics: ds}
	for _, p := range set.Products {
		if p.Contract == nil {
			continue
		}
		cols, rs := rules.FromContract(p.Contract, ds)
		res.Rules[p.Ref()] = rules.Compile(cols, rs, rules.DefaultOptions(), ds)
	}
	checkSQL(ctx, set, ds)
	res.Policies = policy.Compile(set.Mesh, ds)
	for _, p := range set.Products {
		verdicts, ok := evaluate(ctx, res.Policies, set, p, ds)
		if !ok {
			continue
		}
		res.Verdicts[p.Ref()] = verdicts
		for _, r := range verdicts {
			if r.Holds {
				continue
			}
			msg := "product " + p.Ref() + " breaks policy " + r.ID + ": " + r.Message
			if r.Error != "" {
				msg += " (the policy could not be evaluated: " + r.Error + ")"
			}
			d := diag.Diagnostic{Pos: p.Doc.PosAt("metadata"), Severity: diag.Error, Code: "policy", Message: msg,
				Hint: "change the product so that the policy holds, or ask the governance team about the policy"}
			if r.Severity == "warning" {
				d.Severity = diag.Warning
			}
			ds.Add(d)
		}
	}
	return res
}

// evaluate checks a product against the policies with the facts a run of it
// would see: the product as meshrev.Product resolves it for the revision, and
// its contract read back from the resolved YAML text, as the Govern activity
// reads it. It reports false when the product cannot be resolved; that happens
// only to a product whose spec or contract has errors, which are in ds already,
// and otherwise adds the reason to ds.
func evaluate(ctx context.Context, pols *policy.Set, set *spec.Set, p *spec.Product, ds *diag.List) ([]policy.Result, bool) {
	if p.Contract == nil {
		return nil, false
	}
	rp, err := meshrev.Product(set, p)
	if err != nil {
		if !ds.HasErrors() {
			ds.Errorf(p.Doc.PosAt("metadata"), "internal", "report this as a bug", "resolve %s for its policies: %v", p.Ref(), err)
		}
		return nil, false
	}
	c, _ := contract.Load(rp.ContractFile, []byte(rp.Contract), &diag.List{})
	if c == nil {
		ds.Errorf(p.Doc.PosAt("metadata"), "internal", "report this as a bug", "the contract of %s does not parse once resolved", p.Ref())
		return nil, false
	}
	return pols.Evaluate(ctx, rp, c, nil, nil), true
}
