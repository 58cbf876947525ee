package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/interop/notify"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
)

// TestPinnedConsumerAcrossABreakingChange: aviation/airports publishes 1.0.0,
// read by film/cities pinned to @1 and by film/latest, which follows the
// latest version. A breaking 2.0.0 (the column amount removed) asks the
// stewards of film/latest, which it breaks, and only tells those of
// film/cities, which the impact analysis lists as pinned and unaffected.
// film/cities keeps reading 1.0.0; a pin to @3 fails, saying so. Deprecated on a date to come, @1 warns in
// its status and a deprecation-approaching notification, and gc keeps 1.0.0
// for it; once the date has come, gc retires 1.0.0 and film/cities' run fails,
// naming the date and the note.
func TestPinnedConsumerAcrossABreakingChange(t *testing.T) {
	e := harness.New(t, "e2e-pins", harness.LocalStore(t))
	const queue = "e2e-pins"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Notify: true})
	const airports, cities, latest = "aviation/airports", "film/cities", "film/latest"

	producer := harness.TinyProduct(t, t.TempDir(), "aviation", "airports", queue)
	producer.Access = refresh.AccessOpen
	producer.Consumers = []string{cities, latest}
	producer.Governance = refresh.Governance{Approval: refresh.ApprovalOnBreakingChange, Stewards: []string{"stella"}, Quorum: 1, Timeout: time.Hour}
	consumer := func(name string, major int, steward string) refresh.Product {
		return refresh.Product{Domain: "film", Name: name, Owner: "film-data", TaskQueue: queue,
			Inputs: []refresh.Input{{Name: "airports", Product: airports, Major: major, Access: refresh.AccessOpen, Format: refresh.FormatParquet}},
			SQL:    "SELECT id, amount FROM airports", Contract: harness.OrdersContract, ContractFile: name + ".odcs.yaml",
			Governance: refresh.Governance{Approval: refresh.ApprovalNever, Stewards: []string{steward}}}
	}
	products := map[string]refresh.Product{airports: producer, cities: consumer("cities", 1, "fred"), latest: consumer("latest", 0, "lara"),
		"film/future": consumer("future", 3, "fred")}
	apply := func() string {
		rev := meshrev.Revision{Products: map[string]refresh.Product{}, AccessApprovers: map[string][]string{}}
		for ref, p := range products {
			rev.Products[ref] = p
			rev.AccessApprovers[ref] = p.Governance.Stewards
		}
		return e.Mesh.Publish(t, rev)
	}
	start := func(ref, rev, suffix string) client.WorkflowRun {
		t.Helper()
		run, err := e.Control.Start(t.Context(), control.Refresh{Ref: ref, TaskQueue: queue, Revision: rev, Principal: "chen.jie", Reason: e.Name, Suffix: suffix})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	readLatest := func(ref string) refresh.Manifest {
		t.Helper()
		h, found, err := catalog.ReadLatest(t.Context(), e.Store, ref)
		if err != nil || !found {
			t.Fatalf("latest of %s: found %t, %v", ref, found, err)
		}
		return h.Manifest
	}

	// 1.0.0, and the consumers' first versions, refreshed after it.
	rev := apply()
	if v := e.Published(start(airports, rev, "v1"), 2*time.Minute); v != "1.0.0" {
		t.Fatalf("airports published %s, want 1.0.0", v)
	}
	testwait.For(t, 2*time.Minute, "both consumers' first versions", func() bool {
		for _, ref := range []string{cities, latest} {
			if _, found, _ := catalog.ReadLatest(t.Context(), e.Store, ref); !found {
				return false
			}
		}
		return true
	})

	// The breaking change: the stewards of film/latest are asked, those of
	// film/cities only told.
	p := producer
	p.SQL = "SELECT id FROM orders"
	p.Contract = strings.Replace(harness.OrdersContract, `      - {name: amount, logicalType: number, quality: [{type: custom, engine: cel, implementation: "amount >= 0.0"}]}`+"\n", "", 1)
	if p.Contract == harness.OrdersContract {
		t.Fatal("the test's edit of the contract did not apply")
	}
	products[airports] = p
	rev = apply()
	breaking := start(airports, rev, "v2")
	st := e.WaitStage(breaking.GetID(), refresh.StageAwaitingApproval, 2*time.Minute)
	var groups []string
	for _, g := range st.Groups {
		groups = append(groups, g.Name)
	}
	if !st.Breaking || !slices.Equal(groups, []string{"stewards", "consumer " + latest}) {
		t.Fatalf("breaking %t, groups %v; want the stewards and film/latest's", st.Breaking, groups)
	}
	if st.Impact == nil || len(st.Impact.Consumers) != 2 || !slices.Equal(st.Impact.BreaksConsumers(), []string{latest}) {
		t.Fatalf("impact %+v; want film/latest alone breaking", st.Impact)
	}
	if c := st.Impact.Consumers[0]; c.Product != cities || c.Pinned != 1 || !strings.Contains(c.Summary, "pinned to @1, unaffected") {
		t.Errorf("film/cities in the impact: %+v; want it pinned to @1, unaffected", c)
	}
	var told notify.Event
	if _, err := catalog.ReadJSON(t.Context(), e.Store, layout.NotifyOutbox.Key(breaking.GetRunID(), notify.SeqBreakingChange+1), &told); err != nil {
		t.Fatalf("the notification to film/cities: %v", err)
	}
	if told.Kind != spec.EventBreakingChangeProposed || told.Domain != "film" || !strings.Contains(told.Title, cities+" is pinned to @1") || len(told.Approvers) != 0 {
		t.Errorf("film/cities was told %+v; want a breaking-change-proposed event to domain film that asks nothing", told)
	}
	for _, who := range []string{"stella", "lara"} {
		if _, err := e.Control.Decide(t.Context(), "", breaking.GetID(), refresh.Decision{Principal: who, Approve: true, Comment: "film/latest moves"}); err != nil {
			t.Fatalf("%s approves: %v", who, err)
		}
	}
	if v := e.Published(breaking, time.Minute); v != "2.0.0" {
		t.Fatalf("published %s, want 2.0.0", v)
	}

	// A pin to a major never published fails, saying what is.
	_, err := e.Result(start("film/future", rev, "no-such-major"), 2*time.Minute)
	if harness.ErrType(err) != refresh.ErrNotPublished || !strings.Contains(err.Error(), "pins aviation/airports@3, but aviation/airports has no published 3.x (its latest version is 2.0.0)") {
		t.Errorf("a pin to @3: %v (type %q); want it failing, naming the latest version", err, harness.ErrType(err))
	}

	// film/cities keeps working, reading 1.0.0: its output is the one it
	// published before 2.0.0, so the run ends unchanged since that version
	// (had it read 2.0.0, which has no amount, its SQL would not bind).
	before := readLatest(cities).Version
	after := start(cities, rev, "after-2")
	if res, err := e.Result(after, 2*time.Minute); err != nil || res.Stage != refresh.StageUnchanged || res.Version != before {
		t.Fatalf("film/cities after 2.0.0: %+v, %v; want unchanged since %s\n%s", res, err, before, e.Explain(after.GetID()))
	}
	if in := readLatest(cities).Inputs[0]; in.SourceVersion != "1.0.0" {
		t.Errorf("film/cities read airports %s, want 1.0.0", in.SourceVersion)
	}

	// Deprecated on a date to come: a warning, and gc keeps 1.0.0.
	on := time.Now().UTC().AddDate(0, 0, 30).Format(refresh.DateLayout)
	if err := catalog.Deprecate(t.Context(), e.Store, refresh.Deprecation{Product: airports, Major: 1, On: on, Note: "read @2, which has no amount", By: "stella", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	warned := start(cities, rev, "warned")
	if res, err := e.Result(warned, 2*time.Minute); err != nil || res.Stage != refresh.StageUnchanged {
		t.Fatalf("the warned run of film/cities: %+v, %v; want it to work (unchanged)\n%s", res, err, e.Explain(warned.GetID()))
	}
	st, err = e.Control.Status(t.Context(), warned.GetID(), "")
	if err != nil || len(st.Deprecated) != 1 || st.Deprecated[0].Input != "airports" || st.Deprecated[0].On != on {
		t.Fatalf("status of the warned run: %+v, %v; want input airports deprecated on %s", st.Deprecated, err, on)
	}
	var soon notify.Event
	if _, err := catalog.ReadJSON(t.Context(), e.Store, layout.NotifyOutbox.Key(warned.GetRunID(), notify.SeqDeprecation), &soon); err != nil {
		t.Fatalf("the deprecation-approaching notification: %v", err)
	}
	if soon.Kind != spec.EventDeprecationApproaching || soon.Product != cities || !strings.Contains(soon.Text, on) {
		t.Errorf("deprecation-approaching %+v", soon)
	}
	pinned, err := catalog.PinnedMajors(t.Context(), e.Store, airports, products, time.Now())
	if err != nil || !slices.Equal(pinned, []int{1, 3}) {
		t.Fatalf("pinned majors %v, %v; want [1 3] (film/future pins a major that gc has none of)", pinned, err)
	}
	gc, err := catalog.GCKeeping(t.Context(), e.Store, airports, 1, pinned, false, time.Now())
	if err != nil || !slices.Equal(gc.Kept, []string{"1.0.0", "2.0.0"}) || len(gc.Retired) != 0 {
		t.Fatalf("gc with @1 pinned: %+v, %v; want 1.0.0 and 2.0.0 kept", gc, err)
	}

	// Once the date has come, gc retires 1.0.0 and film/cities fails.
	past := time.Now().UTC().AddDate(0, 0, -1).Format(refresh.DateLayout)
	if err := catalog.Deprecate(t.Context(), e.Store, refresh.Deprecation{Product: airports, Major: 1, On: past, Note: "read @2, which has no amount", By: "stella", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if pinned, err = catalog.PinnedMajors(t.Context(), e.Store, airports, products, time.Now()); err != nil || !slices.Equal(pinned, []int{3}) {
		t.Fatalf("pinned majors with @1 past its date %v, %v; want [3]", pinned, err)
	}
	if gc, err = catalog.GCKeeping(t.Context(), e.Store, airports, 1, pinned, false, time.Now()); err != nil || !slices.Equal(gc.Retired, []string{"1.0.0"}) {
		t.Fatalf("gc after the date: %+v, %v; want 1.0.0 retired", gc, err)
	}
	_, err = e.Result(start(cities, rev, "past"), 2*time.Minute)
	if harness.ErrType(err) != refresh.ErrDeprecated || !strings.Contains(err.Error(), "deprecated on "+past) || !strings.Contains(err.Error(), "read @2, which has no amount") {
		t.Fatalf("film/cities after the date: %v (type %q); want it failing, naming %s and the note", err, harness.ErrType(err), past)
	}
}
