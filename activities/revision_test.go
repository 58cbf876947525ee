package activities

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// The SDK's test activity environment runs every activity as scheduled by
// this run, from this task queue: activities work only for the run that
// scheduled them, on the task queue of their product.
const (
	testRunID = "default-test-run-id"
	testQueue = "default-test-taskqueue"
)

// applyProducts applies a mesh revision holding products, moved to the test
// environment's task queue, to st, and returns them as a run resolves them
// from it.
func applyProducts(t testing.TB, st storage.Store, products ...refresh.Product) []refresh.Product {
	t.Helper()
	return applyRevision(t, st, meshrev.Revision{}, products...)
}

// applyRevision is applyProducts with the rest of the revision (keys,
// policies, the applier) taken from rev.
func applyRevision(t testing.TB, st storage.Store, rev meshrev.Revision, products ...refresh.Product) []refresh.Product {
	t.Helper()
	rev.Format, rev.Products = meshrev.Format, map[string]refresh.Product{}
	if rev.AppliedBy == "" {
		rev.AppliedBy = "ops@example.com"
	}
	for _, p := range products {
		p.TaskQueue = testQueue
		rev.Products[p.Ref()] = p
	}
	pub, err := meshrev.Publish(t.Context(), st, rev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]refresh.Product, len(products))
	for i, p := range products {
		p.TaskQueue = testQueue
		res, err := rev.Resolve(pub.ID, p.Ref())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = res.Product
	}
	return out
}

// applyBuilt applies a revision that meshrev.Build made, its products
// moved to the test environment's task queue, and returns it as applied.
func applyBuilt(t testing.TB, st storage.Store, rev meshrev.Revision) meshrev.Revision {
	t.Helper()
	products := slices.Collect(maps.Values(rev.Products))
	applyRevision(t, st, rev, products...)
	cur, _, err := meshrev.Load(t.Context(), st, refresh.RevisionCurrent)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// storeAndSigner returns an empty local store and a new signer, for a test
// to publish revisions and sign decisions with.
func storeAndSigner(t testing.TB) (storage.Store, *signing.Signer) {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return st, signer
}

// resolvedFor returns product ref of the current revision in st, as a run
// resolves it.
func resolvedFor(t testing.TB, st storage.Store, ref string) refresh.Resolved {
	t.Helper()
	rev, id, err := meshrev.Load(t.Context(), st, refresh.RevisionCurrent)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rev.Resolve(id, ref)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// execute runs activity fn in env with in and decodes its result.
func execute[T any](env *testsuite.TestActivityEnvironment, fn, in any) (T, error) {
	var out T
	val, err := env.ExecuteActivity(fn, in)
	if err == nil {
		err = val.Get(&out)
	}
	return out, err
}

// runAs makes a's activities run as if run runID of a workflow on the test
// task queue scheduled them, and returns a.
func runAs(a *Activities, runID string) *Activities {
	a.scheduler = func(context.Context) activity.Info {
		return activity.Info{WorkflowExecution: workflow.Execution{ID: "refresh-test", RunID: runID}, TaskQueue: testQueue}
	}
	return a
}

// activityEnv returns a test activity environment with a's activities.
func activityEnv(a *Activities) *testsuite.TestActivityEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	for _, fn := range []any{a.ResolveProduct, a.Ingest, a.Transform, a.Validate, a.Govern, a.Publish, a.RecordCheck,
		a.CleanupStaging, a.PlanPartitions, a.BuildPartitions, a.CombinePartitions, a.LatestManifest} {
		env.RegisterActivity(fn)
	}
	return env
}

// stageChecksForTest stages what Validate would have found, for tests that
// start a run at Govern.
func stageChecksForTest(t testing.TB, a *Activities, ref string, v refresh.ValidateResult) {
	t.Helper()
	if err := a.stageJSON(t.Context(), ref, testRunID, layout.Checks, stagedChecks{Validate: v}); err != nil {
		t.Fatal(err)
	}
}

// runAsWorkflow is runAs with the scheduling run's workflow ID.
func runAsWorkflow(a *Activities, workflowID, runID string) *Activities {
	a.scheduler = func(context.Context) activity.Info {
		return activity.Info{WorkflowExecution: workflow.Execution{ID: workflowID, RunID: runID}, TaskQueue: testQueue}
	}
	return a
}

// provenGrant applies a revision in which approver may grant access to
// product, and returns the grant of principal's request (workflow
// access/<product>/<principal>/<runID>, run runID), approved at at as serve
// signs it, with a's activities scheduled by that request.
func provenGrant(t testing.TB, st storage.Store, a *Activities, product, principal, approver, runID string, at time.Time) access.Grant {
	t.Helper()
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	domain, name, _ := strings.Cut(product, "/")
	p := applyRevision(t, st, meshrev.Revision{Keys: []signing.PublicKey{signer.PublicKey()},
		AccessApprovers: map[string][]string{product: {approver}}},
		refresh.Product{Domain: domain, Name: name, Owner: domain + "-data", Access: refresh.AccessRestricted})[0]
	wf := access.WorkflowID(product, principal, runID)
	g := access.Grant{ID: access.GrantID(wf, runID), Product: product, Principal: principal, GrantedBy: approver, Purpose: "test",
		GrantedAt: at, ExpiresAt: at.Add(time.Hour), WorkflowID: wf, Revision: p.Revision}
	_, proof := signer.Sign(g.Statement(), at)
	g.Proof = &proof
	runAsWorkflow(a, wf, runID)
	return g
}
