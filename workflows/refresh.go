package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ChangeManifestProvenance is the workflow.GetVersion change ID of the manifest's
// Submitter and Reason (version 1). Every change to what the workflow does gets
// an ID like it, so that runs started on older code finish on the path they
// took (the package doc says how; scripts/multiprocess.sh deploys over
// waiting runs).
const ChangeManifestProvenance = "manifest-provenance"

// ChangeMeshRevision is the change ID of runs that resolve their product from a
// mesh revision and accept only signed requests and decisions (version 1).
// Runs started before it keep the product of their input and its unsigned
// decisions: an attacker cannot start one, since a new run always takes the
// newest version.
const ChangeMeshRevision = "mesh-revision"

// ChangeNotifyEscalation is the change ID of runs that leave a notification
// when their approval is escalated (version 1): the only event no activity of
// the run knows of, since escalation is a timer of the workflow.
const ChangeNotifyEscalation = "notify-escalation"

// ChangeNotifyAccessExpiring is the change ID of access requests that wait
// for a warning timer before their grant's expiry and leave the
// access-expiring notification (version 1).
const ChangeNotifyAccessExpiring = "notify-access-expiring"

// ChangePinnedMajors is the change ID of runs whose route knows pinned major
// versions (version 1): a consumer pinned to an older major than the one a
// breaking change publishes is told, not asked to sign off, and not
// refreshed after the publication. Runs started before it ask and refresh
// every consumer, as they did.
const ChangePinnedMajors = "pinned-majors"

// ChangeUnchanged is the change ID of runs that compare their checked output
// with the latest version (version 1): an output identical to it, under the
// same contract, publishes nothing; the run records the check and ends
// unchanged. Runs started before it publish a new version whatever the
// output.
const ChangeUnchanged = "unchanged"

// ChangeSupersede is the change ID of runs that, on reaching approval, ask the
// older waiting runs of their product to end as superseded, and that end so
// themselves when a newer run proves it reached approval (version 1). Runs
// started before it neither ask nor listen: they wait until decided or
// expired, as they did.
const ChangeSupersede = "supersede"

// ChangeFewerSteps is the change ID of runs that schedule fewer activities
// (version 1): no grant check when no input needs a grant, and no read of
// the latest manifest before Govern, which reads it from the store and
// returns it. Runs started before it schedule both, as they did.
const ChangeFewerSteps = "fewer-steps"

// ChangeBaseline is the change ID of runs started on code that has every
// change above (version 1): they take each change's new path without
// recording a marker, and upserting a search attribute, per change, which
// cost the history ten events and the server as many writes. Runs started
// before it ask each change on its own, as their histories recorded.
//
// Its version 2 (BaselineOverlap) adds one change: the staging session is
// created while the run reads its product, and completed while Govern runs
// (see stagingSession), instead of before and after them.
const ChangeBaseline = "baseline-2026-12"

// Versions of ChangeBaseline.
const (
	// BaselineChanges takes every change above ChangeBaseline.
	BaselineChanges workflow.Version = 1
	// BaselineOverlap also overlaps the staging session's creation and
	// completion with the steps around it.
	BaselineOverlap workflow.Version = 2
)

// MaxSessionAttempts is how many times the ingest–transform–validate session is
// started on a fresh worker after the worker holding it was lost.
const MaxSessionAttempts = 5

var (
	keyDomain  = temporal.NewSearchAttributeKeyKeyword(refresh.SearchDomain)
	keyProduct = temporal.NewSearchAttributeKeyKeyword(refresh.SearchProduct)
	keyStage   = temporal.NewSearchAttributeKeyKeyword(refresh.SearchStage)
	keyVersion = temporal.NewSearchAttributeKeyKeyword(refresh.SearchVersion)
)

// run is the state of one ProductRefresh execution.
type run struct {
	in     refresh.RefreshInput
	p      refresh.Product
	runID  string
	status refresh.Status
	// decided is set by the decide update when the run is approved or rejected.
	decided  bool
	approved bool
	// awaitingSince is when the wait for approval started (zero: no wait).
	awaitingSince time.Time

	// What the run resolved: from the mesh revision, or (runs started before
	// revisions) from its input.
	submitter  string
	reason     string
	downstream map[string]refresh.Product
	policies   []refresh.Policy
	revision   string
	// keys are the public keys that prove decisions; nil on the legacy path,
	// where decisions are not signed.
	keys []signing.PublicKey
	// baseline is the run's version of ChangeBaseline (DefaultVersion: a run
	// started before it).
	baseline workflow.Version
	// sessions are the staging sessions the run opened on the overlapping
	// path; the run waits for their completion before it ends.
	sessions []*stagingSession
}

// changed reports whether the run takes the new path of change: every run of
// ChangeBaseline does, an older run as its history recorded.
func (r *run) changed(ctx workflow.Context, change string) bool {
	return r.baseline >= BaselineChanges || workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1
}

// superseded reports whether a newer run proved that it superseded this one.
func (r *run) superseded() bool { return r.status.SupersededBy != "" }

