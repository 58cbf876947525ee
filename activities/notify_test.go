package activities

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/interop/notify"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
)

// outboxEvents reads the notifications' outbox, in key order.
func outboxEvents(t *testing.T, st storage.Store) []notify.Event {
	t.Helper()
	objs, err := st.List(context.Background(), layout.NotifyOutbox.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []notify.Event
	for _, o := range objs {
		r, _, err := st.Get(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		var ev notify.Event
		err = json.NewDecoder(r).Decode(&ev)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func kinds(evs []notify.Event) string {
	var ks []string
	for _, ev := range evs {
		ks = append(ks, ev.Kind)
	}
	return strings.Join(ks, ",")
}

// TestActivitiesLeaveNotifications runs the activities' notification steps
// as activities: govern's breaking change and approval request, the end of a
// rejected run and a grant; with Notify off, nothing.
func TestActivitiesLeaveNotifications(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st, Notify: true}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	p := refresh.Product{Domain: "aviation", Name: "airports", Consumers: []string{"film/airport-cities"},
		Governance: refresh.Governance{Approval: refresh.ApprovalOnBreakingChange, Stewards: []string{"ana"}, Timeout: time.Hour}}
	film := refresh.Product{Domain: "film", Name: "airport-cities", Governance: refresh.Governance{Stewards: []string{"bo"}}}
	gov := refresh.GovernInput{Product: p, Previous: &refresh.Manifest{Version: "1.0.0"}, Consumers: []refresh.Product{film}}
	res := refresh.GovernResult{Breaking: true, ContractVersion: "2.0.0",
		Impact: &refresh.Impact{Consumers: []refresh.ConsumerImpact{{Product: "film/airport-cities", Checked: true,
			Summary: "film/airport-cities will fail: its SQL reads `city`, removed here"}}},
		Changes: []refresh.ContractChange{{Severity: "breaking", Kind: "column-removed", Path: "airports.city", Message: "column city removed"}}}
	env.RegisterActivityWithOptions(func(ctx context.Context) error {
		a.notifyGovern(ctx, gov, res)
		a.notifyEnd(ctx, refresh.CleanupInput{Ref: p.Ref(), Stage: refresh.StageRejected, Reason: "rejected by bo: breaks the film",
			Approval: &refresh.ApprovalOutcome{Decision: refresh.WaitRejected}})
		return nil
	}, activity.RegisterOptions{Name: "refreshSteps"})
	env.RegisterActivity(a.RecordGrant)
	if _, err := env.ExecuteActivity("refreshSteps"); err != nil {
		t.Fatal(err)
	}
	evs := outboxEvents(t, st)
	if got := kinds(evs); got != "breaking-change-proposed,approval-requested,decided" {
		t.Fatalf("events %s", got)
	}
	ask := evs[1]
	if !slices.Equal(ask.Approvers, []string{"ana", "bo"}) || !strings.Contains(ask.Text, "1 of consumer film/airport-cities (bo)") || ask.Deadline == nil ||
		!strings.Contains(ask.Action, "meshflow approve aviation/airports") || ask.Domain != "aviation" || ask.Run.RunID == "" ||
		len(ask.Impact) != 1 || !strings.Contains(ask.Text, "film/airport-cities will fail: its SQL reads `city`") {
		t.Errorf("approval request %+v", ask)
	}
	if evs[0].Changes[0].Path != "airports.city" || !strings.Contains(evs[0].Text, "column city removed") {
		t.Errorf("breaking change %+v", evs[0])
	}
	if d := evs[2]; d.Decision != "reject" || !strings.Contains(d.Text, "rejected by bo: breaks the film") {
		t.Errorf("rejection %+v", d)
	}

	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	g := provenGrant(t, st, a, "finance/global-kpis", "chen.jie", "maria.rossi", "run-1", at)
	if _, err := env.ExecuteActivity(a.RecordGrant, access.RecordInput{Grant: g}); err != nil {
		t.Fatal(err)
	}
	evs = outboxEvents(t, st)
	i := slices.IndexFunc(evs, func(ev notify.Event) bool { return ev.Kind == spec.EventAccessGranted })
	if i < 0 {
		t.Fatalf("no access-granted event among %s", kinds(evs))
	}
	granted := evs[i]
	if granted.GrantID != g.ID || granted.Requester != "chen.jie" || granted.Domain != "finance" {
		t.Errorf("grant event %+v", granted)
	}

	env.RegisterActivity(a.NotifyAccessExpiring)
	if _, err := env.ExecuteActivity(a.NotifyAccessExpiring, access.ExpiringInput{Grant: g}); err != nil {
		t.Fatal(err)
	}
	evs = outboxEvents(t, st)
	i = slices.IndexFunc(evs, func(ev notify.Event) bool { return ev.Kind == spec.EventAccessExpiring })
	if i < 0 || evs[i].GrantID != g.ID || !strings.Contains(evs[i].Text, "until 2026-03-02T10:00:00Z") || !strings.Contains(evs[i].Action, "meshflow access request finance/global-kpis") {
		t.Errorf("expiring event among %s: %+v", kinds(evs), evs)
	}

	// Without Notify the activities leave nothing.
	a.Notify = false
	before := len(evs)
	g = provenGrant(t, st, a, "finance/global-kpis", "chen.jie", "maria.rossi", "run-2", at)
	if _, err := env.ExecuteActivity(a.RecordGrant, access.RecordInput{Grant: g}); err != nil {
		t.Fatal(err)
	}
	if n := len(outboxEvents(t, st)); n != before {
		t.Errorf("with Notify off the outbox grew from %d to %d", before, n)
	}
}
