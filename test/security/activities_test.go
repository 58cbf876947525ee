package security

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The attacks below skip meshflow's workflow altogether: the attacker's own
// workflow, on the attacker's own worker, schedules meshflow's activities on
// sec's task queue, where meshflow's worker runs them, with inputs of its
// choosing.

// evilStages is what evilActivities does.
type evilStages struct {
	// Ref is the product whose activities the workflow schedules.
	Ref string
	// Forge is the attack: "spec", "publish-unapproved", "publish-stolen"
	// or "record-check".
	Forge string
}

// evilActivities is the attacker's workflow: it reads the product from the
// revision as meshflow would, then forges what Forge says.
func evilActivities(ctx workflow.Context, in evilStages) error {
	run := workflow.GetInfo(ctx).WorkflowExecution
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: secQueue, StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	var res refresh.Resolved
	if err := workflow.ExecuteActivity(ctx, refresh.ActivityResolve, refresh.ResolveInput{Ref: in.Ref, Revision: refresh.RevisionCurrent}).Get(ctx, &res); err != nil {
		return err
	}
	p := res.Product
	switch in.Forge {
	case "spec":
		// The product as the attacker would like it: the worker's files.
		p.Inputs = []refresh.Input{{Name: "orders", URI: "file:///etc/passwd", Format: refresh.FormatCSV}}
		p.SQL = "SELECT 1 AS id, 1.0 AS amount FROM orders"
		return workflow.ExecuteActivity(ctx, refresh.ActivityIngest, refresh.IngestInput{Product: p, RunID: run.RunID}).Get(ctx, nil)
	case "publish-stolen":
		// A manifest of the product naming other/secret's published objects.
		var latest refresh.LatestResult
		if err := workflow.ExecuteActivity(ctx, refresh.ActivityLatest, refresh.LatestInput{Ref: "other/secret"}).Get(ctx, &latest); err != nil {
			return err
		}
		m := latest.Manifest
		m.Product, m.RunID, m.WorkflowID, m.MeshRevision, m.Approvals = p.Ref(), run.RunID, run.ID, res.Revision, nil
		return workflow.ExecuteActivity(ctx, refresh.ActivityPublish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor}).Get(ctx, nil)
	case "record-check":
		// A check of other/secret (sec's queue does not serve it) far in the
		// future, so that it looks fresh forever.
		var latest refresh.LatestResult
		if err := workflow.ExecuteActivity(ctx, refresh.ActivityLatest, refresh.LatestInput{Ref: "other/secret"}).Get(ctx, &latest); err != nil {
			return err
		}
		return workflow.ExecuteActivity(ctx, refresh.ActivityRecordCheck, refresh.CheckInput{Ref: "other/secret", Version: latest.Manifest.Version,
			RunID: run.RunID, WorkflowID: run.ID, CheckedAt: workflow.Now(ctx).Add(24 * 365 * time.Hour)}).Get(ctx, nil)
	}
	// publish-unapproved: the genuine stages, then Publish without the
	// steward's sign-off that approval "always" needs.
	var ing refresh.IngestResult
	if err := workflow.ExecuteActivity(ctx, refresh.ActivityIngest, refresh.IngestInput{Product: p, RunID: run.RunID}).Get(ctx, &ing); err != nil {
		return err
	}
	var tr refresh.TransformResult
	if err := workflow.ExecuteActivity(ctx, refresh.ActivityTransform, refresh.TransformInput{Product: p, RunID: run.RunID, Inputs: ing.Inputs}).Get(ctx, &tr); err != nil {
		return err
	}
	var val refresh.ValidateResult
	if err := workflow.ExecuteActivity(ctx, refresh.ActivityValidate, refresh.ValidateInput{Product: p, RunID: run.RunID, Candidate: tr.Candidate}).Get(ctx, &val); err != nil {
		return err
	}
	var gov refresh.GovernResult
	if err := workflow.ExecuteActivity(ctx, refresh.ActivityGovern, refresh.GovernInput{Product: p, RunID: run.RunID}).Get(ctx, &gov); err != nil {
		return err
	}
	contract := gov.Contract
	m := refresh.Manifest{Product: p.Ref(), RunID: run.RunID, WorkflowID: run.ID, MeshRevision: res.Revision, Inputs: ing.Inputs,
		Columns: val.Columns, ContractColumns: val.ContractColumns, ContractVersion: gov.ContractVersion, Contract: &contract,
		Changes: gov.Changes, Policies: gov.Policies, Quality: val.Quality, Data: val.Data, Report: val.Report, Quarantine: val.Quarantine,
		Breaking: gov.Breaking, Impact: gov.Impact,
		Approvals: []refresh.Approval{{Principal: steward, Decision: refresh.Approve, ManifestHash: "self-made", At: workflow.Now(ctx)}}}
	return workflow.ExecuteActivity(ctx, refresh.ActivityPublish, refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor}).Get(ctx, nil)
}

// runEvil runs the attacker's workflow and wants it refused as unauthorized,
// with nothing of ref published.
func runEvil(t *testing.T, e *env, id string, in evilStages) error {
	run, err := e.Temporal.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: evilQueue,
		WorkflowExecutionTimeout: 2 * time.Minute}, evilActivities, in)
	if err != nil {
		return err
	}
	err = run.Get(t.Context(), nil)
	if harness.ErrType(err) != refresh.ErrUnauthorized {
		return fmt.Errorf("the attacker's activities ended with %v; want %s", err, refresh.ErrUnauthorized)
	}
	if _, found, err := catalog.ReadLatest(t.Context(), e.Store, in.Ref); err != nil || found {
		return fmt.Errorf("%s was published (%v)", in.Ref, err)
	}
	return nil
}

func activityAttacks() []attack {
	return []attack{
		{"meshflow's Ingest scheduled by another workflow with a spec of its own", func(t *testing.T, e *env) error {
			return runEvil(t, e, "evil/spec", evilStages{Ref: "sec/target", Forge: "spec"})
		}},
		{"meshflow's stages run by another workflow, then Publish without sign-off", func(t *testing.T, e *env) error {
			return runEvil(t, e, "evil/publish-unapproved", evilStages{Ref: "sec/target", Forge: "publish-unapproved"})
		}},
		{"Publish scheduled with a manifest naming another product's objects", func(t *testing.T, e *env) error {
			return runEvil(t, e, "evil/publish-stolen", evilStages{Ref: "sec/target", Forge: "publish-stolen"})
		}},
		{"RecordCheck of another domain's product, dated next year", func(t *testing.T, e *env) error {
			if err := runEvil(t, e, "evil/record-check", evilStages{Ref: "sec/target", Forge: "record-check"}); err != nil {
				return err
			}
			checks, err := e.Store.List(t.Context(), "other/secret/checked")
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			for _, o := range checks {
				if strings.HasSuffix(o.Key, ".json") {
					return fmt.Errorf("the forged check was recorded: %s", o.Key)
				}
			}
			return nil
		}},
	}
}