// ProductRefresh refreshes one data product: it snapshots the inputs, runs the
// transform, checks the result against the contract, waits for sign-off when the
// product's governance asks for it, publishes a new version and starts the refresh
// of the products that read this one.
func ProductRefresh(ctx workflow.Context, in refresh.RefreshInput) (refresh.Result, error) {
	info := workflow.GetInfo(ctx)
	r := &run{in: in, p: in.Product, runID: info.WorkflowExecution.RunID,
		submitter: in.Submitter, reason: in.Reason, downstream: in.Downstream, policies: in.Policies}
	if in.Ref != "" {
		// Until the revision is read, the run knows only the product's name.
		domain, name, _ := strings.Cut(in.Ref, "/")
		r.p = refresh.Product{Domain: domain, Name: name}
		r.submitter = ""
	}
	r.baseline = workflow.GetVersion(ctx, ChangeBaseline, workflow.DefaultVersion, BaselineOverlap)
	r.status = refresh.Status{Product: r.p.Ref(), Submitter: r.submitter, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, refresh.QueryStatus, func() (refresh.Status, error) { return r.status, nil }); err != nil {
		return refresh.Result{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, refresh.UpdateDecide, r.decide,
		workflow.UpdateHandlerOptions{Validator: r.validateDecision}); err != nil {
		return refresh.Result{}, err
	}
	workflow.Go(ctx, r.receiveSignals)
	res, err := r.execute(ctx)
	if err != nil {
		r.status.Error = err.Error()
		r.setStage(ctx, refresh.StageFailed, err.Error())
	}
	r.cleanup(ctx)
	for _, s := range r.sessions {
		s.wait(ctx)
	}
	return res, err
}

func (r *run) execute(ctx workflow.Context) (refresh.Result, error) {
	// The first staging session is asked for at once, so that a worker takes
	// it while the product is read; a run that does not stage releases it.
	var first *stagingSession
	if r.baseline >= BaselineOverlap {
		first = r.openSession(ctx)
		defer first.release()
	}
	if r.changed(ctx, ChangeMeshRevision) {
		if err := r.resolve(ctx); err != nil {
			return refresh.Result{}, err
		}
		if first != nil && r.needsGrant() {
			// The wait for access may take days: no worker's session slot
			// is held through it (the session is completed as soon as it is
			// created). Staging asks for a session afterwards.
			first.release()
			first = nil
		}
		if ended, err := r.awaitAccess(ctx); err != nil || ended != nil {
			if ended == nil {
				ended = &refresh.Result{}
			}
			return *ended, err
		}
	}
	var staged staged
	var err error
	if r.p.Partitions != nil {
		// Only runs resolved from a revision know partitions: runs of
		// earlier code never take this path. Partitions are built without a
		// session.
		if first != nil {
			first.release()
		}
		staged, err = r.buildPartitions(ctx)
	} else {
		staged, err = r.stage(ctx, first)
	}
	if err != nil {
		return refresh.Result{}, err
	}
	if staged.val.Quality.Blocked {
		return refresh.Result{}, r.fail(refresh.StageValidating, refresh.ErrQuality, qualityMessage(staged.val.Quality))
	}

	fewer := r.changed(ctx, ChangeFewerSteps)
	var latest refresh.LatestResult
	if !fewer {
		if err := workflow.ExecuteActivity(shortOptions(ctx, "Read the latest published manifest of "+r.p.Ref()),
			refresh.ActivityLatest, refresh.LatestInput{Ref: r.p.Ref()}).Get(ctx, &latest); err != nil {
			return refresh.Result{}, r.wrap(refresh.StagePublishing, err)
		}
	}
	var previous *refresh.Manifest
	if latest.Found {
		previous = &latest.Manifest
	}
	r.status.Detail = "checking mesh policies and the contract's changes"
	pins := r.changed(ctx, ChangePinnedMajors)
	var gov refresh.GovernResult
	if err := workflow.ExecuteActivity(shortOptions(ctx, "Check "+r.p.Ref()+" against the mesh policies and diff its contract with the published one"),
		refresh.ActivityGovern, refresh.GovernInput{Product: r.p, RunID: r.runID, Policies: r.policies, Quality: staged.val.Quality, Previous: previous,
			Columns: staged.val.Columns, Consumers: r.consumers(), Pins: pins}).Get(ctx, &gov); err != nil {
		return refresh.Result{}, r.wrap(refresh.StageValidating, err)
	}
	if fewer && gov.Latest != nil {
		latest = *gov.Latest
	}
	// The impact is copied from the activity's result, like the changes: runs
	// recorded before impact analysis have none, and replay the same commands.
	r.status.Policies, r.status.Changes, r.status.Breaking, r.status.Impact = gov.Policies, gov.Changes, gov.Breaking, gov.Impact
	for _, p := range gov.Policies {
		if p.Blocks() {
			msg := p.Message
			if p.Error != "" {
				msg += " (the policy could not be evaluated: " + p.Error + ")"
			}
			return refresh.Result{}, r.fail(refresh.StageValidating, refresh.ErrPolicy, fmt.Sprintf("policy %s does not hold: %s; nothing was published", p.ID, msg))
		}
	}
	// An output identical to the latest version's, under the same contract, is
	// no new version: the run records the check and ends. A partitioned run
	// carries its unchanged partitions over instead, and a product with
	// output.unchanged: publish publishes whatever its output.
	if r.changed(ctx, ChangeUnchanged) && latest.Found && staged.parts == nil && !r.p.PublishUnchanged &&
		refresh.Unchanged(latest.Manifest, gov.Contract, staged.val.Data, staged.val.Quality) {
		return r.unchanged(ctx, latest.Manifest.Version)
	}
	contractRef := gov.Contract
	manifest := refresh.Manifest{
		Product: r.p.Ref(), RunID: r.runID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Inputs: staged.ing.Inputs, Columns: staged.val.Columns, ContractColumns: staged.val.ContractColumns,
		ContractVersion: gov.ContractVersion, Contract: &contractRef, Changes: gov.Changes, Policies: gov.Policies,
		Quality: staged.val.Quality, Data: staged.val.Data, Report: staged.val.Report, Quarantine: staged.val.Quarantine,
		Breaking: gov.Breaking, Partitions: staged.parts, Impact: gov.Impact,
	}
	// The manifest under review names who asked for the run and why. Runs that
	// were waiting for approval when this was deployed keep the manifest their
	// approvers reviewed: they replay the DefaultVersion path.
	if r.changed(ctx, ChangeManifestProvenance) {
		manifest.Submitter, manifest.Reason = r.submitter, r.reason
	}
	manifest.MeshRevision = r.revision
	r.status.ManifestHash = ManifestHash(manifest)

	route := refresh.RouteInput{HasPrevious: latest.Found, Breaking: gov.Breaking, Green: refresh.Green(staged.val.Quality, gov.Policies)}
	if pins && latest.Found {
		route.Major = refresh.NextMajor(latest.Manifest.Version, gov.Breaking)
	}
	if groups := refresh.RouteWith(r.p, r.downstream, route); len(groups) > 0 {
		r.status.Groups = groups
		if err := r.awaitApproval(ctx); err != nil {
			return refresh.Result{}, err
		}
		if r.superseded() {
			reason := "superseded by " + r.status.SupersededBy + ", a newer run of " + r.p.Ref() + " that waits for approval; nothing was published"
			r.setStage(ctx, refresh.StageSuperseded, reason)
			return refresh.Result{Stage: refresh.StageSuperseded, Reason: reason}, nil
		}
		if !r.decided {
			r.setStage(ctx, refresh.StageExpired, "no decision before the deadline")
			return refresh.Result{Stage: refresh.StageExpired, Reason: "no decision before the deadline"}, nil
		}
		if !r.approved {
			r.setStage(ctx, refresh.StageRejected, "rejected by "+r.lastDecider())
			return refresh.Result{Stage: refresh.StageRejected, Reason: r.lastComment()}, nil
		}
	}
	manifest.Approvals = r.status.Approvals

	r.setStage(ctx, refresh.StagePublishing, "publishing a new version")
	bump := refresh.BumpMinor
	if gov.Breaking {
		bump = refresh.BumpMajor
	}
	prevVersion := ""
	if latest.Found {
		prevVersion = latest.Manifest.Version
	}
	var pub refresh.PublishResult
	if err := workflow.ExecuteActivity(publishOptions(ctx, "Publish "+r.p.Ref()+": promote staged data, write the manifest, move latest"),
		refresh.ActivityPublish, refresh.PublishInput{Manifest: manifest, Previous: prevVersion, Bump: bump}).Get(ctx, &pub); err != nil {
		return refresh.Result{}, r.wrap(refresh.StagePublishing, err)
	}
	r.status.Version = pub.Version
	_ = workflow.UpsertTypedSearchAttributes(ctx, keyVersion.ValueSet(pub.Version))
	done := "published version " + pub.Version
	if staged.parts != nil {
		done += ": " + staged.parts.Words()
	}
	r.setStage(ctx, refresh.StagePublished, done)
	r.propagate(ctx, pub.Version, pins)
	return refresh.Result{Stage: refresh.StagePublished, Version: pub.Version}, nil
}

// unchanged ends a run whose output is the latest version's, version, again:
// it records the check, which freshness and the SLA metrics count from, and
// publishes nothing. Cleanup deletes the staged objects.
func (r *run) unchanged(ctx workflow.Context, version string) (refresh.Result, error) {
	now := workflow.Now(ctx)
	in := refresh.CheckInput{Ref: r.p.Ref(), Version: version, RunID: r.runID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		MeshRevision: r.revision, CheckedAt: now}
	if err := workflow.ExecuteActivity(shortOptions(ctx, "Record that "+r.p.Ref()+" was checked and is unchanged since "+version),
		refresh.ActivityRecordCheck, in).Get(ctx, nil); err != nil {
		return refresh.Result{}, r.wrap(refresh.StagePublishing, err)
	}
	r.status.Unchanged, r.status.CheckedAt = version, now
	// MeshVersion names the version the run matched: lists say "unchanged
	// since" it.
	_ = workflow.UpsertTypedSearchAttributes(ctx, keyVersion.ValueSet(version))
	detail := fmt.Sprintf("checked %s, unchanged since %s: the output and the contract are the same, nothing was published",
		now.UTC().Format("2006-01-02 15:04 UTC"), version)
	r.setStage(ctx, refresh.StageUnchanged, detail)
	return refresh.Result{Stage: refresh.StageUnchanged, Version: version, Reason: "the output is identical to version " + version}, nil
}

// supersedeOlder asks the older runs of the product that wait for approval
// to end as superseded: nobody should approve their stale data. Like a
// notification, it never holds up or fails the run.
func (r *run) supersedeOlder(ctx workflow.Context) {
	info := workflow.GetInfo(ctx)
	sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             "Ask the older runs of " + r.p.Ref() + " that wait for approval to end as superseded",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	in := refresh.SupersedeOlderInput{Ref: r.p.Ref(), Self: refresh.Supersede{WorkflowID: info.WorkflowExecution.ID, RunID: r.runID},
		StartedAt: info.WorkflowStartTime}
	var res refresh.SupersedeOlderResult
	if err := workflow.ExecuteActivity(sctx, refresh.ActivitySupersedeOlder, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("cannot ask the older waiting runs to end", "error", err)
		return
	}
	if len(res.Signalled) > 0 {
		workflow.GetLogger(ctx).Info("asked older waiting runs to end as superseded", "runs", res.Signalled)
	}
}

// receiveSupersede waits for supersede claims. A signal proves nothing, since
// anyone with access to Temporal can send one: each claim is checked against
// Temporal's record of the claiming run (ActivityVerifySupersede), and a
// claim that does not hold is recorded as refused and changes nothing.
func (r *run) receiveSupersede(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, refresh.SignalSupersede)
	info := workflow.GetInfo(ctx)
	for {
		var claim refresh.Supersede
		ch.Receive(ctx, &claim)
		if r.decided || r.superseded() || r.status.Stage != refresh.StageAwaitingApproval {
			continue
		}
		in := refresh.VerifySupersedeInput{Ref: r.p.Ref(), Self: refresh.Supersede{WorkflowID: info.WorkflowExecution.ID, RunID: r.runID},
			StartedAt: info.WorkflowStartTime, TaskQueue: info.TaskQueueName, Claim: claim}
		var v refresh.VerifySupersedeResult
		if err := workflow.ExecuteActivity(shortOptions(ctx, "Check that "+claim.WorkflowID+" is a newer run of "+r.p.Ref()+" that reached approval"),
			refresh.ActivityVerifySupersede, in).Get(ctx, &v); err != nil {
			v = refresh.VerifySupersedeResult{Reason: "the claim could not be checked: " + err.Error()}
		}
		if !v.Valid {
			r.status.SupersedeRefused = append(r.status.SupersedeRefused, claim.WorkflowID+": "+v.Reason)
			workflow.GetLogger(ctx).Warn("refused a supersede claim", "claim", claim.WorkflowID, "reason", v.Reason)
			continue
		}
		if r.decided || r.status.Stage != refresh.StageAwaitingApproval {
			continue // decided while the claim was checked
		}
		r.status.SupersededBy = claim.WorkflowID
	}
}

