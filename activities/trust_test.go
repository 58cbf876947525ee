package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// trustRun is a run of sales/orders (approval "always", stewards ana and
// tom, submitted by tom) taken through Ingest, Transform, Validate and Govern
// in the SDK's test environment, as run run-1 of workflow refresh-test: what
// a workflow of an outsider's could do with meshflow's activities.
type trustRun struct {
	st     storage.Store
	a      *Activities
	env    *testsuite.TestActivityEnvironment
	signer *signing.Signer
	p      refresh.Product
	ing    refresh.IngestResult
	val    refresh.ValidateResult
	gov    refresh.GovernResult
}

const trustContract = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n" +
	"      - {name: id, logicalType: integer}\n      - {name: city, logicalType: string}\n"

func newTrustRun(t *testing.T) *trustRun {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(csv, []byte("id,city\n1,Lyon\n2,Oslo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	p := applyRevision(t, st, meshrev.Revision{Keys: []signing.PublicKey{signer.PublicKey()}}, refresh.Product{
		Domain: "sales", Name: "orders", Owner: "sales-team", SQL: "SELECT id, city FROM orders", Contract: trustContract,
		Inputs:     []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(csv), Format: refresh.FormatCSV}},
		Governance: refresh.Governance{Approval: refresh.ApprovalAlways, Stewards: []string{"ana", "tom"}, Quorum: 1, Timeout: time.Hour},
	})[0]
	r := &trustRun{st: st, a: runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1"), signer: signer, p: p}
	r.env = activityEnv(r.a)
	if r.ing, err = execute[refresh.IngestResult](r.env, r.a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"}); err != nil {
		t.Fatal(err)
	}
	tr, err := execute[refresh.TransformResult](r.env, r.a.Transform, refresh.TransformInput{Product: p, RunID: "run-1", Inputs: r.ing.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if r.val, err = execute[refresh.ValidateResult](r.env, r.a.Validate, refresh.ValidateInput{Product: p, RunID: "run-1", Candidate: tr.Candidate}); err != nil {
		t.Fatal(err)
	}
	if r.gov, err = execute[refresh.GovernResult](r.env, r.a.Govern, refresh.GovernInput{Product: p, RunID: "run-1"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// manifest is the manifest meshflow's workflow would publish.
func (r *trustRun) manifest() refresh.Manifest {
	contract := r.gov.Contract
	return refresh.Manifest{Product: r.p.Ref(), RunID: "run-1", WorkflowID: "refresh-test", Submitter: "tom", Reason: "manual",
		MeshRevision: r.p.Revision, Inputs: r.ing.Inputs, Columns: r.val.Columns, ContractColumns: r.val.ContractColumns,
		ContractVersion: r.gov.ContractVersion, Contract: &contract, Changes: r.gov.Changes, Policies: r.gov.Policies,
		Quality: r.val.Quality, Data: r.val.Data, Report: r.val.Report, Quarantine: r.val.Quarantine, Breaking: r.gov.Breaking, Impact: r.gov.Impact}
}

// approval is principal's decision on m, signed by signer.
func approval(signer *signing.Signer, m refresh.Manifest, principal string, approve bool) refresh.Approval {
	hash := refresh.ManifestHash(m)
	_, proof := signer.Sign(refresh.DecisionStatement(m.WorkflowID, m.Product, principal, approve, "", hash), time.Now())
	return refresh.Approval{Principal: principal, Decision: refresh.VerdictOf(approve), ManifestHash: hash, At: time.Now(), Proof: &proof}
}

func wantRefused(t *testing.T, what string, err error, errType, says string) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != errType || !app.NonRetryable() || !strings.Contains(err.Error(), says) {
		t.Errorf("%s: %v; want a non-retryable %s saying %q", what, err, errType, says)
	}
}

// TestActivitiesRefuseAnotherProduct: an activity scheduled with a product
// other than its mesh revision's (other SQL, another input, an unknown
// revision), from another task queue, or naming another run, is refused
// before it reads anything.
func TestActivitiesRefuseAnotherProduct(t *testing.T) {
	r := newTrustRun(t)
	sql := r.p
	sql.SQL = "SELECT * FROM read_csv('/etc/passwd')"
	input := r.p
	input.Inputs = []refresh.Input{{Name: "orders", URI: "file:///etc/passwd", Format: refresh.FormatCSV}}
	unknown := r.p
	unknown.Revision = strings.Repeat("ab", 32)
	for what, p := range map[string]refresh.Product{"other SQL": sql, "another input": input, "an unknown revision": unknown} {
		_, err := execute[refresh.IngestResult](r.env, r.a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"})
		wantRefused(t, "Ingest with "+what, err, refresh.ErrUnauthorized, "mesh revision")
		_, err = execute[refresh.TransformResult](r.env, r.a.Transform, refresh.TransformInput{Product: p, RunID: "run-1", Inputs: r.ing.Inputs})
		wantRefused(t, "Transform with "+what, err, refresh.ErrUnauthorized, "mesh revision")
	}
	_, err := execute[refresh.IngestResult](r.env, r.a.Ingest, refresh.IngestInput{Product: r.p, RunID: "run-2"})
	wantRefused(t, "Ingest for another run", err, refresh.ErrUnauthorized, "but run run-1 scheduled it")

	// The finance team's worker does not run sales' activities.
	finance := &Activities{Store: r.st, Scratch: t.TempDir(), Threads: 1}
	runAs(finance, "run-1")
	inner := finance.scheduler
	finance.scheduler = func(ctx2 context.Context) activity.Info {
		info := inner(ctx2)
		info.TaskQueue = "finance"
		return info
	}
	_, err = execute[refresh.IngestResult](activityEnv(finance), finance.Ingest, refresh.IngestInput{Product: r.p, RunID: "run-1"})
	wantRefused(t, "Ingest from another task queue", err, refresh.ErrUnauthorized, `this activity came from "finance"`)

	// Validate checks only the candidate this run's transform staged.
	other := refresh.ObjectRef{Key: "other/secret/v1.0.0/data.parquet"}
	_, err = execute[refresh.ValidateResult](r.env, r.a.Validate, refresh.ValidateInput{Product: r.p, RunID: "run-1", Candidate: other})
	wantRefused(t, "Validate of another product's data", err, refresh.ErrUnauthorized, "not this run's")
}

// TestPublishChecksWhatTheRunFound: Publish refuses a manifest without the
// proven sign-off its route needs (none, a stranger's, the submitter's, one
// signed by another key or for another manifest), one that says other than
// the run's staged checks, names objects the run did not stage, bumps the
// version against its changes, or names another workflow; it publishes the
// manifest a steward approved. Nothing refused is published.
func TestPublishChecksWhatTheRunFound(t *testing.T) {
	r := newTrustRun(t)
	stranger, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	publish := func(m refresh.Manifest, bump refresh.Bump) error {
		_, err := execute[refresh.PublishResult](r.env, r.a.Publish, refresh.PublishInput{Manifest: m, Bump: bump})
		return err
	}
	m := r.manifest()
	otherHash := m
	otherHash.Reason = "another manifest"
	for what, approvals := range map[string][]refresh.Approval{
		"no approval":                   nil,
		"a stranger's approval":         {approval(r.signer, m, "mallory", true)},
		"the submitter's approval":      {approval(r.signer, m, "tom", true)},
		"an approval signed elsewhere":  {approval(stranger, m, "ana", true)},
		"an approval of another review": {approval(r.signer, otherHash, "ana", true)},
		"an unsigned approval":          {{Principal: "ana", Decision: refresh.Approve, ManifestHash: refresh.ManifestHash(m)}},
	} {
		forged := m
		forged.Approvals = approvals
		wantRefused(t, "Publish with "+what, publish(forged, refresh.BumpMinor), refresh.ErrUnauthorized, "lacks its sign-off")
	}
	approved := m
	approved.Approvals = []refresh.Approval{approval(r.signer, m, "ana", true)}

	rejected := m
	rejected.Submitter = "someone"
	rejected.Approvals = []refresh.Approval{approval(r.signer, rejected, "ana", true), approval(r.signer, rejected, "tom", false)}
	wantRefused(t, "Publish of a rejected version", publish(rejected, refresh.BumpMinor), refresh.ErrUnauthorized, "tom rejected")

	claims := map[string]func(*refresh.Manifest){
		"quality": func(m *refresh.Manifest) { m.Quality.Warnings = 0; m.Quality.RowsOut = 1000 },
		"data": func(m *refresh.Manifest) {
			m.Data = refresh.ObjectRef{Key: layout.StagedKey(m.Product, m.RunID, "elsewhere.parquet")}
		},
		"policies": func(m *refresh.Manifest) { m.Policies = []refresh.PolicyResult{{ID: "made-up", Holds: true}} },
		"breaking": func(m *refresh.Manifest) { m.Breaking = true },
	}
	for name, change := range claims {
		forged := approved
		change(&forged)
		forged.Approvals = []refresh.Approval{approval(r.signer, forged, "ana", true)}
		wantRefused(t, "Publish of a manifest whose "+name+" was changed", publish(forged, refresh.BumpMinor), refresh.ErrUnauthorized, "")
	}
	stolen := approved
	stolen.Report = refresh.ObjectRef{Key: "other/secret/v1.0.0/quality.json"}
	wantRefused(t, "Publish of another product's object", publish(stolen, refresh.BumpMinor), refresh.ErrUnauthorized, "which this run did not stage")
	wantRefused(t, "Publish of a compatible change as a major", publish(approved, refresh.BumpMajor), refresh.ErrUnauthorized, "published as a minor version")
	elsewhere := approved
	elsewhere.WorkflowID = "refresh/sales/orders/other"
	wantRefused(t, "Publish for another workflow", publish(elsewhere, refresh.BumpMinor), refresh.ErrUnauthorized, "but refresh-test scheduled it")
	if _, found, err := catalog.ReadLatest(t.Context(), r.st, r.p.Ref()); err != nil || found {
		t.Fatalf("a refused publication published: found %t, %v", found, err)
	}

	if err := publish(approved, refresh.BumpMinor); err != nil {
		t.Fatalf("Publish of the approved manifest: %v", err)
	}
	head, found, err := catalog.ReadLatest(t.Context(), r.st, r.p.Ref())
	if err != nil || !found || head.Pointer.RunID != "run-1" {
		t.Fatalf("latest after the approved publication: %+v, %t, %v", head.Pointer, found, err)
	}
}

// TestGovernBelievesTheStore: Govern ignores the quality, the columns, the
// published version, the consumers and the policies of its input; a run
// whose checks staged nothing (an older build's, or an outsider's that
// skipped Validate) cannot be governed, published or recorded unchanged.
func TestGovernBelievesTheStore(t *testing.T) {
	r := newTrustRun(t)
	forged, err := execute[refresh.GovernResult](r.env, r.a.Govern, refresh.GovernInput{Product: r.p, RunID: "run-1",
		Quality:  refresh.Quality{RowsIn: 5, Warnings: 3},
		Policies: []refresh.Policy{{ID: "always-fails", Message: "m", Rule: "false"}},
		Previous: &refresh.Manifest{Product: r.p.Ref(), Version: "7.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(forged, r.gov) {
		t.Errorf("Govern with forged facts found %+v, want what it found from the store: %+v", forged, r.gov)
	}

	skipped := runAs(&Activities{Store: r.st, Scratch: t.TempDir(), Threads: 1}, "run-9")
	env := activityEnv(skipped)
	_, err = execute[refresh.GovernResult](env, skipped.Govern, refresh.GovernInput{Product: r.p, RunID: "run-9"})
	wantRefused(t, "Govern of a run that staged no checks", err, refresh.ErrUnauthorized, "staged no checks.json")
	m := r.manifest()
	m.RunID = "run-9"
	m.Approvals = []refresh.Approval{approval(r.signer, m, "ana", true)}
	_, err = execute[refresh.PublishResult](env, skipped.Publish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor})
	// (refused for naming run-1's objects, and for lacking its own checks)
	wantRefused(t, "Publish of a run that staged no checks", err, refresh.ErrUnauthorized, "stage")
	_, err = env.ExecuteActivity(skipped.RecordCheck, refresh.CheckInput{Ref: r.p.Ref(), Version: "1.0.0", RunID: "run-9", WorkflowID: "refresh-test",
		MeshRevision: r.p.Revision, CheckedAt: time.Now().Add(24 * time.Hour)})
	wantRefused(t, "RecordCheck of a run that staged no checks", err, refresh.ErrUnauthorized, "staged no checks.json")
}
