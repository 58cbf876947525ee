package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Anyone who may start workflows on a domain's task queue can also schedule
// meshflow's activities there, from a workflow of their own, with inputs of
// their own. So an activity believes nothing its input says about what it
// reads, runs or publishes: the product comes from the hash-checked mesh
// revision, the run from Temporal's record of who scheduled the activity, and
// the outcome of the checks from what the run's own activities staged in the
// store. Publish then routes the version as the workflow would have, from
// those facts, and requires the proven sign-off of every group.

// unauthorized is the non-retryable error of an activity whose input is not
// what meshflow's own workflow would have sent.
func unauthorized(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...)+"; refresh runs are started by meshflow", refresh.ErrUnauthorized, nil)
}

// refused is unauthorized for runs that may be meshflow's own, started or
// checked by an older build: the message says what to do.
func refused(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), refresh.ErrUnauthorized, nil)
}

// revisionCache keeps the mesh revisions that activities read, by ID. A
// revision's ID is the SHA-256 of its content, so what was loaded once is
// never stale.
type revisionCache struct {
	mu   sync.Mutex
	revs map[string]meshrev.Revision
}

// maxCachedRevisions bounds the cache; a worker rarely sees more than the
// current revision and the one before.
const maxCachedRevisions = 16

// revision loads a mesh revision ("" or refresh.RevisionCurrent: the current
// one) and returns it with its ID.
func (a *Activities) revision(ctx context.Context, id string) (meshrev.Revision, string, error) {
	c := &a.revisions
	if id != "" && id != refresh.RevisionCurrent {
		c.mu.Lock()
		rev, ok := c.revs[id]
		c.mu.Unlock()
		if ok {
			return rev, id, nil
		}
	}
	rev, id, err := meshrev.Load(ctx, a.Store, id)
	if err != nil {
		if errors.Is(err, meshrev.ErrNoRevision) {
			return rev, id, unauthorized("%v", err)
		}
		return rev, id, err
	}
	c.mu.Lock()
	if c.revs == nil || len(c.revs) >= maxCachedRevisions {
		c.revs = map[string]meshrev.Revision{}
	}
	c.revs[id] = rev
	c.mu.Unlock()
	return rev, id, nil
}

// scheduledBy returns what Temporal records of the running activity: the
// workflow run that scheduled it and the task queue it came from.
func (a *Activities) scheduledBy(ctx context.Context) activity.Info {
	if a.scheduler != nil {
		return a.scheduler(ctx)
	}
	return activity.GetInfo(ctx)
}

// checkCaller checks that the running activity was scheduled by the workflow
// run runID: an activity works only in the staging and scratch of the run
// that scheduled it.
func (a *Activities) checkCaller(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return err
	}
	if scheduler := a.scheduledBy(ctx).WorkflowExecution.RunID; scheduler != runID {
		return unauthorized("the activity names run %s, but run %s scheduled it", runID, scheduler)
	}
	return nil
}

// resolveFor checks that the running activity was scheduled by the workflow
// run runID, on the task queue of product ref as mesh revision revision
// defines it, and returns what the revision resolves for ref.
func (a *Activities) resolveFor(ctx context.Context, revision, ref, runID string) (refresh.Resolved, error) {
	if err := a.checkCaller(ctx, runID); err != nil {
		return refresh.Resolved{}, err
	}
	info := a.scheduledBy(ctx)
	rev, id, err := a.revision(ctx, revision)
	if err != nil {
		return refresh.Resolved{}, err
	}
	res, err := rev.Resolve(id, ref)
	if err != nil {
		return res, unauthorized("%v", err)
	}
	if q := res.Product.TaskQueue; q != info.TaskQueue && !a.serves(q) {
		return res, unauthorized("%s runs on task queue %q, but this activity came from %q", ref, q, info.TaskQueue)
	}
	return res, nil
}

// Serve records that a worker polls task queue q with these activities
// (worker.New calls it). The stage activities of a run come from the
// worker's own session task queue, not from the product's: they run only for
// products of the queues the process serves, so that one domain's worker,
// with its credentials and files, never works for another domain.
func (a *Activities) Serve(q string) {
	a.queues.Lock()
	defer a.queues.Unlock()
	if a.queues.served == nil {
		a.queues.served = map[string]bool{}
	}
	a.queues.served[q] = true
}