// staged is what the session stages produce, or the partitioned stages.
type staged struct {
	ing refresh.IngestResult
	tr  refresh.TransformResult
	val refresh.ValidateResult
	// parts summarises a partitioned run's partitions.
	parts *refresh.PartitionSummary
}

// stage runs ingest, transform and validate on one worker (a Temporal session), so
// that they share local scratch. When the worker is lost, the stages run again on
// another worker; bad data ends the run. On the overlapping path the first
// attempt takes first, the session asked for when the run started.
func (r *run) stage(ctx workflow.Context, first *stagingSession) (staged, error) {
	var out staged
	var lastErr error
	for attempt := 1; attempt <= MaxSessionAttempts; attempt++ {
		var err error
		if r.baseline >= BaselineOverlap {
			s := first
			if attempt > 1 || s == nil {
				s = r.openSession(ctx)
			}
			var sctx workflow.Context
			if sctx, err = s.get(ctx); err != nil {
				return out, r.wrap(refresh.StageIngesting, err)
			}
			out, err = r.stageOnce(ctx, sctx)
			// Completed while the run goes on: Govern need not wait for it.
			s.release()
			if err != nil && ctx.Err() != nil {
				return out, err // cancelled: no other worker should start again
			}
		} else {
			sctx, cerr := workflow.CreateSession(ctx, sessionLimits())
			if cerr != nil {
				return out, r.wrap(refresh.StageIngesting, cerr)
			}
			out, err = r.stageOnce(sctx, sctx)
			workflow.CompleteSession(sctx)
		}
		if err == nil {
			return out, nil
		}
		if nonRetryable(err) {
			return out, err
		}
		lastErr = err
		workflow.GetLogger(ctx).Warn("staging session lost; starting again on another worker", "attempt", attempt, "error", err)
	}
	return out, fmt.Errorf("gave up after %d attempts to stage %s: %w", MaxSessionAttempts, r.p.Ref(), lastErr)
}

