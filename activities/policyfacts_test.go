package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// factPolicies are appended to the example mesh's policies. Each comment says
// how the code before policy.Facts judged it: meshcheck built `product` from
// the raw spec (policy.ProductVars) and Govern from the revision
// (activities.ProductVars), and where they differed the policy passed
// `meshflow validate` and failed every run, or the other way round. (The
// example's own product-has-blocking-rule was not checked at validate time at
// all: its rule mentions o.quality, and validate skipped every rule with the
// word "quality" in it.)
const factPolicies = `
  # Before: validate saw governance.stewards as written, empty for a product
  # that leaves them to its domain (sales-emea/regional-sales,
  # supply-chain/delivery-performance), so it failed; a run saw the domain's
  # stewards and held.
  - id: has-stewards
    message: Someone signs off.
    rule: size(product.stewards) > 0
  # Before: validate saw the team governance-board that fx-rates names and
  # failed; a run saw its member maria.rossi and held.
  - id: stewards-are-people
    message: Stewards are people.
    rule: product.stewards.all(s, s.contains("."))
  - id: board-stewards-fx
    message: The governance board stewards the FX rates.
    rule: |
      product.name != "fx-rates" ||
        ("governance-board" in product.stewardPrincipals && "maria.rossi" in product.stewards && "omar.haddad" in product.stewards)
  # Before: validate saw file://data/... and held; a run saw the absolute path
  # the revision carries and failed.
  - id: inputs-are-relative
    message: Local inputs are named relative to the mesh folder.
    rule: product.inputs.all(i, !i.startsWith("file:///"))
  - id: local-inputs-under-data
    message: Local inputs live under data/.
    rule: product.inputs.all(i, !i.startsWith("file://") || i.startsWith("file://data/"))
  - id: kpis-read-both-regions
    message: The global KPIs read both regions and the FX rates.
    rule: |
      product.name != "global-kpis" ||
        product.inputs == ["sales-china/regional-sales", "sales-emea/regional-sales", "finance/fx-rates"]
  # Before: validate saw "" for fx-rates, whose spec names no approval mode,
  # and failed; a run saw the default "never".
  - id: approval-named
    message: The approval mode is one meshflow knows.
    rule: product.approval in ["never", "always", "on-breaking-change"]
  - id: owned-by-team
    message: Teams own products.
    rule: product.owner.endsWith("-data") && product.access in ["open", "restricted"]
  - id: board-tag
    message: Board products say so.
    severity: warning
    rule: '"board" in product.tags'
  - id: contract-is-active-odcs-3
    message: Contracts are active ODCS 3 documents named after their product.
    rule: contract.status == "active" && contract.apiVersion.startsWith("v3") && contract.name == product.name
  - id: contract-describes-purpose
    message: Contracts say what they are for.
    severity: warning
    rule: has(contract.description) && has(contract.description.purpose)
  # impact exists in both paths: empty at validate time, where there is no
  # candidate, and in a run whose columns did not change.
  - id: no-broken-consumers
    message: A change breaks no consumer.
    rule: impact.breaksConsumers.size() == 0
  - id: quality-not-blocked
    message: No blocking rule fails.
    rule: quality.blocked == false
`

// alwaysHold are the policies of factPolicies that hold for every product of
// the fixture, in both paths; before policy.Facts, validate or the run failed
// each of them for some product.
var alwaysHold = []string{"has-stewards", "stewards-are-people", "board-stewards-fx", "inputs-are-relative",
	"local-inputs-under-data", "kpis-read-both-regions", "approval-named", "owned-by-team", "contract-is-active-odcs-3", "no-broken-consumers"}

