// Package meshcheck validates a whole mesh, as `meshflow validate` and `meshflow
// apply` do: it loads mesh.yaml and every product spec and contract (package spec),
// checks that each transform SQL is one SELECT or WITH statement (package
// engine/sqlcheck, which links DuckDB for its parser), compiles each contract's
// rules against its columns (package rules), compiles the mesh-wide policies and
// checks every product against them (package policy), and returns every problem
// found, sorted.
package meshcheck

import (
	"context"

	"github.com/meshflow/meshflow/internal/mesh/diag"
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
	// Diagnostics holds every problem found.
	Diagnostics *diag.List
}

// Check validates the mesh in dir.
func Check(ctx context.Context, dir string) *Result {
	set, ds := spec.Load(dir)
	res := &Result{Set: set, Rules: map[string]*rules.Set{}, Diagnostics: ds}
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
		for _, r := range res.Policies.Evaluate(ctx, p, nil) {
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