// sessionLimits bound a staging session: how long a worker may take to
// accept it, how long it may hold it, and how soon a silent one is lost.
func sessionLimits() *workflow.SessionOptions {
	return &workflow.SessionOptions{
		CreationTimeout:  10 * time.Minute,
		ExecutionTimeout: 6 * time.Hour,
		HeartbeatTimeout: 20 * time.Second,
	}
}

// stagingSession is a staging session that lives in a coroutine of its own:
// it is created there while the run does other work, and completed there
// when the run releases it, while the run goes on. The SDK's session calls
// block the coroutine that made the session, so only that coroutine may
// create and complete it; the run's activities run in its context.
type stagingSession struct {
	sctx   workflow.Context
	cancel workflow.CancelFunc
	// stopStages cancels the stages' activities (set once they run).
	stopStages workflow.CancelFunc
	created    workflow.Future
	released   workflow.Channel
	done       workflow.Future
	// freed is set once release was called.
	freed bool
}

// openSession asks for a staging session on the run's task queue and
// returns at once.
func (r *run) openSession(ctx workflow.Context) *stagingSession {
	s := &stagingSession{released: workflow.NewBufferedChannel(ctx, 1)}
	created, setCreated := workflow.NewFuture(ctx)
	done, setDone := workflow.NewFuture(ctx)
	s.created, s.done = created, done
	// The session lives in a context of its own, so that a cancelled run
	// still completes it (and the worker frees its slot at once, not at its
	// next heartbeat); the run's cancellation reaches the creation and the
	// stages through the watch below.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	cctx, cancel := workflow.WithCancel(dctx)
	s.cancel = cancel
	workflow.Go(ctx, func(wctx workflow.Context) {
		wctx.Done().Receive(wctx, nil)
		if !s.created.IsReady() {
			s.cancel()
		}
		if s.stopStages != nil {
			s.stopStages()
		}
	})
	workflow.Go(cctx, func(gctx workflow.Context) {
		defer setDone.Set(nil, nil)
		sctx, err := workflow.CreateSession(gctx, sessionLimits())
		s.sctx = sctx
		setCreated.Set(nil, err)
		if err != nil {
			return
		}
		s.released.Receive(gctx, nil)
		workflow.CompleteSession(sctx)
	})
	r.sessions = append(r.sessions, s)
	return s
}

// get waits until the session is created and returns its context, in which
// the stages' activities run (their results are awaited in the run's own
// context).
func (s *stagingSession) get(ctx workflow.Context) (workflow.Context, error) {
	if err := s.created.Get(ctx, nil); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stages, stop := workflow.WithCancel(s.sctx)
	s.stopStages = stop
	return stages, nil
}

// release lets the session's coroutine complete it, at once or as soon as
// a worker took it; calling it again does nothing. (Cancelling a creation
// that a worker already took would hold the worker's session slot until its
// next heartbeat, several seconds.)
func (s *stagingSession) release() {
	if !s.freed {
		s.freed = true
		s.released.SendAsync(nil)
	}
}

// giveUpCreation is how long a run that ended waits for a session it no
// longer needs to be created, so as to complete it, before it stops asking.
const giveUpCreation = time.Minute

// wait waits until the session's coroutine completed it (or its creation
// failed), so that the run does not end before the worker heard that the
// session is over. A session no worker took within giveUpCreation is no
// longer asked for.
func (s *stagingSession) wait(ctx workflow.Context) {
	s.release()
	if !s.created.IsReady() {
		if ok, _ := workflow.AwaitWithTimeout(ctx, giveUpCreation, s.created.IsReady); !ok {
			s.cancel()
		}
	}
	_ = s.done.Get(ctx, nil)
}

// stageOnce runs the three stages once: their activities in the session's
// context sctx, the rest of the run's work in ctx.
func (r *run) stageOnce(ctx, sctx workflow.Context) (staged, error) {
	var out staged
	r.setStage(ctx, refresh.StageIngesting, fmt.Sprintf("snapshotting %d input(s)", len(r.p.Inputs)))
	r.status.Inputs = len(r.p.Inputs)
	if err := workflow.ExecuteActivity(sessionOptions(sctx, fmt.Sprintf("Snapshot %d input(s) of %s into staging", len(r.p.Inputs), r.p.Ref()),
		refresh.ErrBadInput, refresh.ErrNotPublished),
		refresh.ActivityIngest, refresh.IngestInput{Product: r.p, RunID: r.runID}).Get(ctx, &out.ing); err != nil {
		return out, r.wrap(refresh.StageIngesting, err)
	}
	// Only the query shows it: no command depends on it.
	r.status.Deprecated = refresh.DeprecatedInputs(out.ing.Inputs)
	r.setStage(ctx, refresh.StageTransforming, "running the transform SQL")
	if err := workflow.ExecuteActivity(sessionOptions(sctx, "Run the transform SQL of "+r.p.Ref()+" in DuckDB", refresh.ErrTransform, refresh.ErrBadInput),
		refresh.ActivityTransform, refresh.TransformInput{Product: r.p, RunID: r.runID, Inputs: out.ing.Inputs}).Get(ctx, &out.tr); err != nil {
		return out, r.wrap(refresh.StageTransforming, err)
	}
	r.status.RowsIn = out.tr.Rows
	r.setStage(ctx, refresh.StageValidating, fmt.Sprintf("checking %d rows against the contract", out.tr.Rows))
	if err := workflow.ExecuteActivity(sessionOptions(sctx, "Check the output of "+r.p.Ref()+" against its contract and rules", refresh.ErrContract, refresh.ErrBadSpec),
		refresh.ActivityValidate, refresh.ValidateInput{Product: r.p, RunID: r.runID, Candidate: out.tr.Candidate}).Get(ctx, &out.val); err != nil {
		return out, r.wrap(refresh.StageValidating, err)
	}
	q := out.val.Quality
	r.status.RowsIn, r.status.RowsOut, r.status.Quarantined, r.status.Warnings = q.RowsIn, q.RowsOut, q.Quarantined, q.Warnings
	r.status.Rules = q.Rules
	return out, nil
}

