package schedules

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Pause pauses the schedule of a product ("<domain>/<name>"); note says why and
// shows in the Temporal UI. The pause lasts until Resume, or until an apply of a
// spec whose `paused` value changed.
func Pause(ctx context.Context, c client.Client, ref, note string) error {
	h, _, err := describeOwned(ctx, c, ref)
	if err != nil {
		return err
	}
	if note == "" {
		note = "paused with meshflow schedule pause"
	}
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
		return fmt.Errorf("pause schedule %s: %w", h.GetID(), err)
	}
	return nil
}

// Resume resumes the paused schedule of a product.
func Resume(ctx context.Context, c client.Client, ref, note string) error {
	h, _, err := describeOwned(ctx, c, ref)
	if err != nil {
		return err
	}
	if note == "" {
		note = "resumed with meshflow schedule resume"
	}
	if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
		return fmt.Errorf("resume schedule %s: %w", h.GetID(), err)
	}
	return nil
}

// BackfillOverlap is the overlap policy of backfills: every time of the range runs,
// one after the other, so that no missed refresh is skipped and runs of one
// product never publish concurrently.
const BackfillOverlap = enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL

// Backfill asks the schedule of a product to take, now, every action its cron
// matches from from to to, both included. Backfills run even while the schedule is
// paused.
func Backfill(ctx context.Context, c client.Client, ref string, from, to time.Time) error {
	if from.IsZero() || to.IsZero() {
		return fmt.Errorf("backfill %s: give both ends of the range", ref)
	}
	if to.Before(from) {
		return fmt.Errorf("backfill %s: the range ends (%s) before it starts (%s)", ref, to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	h, _, err := describeOwned(ctx, c, ref)
	if err != nil {
		return err
	}
	err = h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{Start: from, End: to, Overlap: BackfillOverlap}}})
	if err != nil {
		return fmt.Errorf("backfill schedule %s from %s to %s: %w", h.GetID(), from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return nil
}

// Info describes one of meshflow's schedules.
type Info struct {
	ID      string
	Product string
	// Applied is what the schedule was made from (cron, time zone, overlap…); its
	// Hash is empty if the record is missing.
	Applied Applied
	// Timezone is the schedule's time zone as Temporal holds it ("" is UTC).
	Timezone string
	Paused   bool
	Note     string
	// Next lists the next times the schedule will start a refresh.
	Next []time.Time
	// Recent lists the scheduled times of the latest refreshes it started.
	Recent      []time.Time
	NumActions  int
	RunningRuns []string
}

// Describe describes the schedule of a product.
func Describe(ctx context.Context, c client.Client, ref string) (Info, error) {
	h, desc, err := describeOwned(ctx, c, ref)
	if err != nil {
		return Info{}, err
	}
	return info(h.GetID(), ref, desc), nil
}

func info(id, ref string, desc *client.ScheduleDescription) Info {
	in := Info{ID: id, Product: ref, Next: desc.Info.NextActionTimes, NumActions: desc.Info.NumActions}
	in.Applied, _ = appliedOf(desc)
	if sp := desc.Schedule.Spec; sp != nil {
		in.Timezone = sp.TimeZoneName
	}
	if st := desc.Schedule.State; st != nil {
		in.Paused, in.Note = st.Paused, st.Note
	}
	for _, a := range desc.Info.RecentActions {
		in.Recent = append(in.Recent, a.ScheduleTime)
	}
	for _, r := range desc.Info.RunningWorkflows {
		in.RunningRuns = append(in.RunningRuns, r.WorkflowID)
	}
	return in
}

// List describes meshflow's schedules, sorted by ID. It finds them through
// Temporal's visibility store, which may lag a moment behind a create or delete;
// each schedule it returns is then described directly.
func List(ctx context.Context, c client.Client) ([]Info, error) {
	ids, err := listOwned(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, id := range sortedKeys(ids) {
		desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if isNotFound(err) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		out = append(out, info(id, ids[id], desc))
	}
	return out, nil
}