func (a *Activities) serves(q string) bool {
	a.queues.Lock()
	defer a.queues.Unlock()
	return a.queues.served[q]
}

// authorize checks that the running activity was scheduled by run runID for
// product p exactly as p's mesh revision defines it (the current revision
// for products resolved before they named theirs), and returns what the
// revision resolves for p. The activity then works on the resolved product.
func (a *Activities) authorize(ctx context.Context, p refresh.Product, runID string) (refresh.Resolved, error) {
	res, err := a.resolveFor(ctx, p.Revision, p.Ref(), runID)
	if err != nil {
		return res, err
	}
	got := p
	got.Revision = res.Revision
	if !sameJSON(got, res.Product) {
		return res, unauthorized("the input's product %s is not the one mesh revision %s defines", p.Ref(), meshrev.Short(res.Revision))
	}
	return res, nil
}

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// stagedChecks is what Validate (or CombinePartitions) found, staged in the
// run's staging as layout.Checks.
type stagedChecks struct {
	Validate   refresh.ValidateResult    `json:"validate"`
	Partitions *refresh.PartitionSummary `json:"partitions,omitempty"`
}

// stagedGovernance is what Govern found, staged as layout.Governance, with
// the version it compared against ("" for the first).
type stagedGovernance struct {
	Govern   refresh.GovernResult `json:"govern"`
	Previous string               `json:"previous"`
	// Checks is the SHA-256 of the staged checks Govern read: checks staged
	// again after it (another ingest, transform and validate) are not the
	// ones it governed.
	Checks string `json:"checks"`
}