// awaitApproval waits for the groups' decisions or the deadline. Half way (or at
// EscalateAfter) the escalateTo principals are called in: they join the stewards'
// group, and the status and the UI say so.
func (r *run) awaitApproval(ctx workflow.Context) error {
	g := r.p.Governance
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = refresh.DefaultApprovalTimeout
	}
	escalateAfter := g.EscalateAfter
	if escalateAfter <= 0 || escalateAfter >= timeout {
		escalateAfter = timeout / 2
	}
	start := workflow.Now(ctx)
	r.awaitingSince = start
	r.status.Deadline = start.Add(timeout)
	r.status.Approvers = r.approvers()
	r.setStage(ctx, refresh.StageAwaitingApproval, fmt.Sprintf("waiting for %s until %s", r.groupsText(), r.status.Deadline.Format(time.RFC3339)))
	if r.changed(ctx, ChangeSupersede) {
		workflow.Go(ctx, r.receiveSupersede)
		r.supersedeOlder(ctx)
	}
	wait := func(d time.Duration, summary string) error {
		_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d, TimerOptions: workflow.TimerOptions{Summary: summary}},
			func() bool { return r.decided || r.superseded() })
		return err
	}
	if len(g.EscalateTo) > 0 {
		if err := wait(escalateAfter, "escalation"); err != nil {
			return r.wrap(refresh.StageAwaitingApproval, err)
		}
		if r.decided || r.superseded() {
			return nil
		}
		r.escalate(ctx)
		timeout -= escalateAfter
	}
	if err := wait(timeout, "approval deadline"); err != nil {
		return r.wrap(refresh.StageAwaitingApproval, err)
	}
	return nil
}

// escalate calls in the escalateTo principals: they may now decide for the
// stewards.
func (r *run) escalate(ctx workflow.Context) {
	r.status.Escalated = true
	for i := range r.status.Groups {
		if r.status.Groups[i].Name == GroupStewards {
			for _, p := range r.p.Governance.EscalateTo {
				if !slices.Contains(r.status.Groups[i].Members, p) {
					r.status.Groups[i].Members = append(r.status.Groups[i].Members, p)
				}
			}
		}
	}
	r.status.Approvers = r.approvers()
	workflow.GetLogger(ctx).Warn("approval escalated", "product", r.p.Ref(), "escalateTo", r.p.Governance.EscalateTo)
	r.setStage(ctx, refresh.StageAwaitingApproval, fmt.Sprintf("escalated to %s; waiting for %s until %s",
		strings.Join(r.p.Governance.EscalateTo, ", "), r.groupsText(), r.status.Deadline.Format(time.RFC3339)))
	if r.changed(ctx, ChangeNotifyEscalation) {
		// A notification never holds up or fails the run: a few tries, then
		// the wait goes on without it.
		nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			Summary:             "Tell the notifications that the approval of " + r.p.Ref() + " was escalated",
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
		})
		in := refresh.EscalationInput{Ref: r.p.Ref(), RunID: r.runID, EscalateTo: r.p.Governance.EscalateTo, Approvers: r.status.Approvers,
			Deadline: r.status.Deadline, Detail: r.status.Detail}
		if err := workflow.ExecuteActivity(nctx, refresh.ActivityNotifyEscalation, in).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("cannot leave the escalation's notification", "error", err)
		}
	}
}

