package schedules_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the schedules name IANA zones

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/temporal/schedules"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/robfig/cron/v3"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

func load(t *testing.T, dir string) *spec.Set {
	t.Helper()
	set, ds := spec.Load(dir)
	if ds.HasErrors() {
		t.Fatalf("mesh %s does not validate: %v", dir, ds.Err())
	}
	return set
}

type fixture struct {
	t  *testing.T
	c  client.Client
	ns string
}

func (f fixture) describe(ref string) *client.ScheduleDescription {
	f.t.Helper()
	d, err := f.c.ScheduleClient().GetHandle(f.t.Context(), schedules.ID(ref)).Describe(f.t.Context())
	if err != nil {
		f.t.Fatalf("describe the schedule of %s: %v", ref, err)
	}
	return d
}

// token returns the schedule's conflict token, which Temporal changes on every
// update of the schedule (not on pause or resume).
func (f fixture) token(id string) string {
	f.t.Helper()
	resp, err := f.c.WorkflowService().DescribeSchedule(f.t.Context(), &workflowservice.DescribeScheduleRequest{Namespace: f.ns, ScheduleId: id})
	if err != nil {
		f.t.Fatalf("describe schedule %s: %v", id, err)
	}
	return string(resp.ConflictToken)
}

func (f fixture) tokens(set *spec.Set) map[string]string {
	out := map[string]string{}
	for _, p := range set.Products {
		if p.Schedule != nil {
			out[p.Ref()] = f.token(schedules.ID(p.Ref()))
		}
	}
	return out
}

func (f fixture) reconcile(set *spec.Set, dryRun bool) schedules.Plan {
	f.t.Helper()
	plan, err := schedules.Reconcile(f.t.Context(), f.c, set, schedules.Options{DryRun: dryRun})
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	return plan
}

// wantPlan checks the plan's action per product; products not named must be unchanged.
func wantPlan(t *testing.T, plan schedules.Plan, set []string, want map[string]schedules.Action) {
	t.Helper()
	for _, ref := range set {
		w, ok := want[ref]
		if !ok {
			w = schedules.Unchanged
		}
		ch, found := plan.Find(ref)
		if !found || ch.Action != w {
			t.Errorf("%s: plan says %q (found %v), want %q; plan: %+v", ref, ch.Action, found, w, plan.Changes)
		}
	}
	if len(plan.Changes) != len(set) {
		t.Errorf("plan has %d changes, want %d: %+v", len(plan.Changes), len(set), plan.Changes)
	}
}

func scheduled(set *spec.Set) []string {
	var refs []string
	for _, p := range set.Products {
		if p.Schedule != nil {
			refs = append(refs, p.Ref())
		}
	}
	return refs
}

// checkSchedule compares a schedule in Temporal with the product's spec.
func (f fixture) checkSchedule(set *spec.Set, ref string) {
	f.t.Helper()
	t := f.t
	p := set.Product(ref)
	sc := p.Schedule
	d := f.describe(ref)
	act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		t.Fatalf("%s: action is %T", ref, d.Schedule.Action)
	}
	if act.Workflow != refresh.WorkflowProductRefresh {
		t.Errorf("%s: workflow %v, want %s", ref, act.Workflow, refresh.WorkflowProductRefresh)
	}
	if q := set.Domain(p.Metadata.Domain).Queue(); act.TaskQueue != q {
		t.Errorf("%s: task queue %q, want %q", ref, act.TaskQueue, q)
	}
	if want := "refresh/" + ref + "/scheduled"; act.ID != want {
		t.Errorf("%s: workflow ID %q, want %q", ref, act.ID, want)
	}
	if d.Schedule.Spec.TimeZoneName != sc.Timezone {
		t.Errorf("%s: time zone %q, want %q", ref, d.Schedule.Spec.TimeZoneName, sc.Timezone)
	}
	if d.Schedule.Spec.Jitter != sc.Jitter {
		t.Errorf("%s: jitter %s, want %s", ref, d.Schedule.Spec.Jitter, sc.Jitter)
	}
	if got := schedules.OverlapName(d.Schedule.Policy.Overlap); got != sc.OverlapPolicy() {
		t.Errorf("%s: overlap %s, want %s", ref, got, sc.OverlapPolicy())
	}
	if d.Schedule.Policy.CatchupWindow != sc.Catchup() {
		t.Errorf("%s: catch-up window %s, want %s", ref, d.Schedule.Policy.CatchupWindow, sc.Catchup())
	}
	info, err := schedules.Describe(t.Context(), f.c, ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.Applied.Cron != sc.Cron || info.Applied.Hash == "" {
		t.Errorf("%s: applied record %+v, want cron %q and a hash", ref, info.Applied, sc.Cron)
	}
	// The cron Temporal runs is the spec's: its next times follow one another as
	// the cron does in the product's zone.
	if sc.Jitter == 0 {
		loc, err := time.LoadLocation(sc.Timezone)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cron.ParseStandard(sc.Cron)
		if err != nil {
			t.Fatal(err)
		}
		next := d.Info.NextActionTimes
		if len(next) < 3 {
			t.Fatalf("%s: only %d next action times", ref, len(next))
		}
		for i := 1; i < len(next); i++ {
			if want := cs.Next(next[i-1].In(loc)); !want.Equal(next[i]) {
				t.Errorf("%s: next time %d is %s, want %s after %s", ref, i, next[i].In(loc), want, next[i-1].In(loc))
				break
			}
		}
	}
}