// stageJSON stores v as JSON under a run's staging.
func (a *Activities) stageJSON(ctx context.Context, ref, runID, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := a.Store.Put(ctx, layout.StagedKey(ref, runID, name), bytes.NewReader(b), storage.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	return nil
}

// readStaged reads what a run's activity staged as name into v. A run whose
// checks ran on a build that staged none cannot go on.
func (a *Activities) readStaged(ctx context.Context, ref, runID, name string, v any) error {
	_, err := a.readStagedSum(ctx, ref, runID, name, v)
	return err
}

// readStagedSum is readStaged, returning the SHA-256 of what it read.
func (a *Activities) readStagedSum(ctx context.Context, ref, runID, name string, v any) (string, error) {
	rc, _, err := a.Store.Get(ctx, layout.StagedKey(ref, runID, name))
	if errors.Is(err, storage.ErrNotFound) {
		return "", refused("run %s of %s staged no %s: its checks ran on an older build of meshflow, or not in this run, and nothing unchecked is published; start a new refresh", runID, ref, name)
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return "", fmt.Errorf("read the staged %s: %w", name, err)
	}
	return sha256Hex(b), json.Unmarshal(b, v)
}

// checkPublish refuses a publication that meshflow's workflow would not
// have asked for: a manifest that is not this run's, names objects it did
// not stage, says other than its checks found, or lacks the proven sign-off
// of the groups its route needs, as Publish works the route out again from
// the mesh revision, the staged checks and the store's latest version.
func (a *Activities) checkPublish(ctx context.Context, in refresh.PublishInput) error {
	m := in.Manifest
	if info := a.scheduledBy(ctx); m.WorkflowID != info.WorkflowExecution.ID {
		return unauthorized("the manifest names workflow %s, but %s scheduled it", m.WorkflowID, info.WorkflowExecution.ID)
	}
	if m.MeshRevision == "" {
		return refused("the manifest of %s names no mesh revision: the run was checked by an older build of meshflow, and nothing unchecked is published; start a new refresh", m.Product)
	}
	res, err := a.resolveFor(ctx, m.MeshRevision, m.Product, m.RunID)
	if err != nil {
		return err
	}
	own := layout.StagingPrefix(m.Product, m.RunID) + "/"
	for name, obj := range layout.Objects(m) {
		if !strings.HasPrefix(obj.Key, own) {
			return unauthorized("the manifest's %s is %s, which this run did not stage", name, obj.Key)
		}
	}
	checks, gov, err := a.stagedVerdicts(ctx, m.Product, m.RunID)
	if err != nil {
		return err
	}
	v, g := checks.Validate, gov.Govern
	claims := []struct {
		name        string
		claim, fact any
	}{
		{"quality", m.Quality, v.Quality}, {"data", m.Data, v.Data}, {"report", m.Report, v.Report},
		{"quarantine", m.Quarantine, v.Quarantine}, {"columns", m.Columns, v.Columns},
		{"contract columns", m.ContractColumns, v.ContractColumns}, {"partitions", m.Partitions, checks.Partitions},
		{"contract", m.Contract, &g.Contract}, {"contract version", m.ContractVersion, g.ContractVersion},
		{"changes", m.Changes, g.Changes}, {"breaking", m.Breaking, g.Breaking},
		{"policies", m.Policies, g.Policies}, {"impact", m.Impact, g.Impact},
	}
	for _, c := range claims {
		if !sameJSON(c.claim, c.fact) {
			return unauthorized("the manifest's %s is not what this run's checks staged", c.name)
		}
	}
	if in.Previous != gov.Previous {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s was checked against version %q, not %q; start a new refresh", m.Product, gov.Previous, in.Previous), refresh.ErrVersionTaken, nil)
	}
	if want := bumpOf(g.Breaking); in.Bump != want {
		return unauthorized("a %s change is published as a %s version, not %s", map[bool]string{true: "breaking", false: "compatible"}[g.Breaking], want, in.Bump)
	}
	if v.Quality.Blocked {
		return temporal.NewNonRetryableApplicationError("the output fails its contract's checks; nothing is published", refresh.ErrQuality, nil)
	}
	for _, p := range g.Policies {
		if p.Blocks() {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("policy %s does not hold; nothing is published", p.ID), refresh.ErrPolicy, nil)
		}
	}
	// The latest version is read again: the publisher refuses to publish on
	// top of another than gov.Previous, so the route below is the one of the
	// version this publication follows.
	head, found, err := catalog.ReadLatest(ctx, a.Store, m.Product)
	if err != nil {
		return err
	}
	if found && head.Pointer.RunID == m.RunID {
		return nil // an earlier attempt of this Publish committed
	}
	route := refresh.RouteInput{HasPrevious: gov.Previous != "", Breaking: g.Breaking, Green: refresh.Green(v.Quality, g.Policies)}
	if gov.Previous != "" {
		route.Major = refresh.NextMajor(gov.Previous, g.Breaking)
	}
	if found != (gov.Previous != "") || (found && head.Pointer.Version != gov.Previous) {
		return nil // the publisher ends the run with ErrVersionTaken
	}
	// The sign-off the run's revision asks for, and the one the current
	// revision asks for, proven with the current keys: a run of an older
	// revision (pinned by a request, or waiting while the mesh moved on)
	// needs no less than the mesh's governance today.
	current, err := a.resolveFor(ctx, refresh.RevisionCurrent, m.Product, m.RunID)
	if err != nil {
		return err
	}
	for _, r := range []refresh.Resolved{res, current} {
		groups := refresh.RouteWith(r.Product, r.Downstream, route)
		if err := refresh.CheckSignOff(m, groups, current.Keys); err != nil {
			return unauthorized("%s cannot be published: %v", m.Product, err)
		}
	}
	return nil
}

// stagedVerdicts reads a run's staged checks and governance, and refuses
// governance of other checks than the staged ones.
func (a *Activities) stagedVerdicts(ctx context.Context, ref, runID string) (stagedChecks, stagedGovernance, error) {
	var checks stagedChecks
	var gov stagedGovernance
	sum, err := a.readStagedSum(ctx, ref, runID, layout.Checks, &checks)
	if err != nil {
		return checks, gov, err
	}
	if err := a.readStaged(ctx, ref, runID, layout.Governance, &gov); err != nil {
		return checks, gov, err
	}
	if gov.Checks != sum {
		return checks, gov, unauthorized("run %s of %s was checked again after its governance; govern it again", runID, ref)
	}
	return checks, gov, nil
}

func bumpOf(breaking bool) refresh.Bump {
	if breaking {
		return refresh.BumpMajor
	}
	return refresh.BumpMinor
}