func (r *run) approvers() []string {
	var out []string
	for _, g := range r.status.Groups {
		for _, m := range g.Members {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (r *run) groupsText() string {
	var parts []string
	for _, g := range r.status.Groups {
		if !g.Satisfied {
			parts = append(parts, fmt.Sprintf("%d of %s (%s)", g.Quorum, g.Name, strings.Join(g.Members, ", ")))
		}
	}
	return strings.Join(parts, " and ")
}

// validateDecision accepts a decision only from a member of an approval group that
// still needs votes, who did not submit the run and has not voted yet, for the
// manifest under review, while the run waits for approval. Refused updates leave no
// trace in the run's history.
func (r *run) validateDecision(ctx workflow.Context, d refresh.Decision) error {
	err := r.checkDecision(ctx, d)
	if err != nil {
		workflow.GetLogger(ctx).Warn("refused a decision", "principal", d.Principal, "reason", err.Error())
	}
	return err
}

func (r *run) checkDecision(ctx workflow.Context, d refresh.Decision) error {
	switch {
	case r.superseded():
		return fmt.Errorf("run of %s was superseded by %s, which waits for approval of newer data: decide on that run", r.p.Ref(), r.status.SupersededBy)
	case r.status.Stage != refresh.StageAwaitingApproval || r.decided:
		return fmt.Errorf("run of %s is not waiting for approval (stage %s)", r.p.Ref(), r.status.Stage)
	case d.Principal == "":
		return errors.New("the decision names no principal")
	}
	if r.keys != nil {
		if d.Proof == nil {
			return fmt.Errorf("the decision of %s is not signed by meshflow serve: decide through meshflow serve", d.Principal)
		}
		st := refresh.DecisionStatement(workflow.GetInfo(ctx).WorkflowExecution.ID, r.p.Ref(), d.Principal, d.Approve, d.Comment, d.ManifestHash)
		if err := signing.Verify(r.keys, st, *d.Proof, workflow.Now(ctx)); err != nil {
			return fmt.Errorf("the decision of %s is refused: %w", d.Principal, err)
		}
	}
	switch {
	case d.Principal == r.submitter:
		return fmt.Errorf("%s submitted this run and cannot approve it", d.Principal)
	case d.ManifestHash != r.status.ManifestHash:
		return fmt.Errorf("the decision is for manifest %q, but the run is reviewing %q", d.ManifestHash, r.status.ManifestHash)
	}
	for _, a := range r.status.Approvals {
		if a.Principal == d.Principal {
			return fmt.Errorf("%s has already decided on this run", d.Principal)
		}
	}
	member := false
	for _, g := range r.status.Groups {
		if slices.Contains(g.Members, d.Principal) {
			member = true
			if !g.Satisfied {
				return nil
			}
		}
	}
	if member {
		return fmt.Errorf("the groups of %s have approved already; the run waits for %s", d.Principal, r.groupsText())
	}
	return fmt.Errorf("%s may not decide on %s (it waits for %s)", d.Principal, r.p.Ref(), r.groupsText())
}

// decide records a decision. A rejection by any group member ends the wait; the
// run is approved when every group has its quorum.
func (r *run) decide(ctx workflow.Context, d refresh.Decision) (refresh.Status, error) {
	r.status.Approvals = append(r.status.Approvals, refresh.Approval{
		Principal: d.Principal, Decision: refresh.VerdictOf(d.Approve), Comment: d.Comment, ManifestHash: d.ManifestHash, At: workflow.Now(ctx), Proof: d.Proof,
	})
	if !d.Approve {
		r.decided, r.approved = true, false
		return r.status, nil
	}
	all := true
	for i := range r.status.Groups {
		g := &r.status.Groups[i]
		if !g.Satisfied && slices.Contains(g.Members, d.Principal) {
			g.Approvals++
			g.Satisfied = g.Approvals >= g.Quorum
		}
		all = all && g.Satisfied
	}
	if all {
		r.decided, r.approved = true, true
	} else {
		r.status.Detail = "waiting for " + r.groupsText()
	}
	return r.status, nil
}

// receiveSignals applies decisions that arrive as signals, after the same checks
// as the update's validator; a refused signal is recorded as refused.
func (r *run) receiveSignals(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, refresh.SignalDecide)
	for {
		var d refresh.Decision
		ch.Receive(ctx, &d)
		if err := r.validateDecision(ctx, d); err != nil {
			r.status.Refused = append(r.status.Refused, refresh.Refusal{Approval: refresh.Approval{
				Principal: d.Principal, Decision: refresh.VerdictOf(d.Approve), Comment: d.Comment, ManifestHash: d.ManifestHash, At: workflow.Now(ctx),
			}, Reason: err.Error()})
			workflow.GetLogger(ctx).Warn("refused a decision sent as a signal", "principal", d.Principal, "reason", err.Error())
			continue
		}
		_, _ = r.decide(ctx, d)
	}
}

func (r *run) lastDecider() string {
	if n := len(r.status.Approvals); n > 0 {
		return r.status.Approvals[n-1].Principal
	}
	return ""
}

func (r *run) lastComment() string {
	if n := len(r.status.Approvals); n > 0 {
		a := r.status.Approvals[n-1]
		return a.Principal + ": " + a.Comment
	}
	return ""
}

// propagate starts a refresh of every consumer whose product inputs are all
// published. The child runs are abandoned: they outlive this run. With pins
// (ChangePinnedMajors), a consumer pinned to an older major than version's
// is left alone: what it reads did not change.
func (r *run) propagate(ctx workflow.Context, version string, pins bool) {
	for _, ref := range r.p.Consumers {
		child, ok := r.downstream[ref]
		if !ok {
			continue
		}
		if pins && refresh.PinnedBelow(child, r.p.Ref(), refresh.NextMajor(version, false)) {
			// It reads an older major, which did not change.
			continue
		}
		var ready refresh.InputsPublishedResult
		if err := workflow.ExecuteActivity(shortOptions(ctx, "Check that every input of "+ref+" is published"),
			refresh.ActivityInputsPublished, refresh.InputsPublishedInput{Product: child}).Get(ctx, &ready); err != nil {
			workflow.GetLogger(ctx).Warn("cannot check the inputs of a consumer", "consumer", ref, "error", err)
			continue
		}
		if len(ready.Missing) > 0 {
			workflow.GetLogger(ctx).Info("consumer waits for unpublished inputs", "consumer", ref, "missing", ready.Missing)
			continue
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			// Named after the versions of the consumer's inputs, so that upstream
			// products publishing at the same moment start one refresh, not several.
			WorkflowID:            refresh.WorkflowID(ref, "inputs-"+inputsKey(ready.Versions)),
			TaskQueue:             child.TaskQueue,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:         "Refresh " + ref + " after " + r.p.Ref() + " " + version,
			TypedSearchAttributes: temporal.NewSearchAttributes(keyDomain.ValueSet(child.Domain), keyProduct.ValueSet(child.Name), keyStage.ValueSet(string(refresh.StageIngesting))),
		})
		// The consumer resolves itself from the current revision; it passes on
		// the request this run was started with, which proves its submitter
		// (see resolve).
		in := refresh.RefreshInput{Ref: ref, Trigger: refresh.TriggerPropagation, Request: r.in.Request,
			Submitter: r.submitter, Reason: "after " + r.p.Ref() + " " + version}
		if r.keys == nil {
			// A run started before revisions also passes the product the old
			// way, for workers of the old build that may still start the child.
			in.Product, in.Downstream = child, r.downstream
			if in.Submitter == "" {
				in.Submitter = r.p.Owner
			}
		}
		fut := workflow.ExecuteChildWorkflow(cctx, refresh.WorkflowProductRefresh, in)
		if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			if _, dup := errors.AsType[*temporal.ChildWorkflowExecutionAlreadyStartedError](err); dup {
				workflow.GetLogger(ctx).Info("consumer refresh for these input versions already started", "consumer", ref)
				continue
			}
			workflow.GetLogger(ctx).Warn("cannot start the refresh of a consumer", "consumer", ref, "error", err)
		}
	}
}

// cleanup deletes the run's staging objects; published objects are copies.
func (r *run) cleanup(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	reason := r.status.Detail
	if r.status.Stage == refresh.StageRejected && r.decided && !r.approved {
		reason = "rejected by " + r.lastComment()
	}
	err := workflow.ExecuteActivity(shortOptions(dctx, "Delete the staging objects of this run"),
		refresh.ActivityCleanup, refresh.CleanupInput{Ref: r.p.Ref(), RunID: r.runID, Stage: r.status.Stage, Approval: r.approvalOutcome(), Reason: reason}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("staging cleanup failed; objects stay under _staging", "error", err)
	}
}

// approvalOutcome says how the wait for approval ended, for the metrics the
// cleanup activity records; nil when the run did not wait or the wait ended
// without a decision or a deadline (the run failed or was cancelled).
func (r *run) approvalOutcome() *refresh.ApprovalOutcome {
	switch {
	case r.awaitingSince.IsZero():
		return nil
	case r.decided && len(r.status.Approvals) > 0:
		decision := refresh.WaitRejected
		if r.approved {
			decision = refresh.WaitApproved
		}
		return &refresh.ApprovalOutcome{Decision: decision, Since: r.awaitingSince, At: r.status.Approvals[len(r.status.Approvals)-1].At}
	case r.status.Stage == refresh.StageExpired:
		return &refresh.ApprovalOutcome{Decision: refresh.WaitExpired, Since: r.awaitingSince, At: r.status.Deadline}
	}
	return nil
}

