package activities

// Red-team attacks on the trust boundary of the activities: each test plays
// an outsider with raw Temporal access who schedules meshflow's activities
// from a workflow of their own, and asserts that the attack is REFUSED. A
// failing test is a hole.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
)

// redTeamStages runs Ingest, Transform, Validate and Govern for p as run
// runID of a, as an attacker's workflow would, and returns the manifest
// meshflow's workflow would have built from them (no approvals).
func redTeamStages(t *testing.T, a *Activities, p refresh.Product, runID string) refresh.Manifest {
	t.Helper()
	env := redTeamEnv(a)
	ing, err := execute[refresh.IngestResult](env, a.Ingest, refresh.IngestInput{Product: p, RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := execute[refresh.TransformResult](env, a.Transform, refresh.TransformInput{Product: p, RunID: runID, Inputs: ing.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	val, err := execute[refresh.ValidateResult](env, a.Validate, refresh.ValidateInput{Product: p, RunID: runID, Candidate: tr.Candidate})
	if err != nil {
		t.Fatal(err)
	}
	gov, err := execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: p, RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	contract := gov.Contract
	return refresh.Manifest{Product: p.Ref(), RunID: runID, WorkflowID: "refresh-test", Submitter: "mallory", Reason: "manual",
		MeshRevision: p.Revision, Inputs: ing.Inputs, Columns: val.Columns, ContractColumns: val.ContractColumns,
		ContractVersion: gov.ContractVersion, Contract: &contract, Changes: gov.Changes, Policies: gov.Policies,
		Quality: val.Quality, Data: val.Data, Report: val.Report, Quarantine: val.Quarantine, Breaking: gov.Breaking, Impact: gov.Impact}
}

// redTeamEnv is activityEnv registering the activities one by one: the
// shared helper registers the whole struct, which Serve (no result) breaks.
func redTeamEnv(a *Activities) *testsuite.TestActivityEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	for _, fn := range []any{a.Ingest, a.Transform, a.Validate, a.Govern, a.Publish, a.PlanPartitions, a.BuildPartitions,
		a.CombinePartitions, a.RecordGrant, a.RevokeGrant, a.NotifyEscalation, a.CleanupStaging, a.RecordCheck} {
		env.RegisterActivity(fn)
	}
	return env
}

func redTeamCSV(t *testing.T, body string) string {
	t.Helper()
	csv := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(csv, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return csv
}

func ordersProduct(csv string, approval refresh.ApprovalMode) refresh.Product {
	return refresh.Product{Domain: "sales", Name: "orders", Owner: "sales-team", SQL: "SELECT id, city FROM orders", Contract: trustContract,
		Inputs:     []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(csv), Format: refresh.FormatCSV}},
		Governance: refresh.Governance{Approval: approval, Stewards: []string{"ana", "tom"}, Quorum: 1, Timeout: time.Hour}}
}

// TestRedTeamRollbackToOlderRevision: the product's current revision needs
// the stewards' sign-off (approval "always"); an older revision, still in
// the store, said approval "never". The attacker's workflow names the old
// revision in every activity input and in the manifest. The workflow refuses
// this (only a signed request may name a revision), but the activities load
// whatever revision their input names.
func TestRedTeamRollbackToOlderRevision(t *testing.T) {
	st, signer := storeAndSigner(t)
	csv := redTeamCSV(t, "id,city\n1,Lyon\n2,Oslo\n")
	keys := meshrev.Revision{Keys: []signing.PublicKey{signer.PublicKey()}}
	old := applyRevision(t, st, keys, ordersProduct(csv, refresh.ApprovalNever))[0]
	cur := applyRevision(t, st, keys, ordersProduct(csv, refresh.ApprovalAlways))[0]
	if old.Revision == cur.Revision {
		t.Fatal("the two revisions are the same")
	}
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1")
	m := redTeamStages(t, a, old, "run-1")
	_, err := execute[refresh.PublishResult](redTeamEnv(a), a.Publish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor})
	if head, found, _ := catalog.ReadLatest(t.Context(), st, old.Ref()); found {
		t.Errorf("HOLE: published %s %s from superseded mesh revision %s without the sign-off the current revision %s requires (Publish returned %v)",
			old.Ref(), head.Pointer.Version, meshrev.Short(old.Revision), meshrev.Short(cur.Revision), err)
	}
}

// TestRedTeamGovernanceOfOtherChecks: Govern evaluates the policies over the
// checks staged when it runs; a later Validate of a new candidate in the same
// run re-stages the checks without governing them again. Publish compares the
// manifest's policies with the stale governance, so a version that breaks a
// blocking policy is published as if the policy held.
func TestRedTeamGovernanceOfOtherChecks(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	csv := redTeamCSV(t, "id,city\n1,Lyon\n2,Oslo\n")
	p := applyRevision(t, st, meshrev.Revision{Policies: []refresh.Policy{{ID: "at-most-two-rows", Message: "m", Severity: "error", Rule: "quality.rowsOut <= 2"}}},
		ordersProduct(csv, refresh.ApprovalNever))[0]
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1")
	env := redTeamEnv(a)
	m := redTeamStages(t, a, p, "run-1") // governed with 2 rows: the policy holds
	// The input changes (or the attacker waits until it does); the run
	// ingests, transforms and validates again, and skips Govern.
	if err := os.WriteFile(csv, []byte("id,city\n1,Lyon\n2,Oslo\n3,Rome\n4,Kyiv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ing, err := execute[refresh.IngestResult](env, a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := execute[refresh.TransformResult](env, a.Transform, refresh.TransformInput{Product: p, RunID: "run-1", Inputs: ing.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	val, err := execute[refresh.ValidateResult](env, a.Validate, refresh.ValidateInput{Product: p, RunID: "run-1", Candidate: tr.Candidate})
	if err != nil {
		t.Fatal(err)
	}
	m.Inputs, m.Columns, m.ContractColumns, m.Quality, m.Data, m.Report, m.Quarantine = ing.Inputs, val.Columns, val.ContractColumns, val.Quality, val.Data, val.Report, val.Quarantine
	_, err = execute[refresh.PublishResult](env, a.Publish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor})
	if head, found, _ := catalog.ReadLatest(t.Context(), st, p.Ref()); found {
		t.Errorf("HOLE: published %s %s with %d rows although blocking policy at-most-two-rows fails on them (manifest policies %+v, Publish returned %v)",
			p.Ref(), head.Pointer.Version, head.Manifest.Quality.RowsOut, head.Manifest.Policies, err)
	}
}

const redTeamPartContract = `apiVersion: v3.1.0
kind: DataContract
id: daily
version: 1.0.0
status: active
schema:
  - name: daily
    properties:
      - {name: day, logicalType: date, required: true}
      - {name: id, logicalType: integer, required: true}
    quality:
      - {type: custom, engine: cel, implementation: "duplicate_count.id == 0", severity: error}
`

// TestRedTeamCombineSubsetOfBatches: a partitioned product's plan builds two
// partitions in two batches; the second partition fails a blocking rule.
// The attacker's workflow combines only the first batch's result: the
// failing partition (and any other it likes) is left out of the version,
// whose checks then pass, and Publish publishes it.
func TestRedTeamCombineSubsetOfBatches(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for day, rows := range map[string]string{"2026-01-01": "1\n2\n", "2026-01-02": "3\n3\n"} {
		dir := filepath.Join(data, "day="+day)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "id,ts\n"
		for _, id := range strings.Fields(rows) {
			body += id + "," + day + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := applyProducts(t, st, refresh.Product{Domain: "sales", Name: "daily", Owner: "sales-team",
		SQL: "SELECT CAST(ts AS DATE) AS day, id FROM orders", Contract: redTeamPartContract,
		Inputs:     []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(data) + "/day={day}/", Format: refresh.FormatCSV, Partitioned: true}},
		Partitions: &refresh.Partitioning{By: "day", Column: "day", Start: "2026-01-01", MaxParallel: 1},
		Governance: refresh.Governance{Approval: refresh.ApprovalOnBreakingChange, Stewards: []string{"ana"}, Quorum: 1, Timeout: time.Hour}})[0]
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1")
	env := redTeamEnv(a)
	plan, err := execute[refresh.PlanResult](env, a.PlanPartitions, refresh.PlanInput{Product: p, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Batches != 2 {
		t.Fatalf("the plan has %d batches, want 2", plan.Batches)
	}
	var results []refresh.ObjectRef
	for b := range plan.Batches {
		res, err := execute[refresh.BatchResult](env, a.BuildPartitions, refresh.BatchInput{Product: p, RunID: "run-1", Plan: plan.Plan, Batch: b})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res.Result)
	}
	// The honest combination is blocked.
	all, err := execute[refresh.CombineResult](env, a.CombinePartitions, refresh.CombineInput{Product: p, RunID: "run-1", Plan: plan.Plan, Batches: results})
	if err != nil {
		t.Fatal(err)
	}
	if !all.Validate.Quality.Blocked {
		t.Fatalf("the whole version is not blocked: %+v", all.Validate.Quality)
	}
	// The attacker's: the first batch only.
	sub, err := execute[refresh.CombineResult](env, a.CombinePartitions, refresh.CombineInput{Product: p, RunID: "run-1", Plan: plan.Plan, Batches: results[:1]})
	if err != nil {
		t.Logf("Combine of a subset of the batches refused: %v", err)
		return
	}
	gov, err := execute[refresh.GovernResult](env, a.Govern, refresh.GovernInput{Product: p, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	v, contract := sub.Validate, gov.Contract
	parts := sub.Partitions
	m := refresh.Manifest{Product: p.Ref(), RunID: "run-1", WorkflowID: "refresh-test", Submitter: "mallory", Reason: "manual",
		MeshRevision: p.Revision, Inputs: plan.Inputs, Columns: v.Columns, ContractColumns: v.ContractColumns,
		ContractVersion: gov.ContractVersion, Contract: &contract, Changes: gov.Changes, Policies: gov.Policies,
		Quality: v.Quality, Data: v.Data, Report: v.Report, Quarantine: v.Quarantine, Breaking: gov.Breaking, Impact: gov.Impact, Partitions: &parts}
	_, err = execute[refresh.PublishResult](env, a.Publish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor})
	if head, found, _ := catalog.ReadLatest(t.Context(), st, p.Ref()); found {
		t.Errorf("HOLE: Combine accepted 1 of the plan's 2 batches (blocked %t, %d of 2 partitions) and Publish published %s %s without sign-off (Publish returned %v)",
			sub.Validate.Quality.Blocked, sub.Partitions.Total, p.Ref(), head.Pointer.Version, err)
	} else {
		t.Errorf("HOLE (partial): Combine accepted 1 of the plan's 2 batches and staged unblocked checks (blocked %t, %d partitions); Publish: %v",
			sub.Validate.Quality.Blocked, sub.Partitions.Total, err)
	}
}

// TestRedTeamReRecordRevokedGrant: a grant was approved, recorded by the
// access workflow and revoked. RecordGrant believes its input: scheduled by
// the attacker's workflow with the same grant (same signed approval) under
// a new ID, it writes an unrevoked copy, which grants.Check accepts. And
// RevokeGrant revokes anyone's grant on request.
func TestRedTeamReRecordRevokedGrant(t *testing.T) {
	st, signer := storeAndSigner(t)
	secret := refresh.Product{Domain: "other", Name: "secret", Owner: "other-team", SQL: "SELECT 1 AS id", Access: refresh.AccessRestricted,
		Governance: refresh.Governance{Approval: refresh.ApprovalNever, Stewards: []string{"olga"}, Quorum: 1, Timeout: time.Hour}}
	p := applyRevision(t, st, meshrev.Revision{Keys: []signing.PublicKey{signer.PublicKey()},
		AccessApprovers: map[string][]string{"other/secret": {"olga"}}}, secret)[0]
	now := time.Now().UTC()
	wf := access.WorkflowID("other/secret", "sec-data", "r1")
	g := access.Grant{ID: "g-legit", Product: "other/secret", Principal: "sec-data", Purpose: "x", GrantedBy: "olga",
		GrantedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), WorkflowID: wf, Revision: p.Revision}
	_, proof := signer.Sign(g.Statement(), now)
	g.Proof = &proof
	if _, err := grants.Record(t.Context(), st, g); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := grants.Check(t.Context(), st, "sec-data", "other/secret", time.Now()); err != nil || !ok {
		t.Fatalf("the legitimate grant does not hold: %t, %v", ok, err)
	}
	if _, err := grants.Revoke(t.Context(), st, "other/secret", "g-legit", "olga", "no longer needed", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := grants.Check(t.Context(), st, "sec-data", "other/secret", time.Now()); ok {
		t.Fatal("the revoked grant still holds")
	}

	// The attacker (sec's team, who read the grant from the store or from
	// the access workflow's history) schedules RecordGrant with it again.
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "evil-run")
	env := redTeamEnv(a)
	again := g
	again.ID = "g-again"
	_, recErr := execute[access.Grant](env, a.RecordGrant, access.RecordInput{Grant: again})
	if got, ok, _ := grants.Check(t.Context(), st, "sec-data", "other/secret", time.Now()); ok {
		t.Errorf("HOLE: after revocation, RecordGrant scheduled by another workflow re-recorded the grant as %s, and grants.Check accepts it (RecordGrant returned %v)", got.ID, recErr)
	}

	// RevokeGrant revokes another team's live grant on anyone's word.
	g2 := g
	g2.ID, g2.WorkflowID = "g-live", access.WorkflowID("other/secret", "sec-data", "r2")
	_, proof2 := signer.Sign(g2.Statement(), now)
	g2.Proof = &proof2
	if _, err := grants.Record(t.Context(), st, g2); err != nil {
		t.Fatal(err)
	}
	_, revErr := execute[access.Grant](env, a.RevokeGrant, access.RevokeInput{Product: "other/secret", ID: "g-live", By: "olga", Reason: "forged", At: time.Now()})
	live, _ := grants.Find(t.Context(), st, "g-live")
	if !live.RevokedAt.IsZero() {
		t.Errorf("HOLE: RevokeGrant scheduled by another workflow revoked grant g-live in olga's name (revoked by %q: %q; returned %v)", live.RevokedBy, live.Reason, revErr)
	}
}

// TestRedTeamForgedNotifications: NotifyEscalation and CleanupStaging,
// scheduled from another domain's queue, leave no notification about a
// product that domain's worker does not serve. (A run of the product's own
// domain still speaks for it: the README says what Temporal access allows.)
func TestRedTeamForgedNotifications(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	applyProducts(t, st, ordersProduct(redTeamCSV(t, "id,city\n1,Lyon\n"), refresh.ApprovalAlways))
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1, Notify: true}, testRunID)
	// The attacker's activities come from another domain's queue, which
	// this worker serves, but sales/orders is not of that domain.
	inner := a.scheduler
	a.scheduler = func(ctx context.Context) activity.Info {
		info := inner(ctx)
		info.TaskQueue = "finance"
		return info
	}
	a.Serve("finance")
	env := redTeamEnv(a)
	_, escErr := env.ExecuteActivity(a.NotifyEscalation, refresh.EscalationInput{Ref: "sales/orders", EscalateTo: []string{"mallory"},
		Approvers: []string{"mallory"}, Detail: "Approve at https://evil.example/approve", Deadline: time.Now().Add(time.Hour)})
	_, cleanErr := env.ExecuteActivity(a.CleanupStaging, refresh.CleanupInput{Ref: "sales/orders", RunID: testRunID, Stage: refresh.StageFailed,
		Reason: "credentials expired: sign in again at https://evil.example"})
	objs, err := st.List(t.Context(), layout.NotifyOutbox.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Key)
	}
	if len(objs) > 0 {
		t.Errorf("HOLE: a workflow that is no refresh of sales/orders left %d notification(s) with its own text about it: %s (NotifyEscalation: %v, CleanupStaging: %v)",
			len(objs), strings.Join(kinds, ", "), escErr, cleanErr)
	}
}