// TestPoliciesSeeTheSameFactsAtValidateAndInARun evaluates policies over
// stewards, inputs, tags, owner, approval and contract fields with `meshflow
// validate`'s code (meshcheck.Check) and with a run's (the revision that
// apply builds, read back by ResolveProduct and judged by Govern, called
// without Temporal), and wants the same verdict for every product and policy.
func TestPoliciesSeeTheSameFactsAtValidateAndInARun(t *testing.T) {
	ctx := context.Background()
	dir := meshtest.CopyExample(t)
	meshtest.Edit(t, dir, "mesh.yaml", "\npolicies:\n", "\npolicies:\n"+strings.TrimPrefix(factPolicies, "\n"))
	// fx-rates is stewarded by a team and a person, and names no approval mode.
	meshtest.Edit(t, dir, "finance/fx-rates.yaml", "governance:\n  approval: never\n",
		"governance:\n  stewards: [governance-board, omar.haddad]\n")

	// Validate time.
	res := meshcheck.Check(ctx, dir)
	for _, d := range res.Diagnostics.Items() {
		if d.Code != "policy" {
			t.Fatalf("the fixture mesh has a problem other than a policy: %s %s", d.Pos, d.Message)
		}
	}
	if len(res.Verdicts) != len(res.Set.Products) {
		t.Fatalf("validate judged %d of %d products", len(res.Verdicts), len(res.Set.Products))
	}

	// Run time: apply's revision, in a store, read back as a run reads it.
	rev, st := revisionOf(t, res.Set)
	applyBuilt(t, st, rev)
	a := &Activities{Store: st}
	env := activityEnv(a)

	holds := map[string]int{}
	for _, p := range res.Set.Products {
		ref := p.Ref()
		resolved, err := a.ResolveProduct(ctx, refresh.ResolveInput{Ref: ref, Revision: refresh.RevisionCurrent})
		if err != nil {
			t.Fatal(err)
		}
		stageChecksForTest(t, a, ref, refresh.ValidateResult{Quality: refresh.Quality{RowsIn: 1, RowsOut: 1}})
		gov, err := execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: resolved.Product, RunID: testRunID})
		if err != nil {
			t.Fatal(err)
		}
		run := map[string]refresh.PolicyResult{}
		for _, r := range gov.Policies {
			run[r.ID] = r
		}
		if _, ok := run["quality-not-blocked"]; !ok {
			t.Errorf("%s: the run did not evaluate the quality policy", ref)
		}
		validated := res.Verdicts[ref]
		if len(validated) != len(run)-1 {
			t.Errorf("%s: validate evaluated %d policies, the run %d; only quality-not-blocked is for runs alone", ref, len(validated), len(run))
		}
		for _, v := range validated {
			r, ok := run[v.ID]
			switch {
			case !ok:
				t.Errorf("%s: the run did not evaluate policy %s", ref, v.ID)
			case v.Holds != r.Holds || v.Error != r.Error:
				t.Errorf("%s: policy %s holds=%t (error %q) at validate time and holds=%t (error %q) in a run",
					ref, v.ID, v.Holds, v.Error, r.Holds, r.Error)
			}
			if v.Error != "" {
				t.Errorf("%s: policy %s could not be evaluated: %s", ref, v.ID, v.Error)
			}
			if v.Holds {
				holds[v.ID]++
			}
		}
	}
	for _, id := range alwaysHold {
		if holds[id] != len(res.Set.Products) {
			t.Errorf("policy %s holds for %d of %d products, want all", id, holds[id], len(res.Set.Products))
		}
	}
	// Not every verdict is "holds": the comparison covers failing ones too.
	if n := holds["board-tag"]; n == 0 || n == len(res.Set.Products) {
		t.Errorf("policy board-tag holds for %d of %d products; the fixture has one board product", n, len(res.Set.Products))
	}
}

// revisionOf returns the revision meshflow apply builds of a checked mesh, and
// an empty store for a test to publish to.
func revisionOf(t *testing.T, set *spec.Set) (meshrev.Revision, storage.Store) {
	t.Helper()
	st, signer := storeAndSigner(t)
	rev, err := meshrev.Build(set, "ci", []signing.PublicKey{signer.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	return rev, st
}