// setStage records the stage in the status, the search attributes and the UI's
// current details.
func (r *run) setStage(ctx workflow.Context, s refresh.Stage, detail string) {
	r.status.Stage, r.status.Detail = s, detail
	if err := workflow.UpsertTypedSearchAttributes(ctx, keyDomain.ValueSet(r.p.Domain), keyProduct.ValueSet(r.p.Name), keyStage.ValueSet(string(s))); err != nil {
		workflow.GetLogger(ctx).Warn("cannot update search attributes", "error", err)
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — %s: %s", r.p.Ref(), s, detail))
}

// fail builds the run's non-retryable error, naming product, stage and cause.
func (r *run) fail(stage refresh.Stage, errType, cause string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s, stage %s: %s", r.p.Ref(), stage, cause), errType, nil)
}

// wrap names product and stage on an activity's error, keeping its type.
func (r *run) wrap(stage refresh.Stage, err error) error {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok && appErr.NonRetryable() {
		return r.fail(stage, appErr.Type(), appErr.Message())
	}
	return fmt.Errorf("%s, stage %s: %w", r.p.Ref(), stage, err)
}

func nonRetryable(err error) bool {
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	return ok && appErr.NonRetryable()
}

func qualityMessage(q refresh.Quality) string {
	var failing []string
	for _, rs := range q.Rules {
		if rs.Severity == "error" && (rs.Status == "fail" || rs.Status == "error") {
			s := fmt.Sprintf("%s (%d failing rows)", rs.ID, rs.Failing)
			if rs.Message != "" {
				s = rs.ID + ": " + rs.Message
			}
			failing = append(failing, s)
		}
	}
	return "error-severity rules failed, nothing was published: " + strings.Join(failing, "; ")
}

// GroupStewards names the approval group of the product's own stewards.
const GroupStewards = refresh.GroupStewards

// Route decides who must sign off a new version (refresh.Route).
func Route(p refresh.Product, downstream map[string]refresh.Product, hasPrevious, breaking, green bool) []refresh.ApprovalGroup {
	return refresh.Route(p, downstream, hasPrevious, breaking, green)
}

// consumers returns the products that read this one, as the run resolved
// them, in the order the product lists them (not the map's).
func (r *run) consumers() []refresh.Product {
	var out []refresh.Product
	for _, ref := range r.p.Consumers {
		if c, ok := r.downstream[ref]; ok {
			out = append(out, c)
		}
	}
	return out
}

// ManifestHash identifies the candidate under review (refresh.ManifestHash).
func ManifestHash(m refresh.Manifest) string { return refresh.ManifestHash(m) }

// inputsKey identifies a set of input versions: a short hash of the sorted
// "<product>@<version>" pairs.
func inputsKey(versions map[string]string) string {
	pairs := make([]string, 0, len(versions))
	// The pairs are sorted below, so the map's order does not matter.
	//workflowcheck:ignore
	for ref, v := range versions {
		pairs = append(pairs, ref+"@"+v)
	}
	slices.Sort(pairs) // sorted: map order must not shape the workflow ID
	sum := sha256.Sum256([]byte(strings.Join(pairs, ",")))
	return hex.EncodeToString(sum[:6])
}

// resolve reads the run's product from the mesh revision its input names and
// proves who asked for the run: a request signed by meshflow serve, the
// principal that applied the mesh for a scheduled run, or the parent run's
// submitter for a propagated one. A run on another product's task queue, or
// with an unproven request, ends before it reads any data.
func (r *run) resolve(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	ref := r.in.Ref
	if _, _, ok := strings.Cut(ref, "/"); !ok {
		return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized, fmt.Sprintf("the request names no product (%q); meshflow serve starts runs", ref))
	}
	if !strings.HasPrefix(info.WorkflowExecution.ID, refresh.WorkflowID(ref, "")) {
		return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized, fmt.Sprintf("a refresh of %s runs as %s…, not %s", ref, refresh.WorkflowID(ref, ""), info.WorkflowExecution.ID))
	}
	// Only a request signed by serve may name a revision; scheduled and
	// propagated runs read the current one, so nobody rolls a product back to
	// an older revision's SQL, governance or keys.
	revision := refresh.RevisionCurrent
	if r.in.Trigger != refresh.TriggerSchedule && r.in.Trigger != refresh.TriggerPropagation && r.in.Revision != "" {
		revision = r.in.Revision
	}
	// The query shows it; the search attribute follows with the first stage.
	r.status.Stage, r.status.Detail = refresh.StageIngesting, "reading the product from mesh revision "+revision
	var res refresh.Resolved
	if err := workflow.ExecuteActivity(shortOptions(ctx, "Read "+ref+" from mesh revision "+revision),
		refresh.ActivityResolve, refresh.ResolveInput{Ref: ref, Revision: revision}).Get(ctx, &res); err != nil {
		return r.wrap(refresh.StageIngesting, err)
	}
	r.p, r.downstream, r.policies, r.revision = res.Product, res.Downstream, res.Policies, res.Revision
	r.keys = res.Keys
	if r.keys == nil {
		r.keys = []signing.PublicKey{}
	}
	r.status.Revision = res.Revision
	if info.TaskQueueName != r.p.TaskQueue {
		return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized,
			fmt.Sprintf("the run was started on task queue %q, but %s runs on %q", info.TaskQueueName, ref, r.p.TaskQueue))
	}
	switch r.in.Trigger {
	case refresh.TriggerSchedule:
		r.submitter, r.reason = res.AppliedBy, "schedule"
	case refresh.TriggerPropagation:
		// The parent passes the request it was started with: a propagated run
		// is submitted by that request's principal when the parent is the run
		// the request was signed for, and by the applier of the mesh otherwise
		// (a run started by a schedule, or further down the chain). Any other
		// parent workflow can name no submitter.
		parent := info.ParentWorkflowExecution
		if parent == nil {
			return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized, "a propagated run must be started by the refresh of an upstream product")
		}
		r.submitter, r.reason = res.AppliedBy, r.in.Reason
		if rq := r.in.Request; rq != nil && rq.Statement.Subject == parent.ID && rq.Statement.Principal != "" {
			st := rq.Statement
			upstream := refresh.RequestStatement(st.Subject, st.Product, st.Principal, st.Comment, st.Revision)
			if signing.Verify(r.keys, upstream, rq.Proof, time.Time{}) == nil && r.readsProduct(st.Product) {
				r.submitter = st.Principal
			}
		}
	default:
		if r.in.Request == nil {
			return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized, "the request is not signed by meshflow serve: start runs with meshflow run or POST /api/v1/refreshes")
		}
		st := r.in.Request.Statement
		want := refresh.RequestStatement(info.WorkflowExecution.ID, ref, st.Principal, st.Comment, r.in.Revision)
		if err := signing.Verify(r.keys, want, r.in.Request.Proof, info.WorkflowStartTime); err != nil || st.Principal == "" {
			if err == nil {
				err = errors.New("it names no principal")
			}
			return r.fail(refresh.StageIngesting, refresh.ErrUnauthorized, "the request is refused: "+err.Error())
		}
		r.submitter, r.reason = st.Principal, st.Comment
	}
	r.status.Submitter = r.submitter
	return nil
}

