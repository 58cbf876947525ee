package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/interop/openlineage"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"go.temporal.io/sdk/activity"
)

// lineageStart leaves the run's START event in the lineage outbox.
func (a *Activities) lineageStart(ctx context.Context, in refresh.IngestInput) error {
	if a.Lineage == nil {
		return nil
	}
	var upstream []string
	for _, input := range in.Product.Inputs {
		if input.Product != "" {
			upstream = append(upstream, input.Product)
		}
	}
	run, err := a.lineageRun(ctx, in.RunID, upstream)
	if err != nil {
		return err
	}
	ev := a.Lineage.StartEvent(in.Product, run, time.Now())
	return openlineage.Outbox{Store: a.Store}.Write(ctx, in.RunID, openlineage.SeqStart, ev)
}

// lineageEnd leaves the run's last event in the lineage outbox: COMPLETE with
// the published version, FAIL or ABORT. It runs before the staging is deleted,
// since what the staging holds tells how far a failed run got.
func (a *Activities) lineageEnd(ctx context.Context, in refresh.CleanupInput) error {
	if a.Lineage == nil {
		return nil
	}
	kind := openlineage.Terminal(in.Stage)
	var ev openlineage.RunEvent
	switch kind {
	case openlineage.Complete:
		m, found, err := a.manifestOfRun(ctx, in.Ref, in.RunID)
		if err != nil {
			return err
		}
		var upstream []string
		for _, s := range m.Inputs {
			if ref, ok := strings.CutPrefix(s.Source, refresh.ProductSourcePrefix); ok {
				upstream = append(upstream, ref)
			}
		}
		run, err := a.lineageRun(ctx, in.RunID, upstream)
		if err != nil {
			return err
		}
		if !found {
			// Published, but no manifest names this run: report the end without
			// an output version rather than nothing.
			ev = a.Lineage.EndEvent(openlineage.Complete, in.Ref, run, "", time.Now())
			break
		}
		c, err := catalog.Contract(ctx, a.Store, m)
		if err != nil {
			a.logger().Warn("openlineage: cannot read the published contract", "product", in.Ref, "error", err)
			c = nil
		}
		ev = a.Lineage.CompleteEvent(in.Ref, run, openlineage.Published{Manifest: m, Contract: c}, time.Now())
	default:
		run, err := a.lineageRun(ctx, in.RunID, nil)
		if err != nil {
			return err
		}
		msg := ""
		if kind == openlineage.Fail {
			msg = a.failedAt(ctx, in)
		}
		ev = a.Lineage.EndEvent(kind, in.Ref, run, msg, time.Now())
	}
	// A run that ended before Ingest (it waited for access, or its product
	// could not be resolved) gets a START too, written just before its end;
	// the write is skipped when Ingest wrote one.
	out := openlineage.Outbox{Store: a.Store}
	start := ev
	start.EventType, start.Inputs, start.Outputs = openlineage.Start, nil, nil
	if start.Run.Facets != nil {
		f := *start.Run.Facets
		f.ErrorMessage = nil
		start.Run.Facets = &f
	}
	start.Job.Facets = nil
	if err := out.Write(ctx, in.RunID, openlineage.SeqStart, start); err != nil {
		return err
	}
	return out.Write(ctx, in.RunID, openlineage.SeqEnd, ev)
}

// lineageRun is what the lineage events know of the running workflow: its
// nominal time when a schedule started it and, when its inputs' publication
// started it, the upstream run that published last (the workflow's parent is
// not visible to an activity; the newest upstream publication is).
func (a *Activities) lineageRun(ctx context.Context, runID string, upstream []string) (openlineage.RunInfo, error) {
	info := activity.GetInfo(ctx)
	run := openlineage.RunInfo{RunID: runID, WorkflowID: info.WorkflowExecution.ID}
	if t, ok := openlineage.NominalTime(run.WorkflowID); ok {
		run.Nominal = t
	}
	if !openlineage.IsPropagated(run.WorkflowID) {
		return run, nil
	}
	var newest time.Time
	for _, ref := range upstream {
		head, found, err := catalog.ReadLatest(ctx, a.Store, ref)
		if err != nil {
			return run, fmt.Errorf("read latest version of %s: %w", ref, err)
		}
		if found && head.Manifest.RunID != "" && head.Manifest.PublishedAt.After(newest) {
			newest = head.Manifest.PublishedAt
			run.Parent = a.Lineage.Parent(ref, head.Manifest.RunID)
		}
	}
	return run, nil
}

// manifestOfRun returns the manifest a run published: the latest one, or
// walking back the product's versions, newest first.
func (a *Activities) manifestOfRun(ctx context.Context, ref, runID string) (refresh.Manifest, bool, error) {
	head, found, err := catalog.ReadLatest(ctx, a.Store, ref)
	if err != nil || !found {
		return refresh.Manifest{}, false, err
	}
	if head.Manifest.RunID == runID {
		return head.Manifest, true, nil
	}
	entry, err := catalog.Show(ctx, a.Store, ref)
	if err != nil {
		return refresh.Manifest{}, false, err
	}
	for i := len(entry.Versions) - 1; i >= 0; i-- {
		m, err := catalog.ReadManifest(ctx, a.Store, ref, entry.Versions[i])
		if err != nil {
			return refresh.Manifest{}, false, err
		}
		if m.RunID == runID {
			return m, true, nil
		}
	}
	return head.Manifest, false, nil
}

// failedAt says how far a failed run got, from what its staging holds: the
// workflow's error is not passed to the cleanup, and the Temporal UI shows it.
func (a *Activities) failedAt(ctx context.Context, in refresh.CleanupInput) string {
	if a.RunStatus != nil {
		wf := activity.GetInfo(ctx).WorkflowExecution
		if st, err := a.RunStatus(ctx, wf.ID, wf.RunID); err == nil && st.Error != "" {
			return st.Error
		}
	}
	stage := "while ingesting its inputs"
	objs, err := a.Store.List(ctx, layout.StagingPrefix(in.Ref, in.RunID)+"/")
	if err == nil {
		has := map[string]bool{}
		for _, o := range objs {
			name := strings.TrimPrefix(o.Key, layout.StagingPrefix(in.Ref, in.RunID)+"/")
			if first, _, _ := strings.Cut(name, "/"); first == "inputs" && name != "inputs" {
				has["inputs"] = true
			}
			has[name] = true
		}
		switch {
		case has[layout.Report] || has[layout.Data]:
			stage = "after validation, in governance or publication"
		case has[layout.Candidate]:
			stage = "while validating the transform's output"
		case has["inputs"]:
			stage = "while transforming"
		}
	}
	return fmt.Sprintf("the refresh of %s failed %s; workflow %s, run %s, in Temporal has the error", in.Ref, stage, activity.GetInfo(ctx).WorkflowExecution.ID, in.RunID)
}