func TestReconcile(t *testing.T) {
	srv, c := devservertest.StartMesh(t)
	f := fixture{t: t, c: c, ns: srv.Namespace()}
	dir := meshtest.CopyExample(t)
	set := load(t, dir)
	refs := scheduled(set)
	if len(refs) < 3 {
		t.Fatalf("the example mesh schedules %d products; the test needs at least 3", len(refs))
	}
	create := map[string]schedules.Action{}
	for _, r := range refs {
		create[r] = schedules.Create
	}

	// A schedule made outside meshflow, and one that has meshflow's prefix but not
	// its marker: apply never deletes either.
	for _, id := range []string{"nightly-report", schedules.IDPrefix + "finance/legacy-report"} {
		_, err := c.ScheduleClient().Create(t.Context(), client.ScheduleOptions{
			ID:     id,
			Spec:   client.ScheduleSpec{CronExpressions: []string{"0 0 1 1 *"}},
			Action: &client.ScheduleWorkflowAction{Workflow: "Report", TaskQueue: "reports"},
			Paused: true,
		})
		if err != nil {
			t.Fatalf("create foreign schedule %s: %v", id, err)
		}
	}

	t.Run("dry run changes nothing", func(t *testing.T) {
		plan := f.reconcile(set, true)
		wantPlan(t, plan, refs, create)
		_, err := c.ScheduleClient().GetHandle(t.Context(), schedules.ID(refs[0])).Describe(t.Context())
		if err == nil {
			t.Errorf("a dry run created schedule %s", schedules.ID(refs[0]))
		}
	})

	t.Run("create", func(t *testing.T) {
		plan := f.reconcile(set, false)
		wantPlan(t, plan, refs, create)
		for _, r := range refs {
			f.checkSchedule(set, r)
		}
	})

	t.Run("no-op", func(t *testing.T) {
		before := f.tokens(set)
		plan := f.reconcile(set, false)
		wantPlan(t, plan, refs, nil)
		after := f.tokens(set)
		for r, tok := range before {
			if after[r] != tok {
				t.Errorf("%s: the schedule was updated by a no-op apply", r)
			}
		}
	})

	t.Run("update", func(t *testing.T) {
		const ref = "sales-emea/regional-sales"
		meshtest.Edit(t, dir, "sales-emea/regional-sales.yaml", `cron: "30 5 * * *"`, `cron: "45 5 * * 1-5"`)
		set = load(t, dir)
		before := f.tokens(set)

		plan := f.reconcile(set, true)
		wantPlan(t, plan, refs, map[string]schedules.Action{ref: schedules.Update})
		if ch, _ := plan.Find(ref); !strings.Contains(ch.Detail, `cron "30 5 * * *" → "45 5 * * 1-5"`) {
			t.Errorf("update detail %q does not name the cron change", ch.Detail)
		}
		if f.token(schedules.ID(ref)) != before[ref] {
			t.Errorf("a dry run updated %s", ref)
		}

		plan = f.reconcile(set, false)
		wantPlan(t, plan, refs, map[string]schedules.Action{ref: schedules.Update})
		after := f.tokens(set)
		for r, tok := range before {
			if changed := after[r] != tok; changed != (r == ref) {
				t.Errorf("%s: updated %v, want %v", r, changed, r == ref)
			}
		}
		f.checkSchedule(set, ref)
		wantPlan(t, f.reconcile(set, false), refs, nil)
	})

	t.Run("options", func(t *testing.T) {
		const ref = "supply-chain/delivery-performance"
		meshtest.Edit(t, dir, "supply-chain/delivery-performance.yaml", `cron: "*/30 * * * *"`,
			"cron: \"*/30 * * * *\"\n  overlap: buffer-one\n  catchupWindow: 2h\n  jitter: 1m\n  paused: true")
		set = load(t, dir)
		plan := f.reconcile(set, false)
		wantPlan(t, plan, refs, map[string]schedules.Action{ref: schedules.Update})
		f.checkSchedule(set, ref)
		if d := f.describe(ref); !d.Schedule.State.Paused {
			t.Errorf("%s: paused: true in the spec did not pause the schedule", ref)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		const ref = "finance/fx-rates"
		paused := func(want bool, note string) func() bool {
			return func() bool {
				st := f.describe(ref).Schedule.State
				return st.Paused == want && (note == "" || st.Note == note)
			}
		}
		if err := schedules.Pause(t.Context(), c, ref, "bank holiday"); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "the pause", paused(true, "bank holiday"))

		// A manual pause survives an apply that changes the cron.
		meshtest.Edit(t, dir, "finance/fx-rates.yaml", `cron: "0 22 * * 1-5"`, `cron: "15 22 * * 1-5"`)
		set = load(t, dir)
		wantPlan(t, f.reconcile(set, false), refs, map[string]schedules.Action{ref: schedules.Update})
		if a, _ := schedules.Describe(t.Context(), c, ref); a.Applied.Cron != "15 22 * * 1-5" || !a.Paused {
			t.Errorf("after apply: cron %q, paused %v; want the new cron, still paused", a.Applied.Cron, a.Paused)
		}

		if err := schedules.Resume(t.Context(), c, ref, ""); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "the resume", paused(false, "resumed with meshflow schedule resume"))

		if err := schedules.Pause(t.Context(), c, "finance/no-such-product", ""); err == nil || !strings.Contains(err.Error(), "meshflow apply") {
			t.Errorf("pausing a product without schedule: %v, want an error that says to apply", err)
		}
		if err := schedules.Pause(t.Context(), c, "finance/legacy-report", ""); err == nil || !strings.Contains(err.Error(), "not created by meshflow") {
			t.Errorf("pausing a schedule meshflow does not own: %v", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		const gone = "supply-chain/delivery-performance"
		// The schedule list comes from the visibility store, which lags behind.
		testwait.For(t, 30*time.Second, "every schedule in the list", func() bool {
			infos, err := schedules.List(t.Context(), c)
			return err == nil && len(infos) == len(refs)
		})
		if err := os.Remove(filepath.Join(dir, "supply-chain", "delivery-performance.yaml")); err != nil {
			t.Fatal(err)
		}
		set = load(t, dir)
		before := f.tokens(set)
		plan := f.reconcile(set, false)
		wantPlan(t, plan, refs, map[string]schedules.Action{gone: schedules.Delete})
		if _, err := c.ScheduleClient().GetHandle(t.Context(), schedules.ID(gone)).Describe(t.Context()); err == nil {
			t.Errorf("schedule %s still exists", schedules.ID(gone))
		}
		after := f.tokens(set)
		for r, tok := range before {
			if after[r] != tok {
				t.Errorf("%s: updated while another product's schedule was deleted", r)
			}
		}
		for _, id := range []string{"nightly-report", schedules.IDPrefix + "finance/legacy-report"} {
			if _, err := c.ScheduleClient().GetHandle(t.Context(), id).Describe(t.Context()); err != nil {
				t.Errorf("foreign schedule %s: %v", id, err)
			}
		}
		// The deleted schedule may still be listed for a moment: the next apply
		// must not report it again.
		rest := scheduled(set)
		wantPlan(t, f.reconcile(set, false), rest, nil)
	})

	t.Run("backfill", func(t *testing.T) {
		const ref = "sales-china/regional-sales" // 06:00 daily, Asia/Shanghai
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().In(loc)
		from := time.Date(now.Year(), now.Month(), now.Day()-3, 0, 0, 0, 0, loc)
		to := from.AddDate(0, 0, 2).Add(-time.Millisecond) // two days, two refreshes

		if err := schedules.Backfill(t.Context(), c, ref, to, from); err == nil || !strings.Contains(err.Error(), "ends") {
			t.Errorf("backfill of a reversed range: %v, want a refusal", err)
		}
		if err := schedules.Backfill(t.Context(), c, ref, from, to); err != nil {
			t.Fatal(err)
		}
		// No worker runs here: the first backfilled refresh starts and stays
		// running, the second waits behind it (buffer-all).
		first := from.Add(6 * time.Hour)
		var wfID string
		testwait.For(t, 30*time.Second, "the backfilled refresh", func() bool {
			for _, a := range f.describe(ref).Info.RecentActions {
				if a.ScheduleTime.Equal(first) && a.StartWorkflowResult != nil {
					wfID = a.StartWorkflowResult.WorkflowID
					return true
				}
			}
			return false
		})
		if !strings.HasPrefix(wfID, "refresh/"+ref+"/scheduled") {
			t.Errorf("backfilled run ID %q", wfID)
		}
		desc, err := c.DescribeWorkflowExecution(t.Context(), wfID, "")
		if err != nil {
			t.Fatal(err)
		}
		ex := desc.WorkflowExecutionInfo
		if ex.Type.Name != refresh.WorkflowProductRefresh || ex.TaskQueue != "meshflow-sales-china" {
			t.Errorf("backfilled run: type %s, queue %s", ex.Type.Name, ex.TaskQueue)
		}
		sa := ex.SearchAttributes.GetIndexedFields()
		for k, want := range map[string]string{refresh.SearchDomain: "sales-china", refresh.SearchProduct: "regional-sales"} {
			var got string
			if p, ok := sa[k]; !ok || converter.GetDefaultDataConverter().FromPayload(p, &got) != nil || got != want {
				t.Errorf("backfilled run: search attribute %s = %q, want %q", k, got, want)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := c.TerminateWorkflow(ctx, wfID, "", "test over"); err != nil {
			t.Errorf("terminate %s: %v", wfID, err)
		}
	})
}