// AccessRecheck is how often a run waiting for access checks the grants again,
// in case a grant arrived through a request the run did not file.
const AccessRecheck = 10 * time.Minute

// awaitAccess makes sure the product's owner team may read every restricted
// product of another domain among its inputs. For each one it may not, it files
// an access request on the team's behalf (routed to the producer's owners and
// stewards) and waits in the stage awaiting-access until every grant is there.
// A rejected request ends the run as rejected, no grant before the
// governance timeout as expired: ended is then the run's result.
func (r *run) awaitAccess(ctx workflow.Context) (ended *refresh.Result, err error) {
	check := func() (refresh.AccessGrantedResult, error) {
		var res refresh.AccessGrantedResult
		err := workflow.ExecuteActivity(shortOptions(ctx, "Check that "+r.p.Owner+" may read the inputs of "+r.p.Ref()),
			refresh.ActivityAccessGranted, refresh.AccessGrantedInput{Product: r.p, Revision: r.revision}).Get(ctx, &res)
		return res, err
	}
	if r.changed(ctx, ChangeFewerSteps) && !r.needsGrant() {
		return nil, nil
	}
	res, err := check()
	if err != nil {
		return nil, r.wrap(refresh.StageIngesting, err)
	}
	if len(res.Missing) == 0 {
		return nil, nil
	}
	timeout := r.p.Governance.Timeout
	if timeout <= 0 {
		timeout = refresh.DefaultApprovalTimeout
	}
	deadline := workflow.Now(ctx).Add(timeout)
	var names []string
	for _, m := range res.Missing {
		names = append(names, m.Product)
	}
	r.status.Deadline = deadline
	r.setStage(ctx, refresh.StageAwaitingAccess, fmt.Sprintf("%s needs a grant to read %s; access requested, waiting until %s",
		r.p.Owner, strings.Join(names, ", "), deadline.Format(time.RFC3339)))
	var filed []workflow.ChildWorkflowFuture
	for _, m := range res.Missing {
		if f := r.requestAccess(ctx, m); f != nil {
			filed = append(filed, f)
		}
	}
	decided := workflow.GetSignalChannel(ctx, SignalAccessDecided)
	// A request that ends (rejected, or undecided until its deadline) ends the
	// run; a grant is seen by checking the store, never taken from a signal,
	// which anyone may send: the signal only makes the run check at once.
	var closed *access.Result
	for {
		timedOut := false
		left := deadline.Sub(workflow.Now(ctx))
		if left <= 0 {
			timedOut = true
		} else {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(decided, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
			for i, f := range filed {
				if f == nil {
					continue
				}
				sel.AddFuture(f, func(fu workflow.Future) {
					var res access.Result
					if fu.Get(ctx, &res) == nil {
						closed = &res
					}
					filed[i] = nil
				})
			}
			tctx, cancel := workflow.WithCancel(ctx)
			sel.AddFuture(workflow.NewTimerWithOptions(tctx, min(left, AccessRecheck), workflow.TimerOptions{Summary: "check the grants again"}), func(workflow.Future) {})
			sel.Select(ctx)
			cancel()
		}
		if closed != nil && closed.Stage != access.StageRevoked {
			reason := fmt.Sprintf("access to %s was not granted to %s: the request ended %s %s", strings.Join(names, ", "), r.p.Owner, closed.Stage, closed.Reason)
			r.setStage(ctx, refresh.StageRejected, reason)
			return &refresh.Result{Stage: refresh.StageRejected, Reason: reason}, nil
		}
		if res, err = check(); err != nil {
			return nil, r.wrap(refresh.StageAwaitingAccess, err)
		}
		if len(res.Missing) == 0 {
			r.status.Deadline = time.Time{}
			return nil, nil
		}
		if timedOut || !workflow.Now(ctx).Before(deadline) {
			reason := fmt.Sprintf("no grant to read %s before %s", res.Missing[0].Product, deadline.Format(time.RFC3339))
			r.setStage(ctx, refresh.StageExpired, reason)
			return &refresh.Result{Stage: refresh.StageExpired, Reason: reason}, nil
		}
	}
}

// needsGrant reports whether an input of the product is a restricted product
// of another domain, which its owner team may read only under a grant.
func (r *run) needsGrant() bool {
	for _, in := range r.p.Inputs {
		if in.NeedsGrant(r.p.Domain) {
			return true
		}
	}
	return false
}

// requestAccess starts an AccessRequest on behalf of the product's owner team.
// The request outlives the run: its grant serves the team's later runs too.
func (r *run) requestAccess(ctx workflow.Context, m refresh.MissingGrant) workflow.ChildWorkflowFuture {
	domain, name, _ := access.SplitRef(m.Product)
	req := access.Request{Product: m.Product, Requester: r.p.Owner, Duration: access.DefaultGrantDuration,
		Purpose: "input of " + r.p.Ref(), Revision: r.revision, Trigger: refresh.TriggerPropagation}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            access.WorkflowID(m.Product, r.p.Owner, "for-"+r.p.Name+"-"+r.runID),
		TaskQueue:             m.TaskQueue,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("%s asks to read %s for %s", r.p.Owner, m.Product, r.p.Ref()),
		TypedSearchAttributes: temporal.NewSearchAttributes(accessKeyDomain.ValueSet(domain), accessKeyProduct.ValueSet(name), accessKeyStage.ValueSet(string(access.StagePending))),
	})
	fut := workflow.ExecuteChildWorkflow(cctx, access.WorkflowAccessRequest, req)
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cannot file the access request", "product", m.Product, "error", err)
		return nil
	}
	return fut
}

// readsProduct reports whether the product has ref among its inputs.
func (r *run) readsProduct(ref string) bool {
	for _, in := range r.p.Inputs {
		if in.Product == ref {
			return true
		}
	}
	return false
}
