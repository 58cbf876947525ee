package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// TestWorkerDiesAfterPublishing (F2): the first Publish attempt writes the
// version and moves latest.json, then fails as if its worker died before
// reporting. The retry must recognise the run's own publication (Reused) instead
// of publishing a second version or failing with VersionTaken: exactly one
// version, complete.
func TestWorkerDiesAfterPublishing(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "rel-f2"
	var calls atomic.Int32
	var results []refresh.PublishResult
	var mu sync.Mutex
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Publish: func(real harness.PublishFunc) harness.PublishFunc {
		return func(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
			res, err := real(ctx, in)
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
			if calls.Add(1) == 1 && err == nil {
				return refresh.PublishResult{}, temporal.NewApplicationError("worker lost after publishing, before reporting", "WorkerLost")
			}
			return res, err
		}
	}})
	watchLatest(t, e.Store, "rel/f2")
	p := harness.TinyProduct(t, t.TempDir(), "rel", "f2", queue)
	started := time.Now()
	run := e.Start(p, "1", "ana")
	if v := e.Published(run, time.Minute); v != "1.0.0" {
		t.Fatalf("published %s, want 1.0.0", v)
	}
	t.Logf("published after a lost Publish report in %s", time.Since(started).Round(time.Millisecond))
	mu.Lock()
	got := append([]refresh.PublishResult(nil), results...)
	mu.Unlock()
	if len(got) != 2 || got[0].Version != "1.0.0" || got[0].Reused || !got[1].Reused || got[1].Version != "1.0.0" {
		t.Fatalf("Publish attempts returned %+v; want 1.0.0 published, then 1.0.0 recognised as reused", got)
	}
	reconcile(t, e.Store, p.Ref(), map[string]want{"1.0.0": {RunID: run.GetRunID()}})

	// The next refresh, over a changed input, publishes the next version: the
	// lost report left nothing in the way.
	harness.ChangeInput(t, p)
	run2 := e.Start(p, "2", "ana")
	if v := e.Published(run2, time.Minute); v != "1.1.0" {
		t.Fatalf("second refresh published %s, want 1.1.0", v)
	}
	reconcile(t, e.Store, p.Ref(), map[string]want{"1.0.0": {RunID: run.GetRunID()}, "1.1.0": {RunID: run2.GetRunID()}})
}

// TestRefreshesRace (F3): pairs of refreshes of one product start at the same
// moment. Each version is published exactly once: for every pair, one run
// publishes and the other either loses with the non-retryable VersionTaken error
// or, having compared against the winner's version, publishes the next one.
// latest.json only moves forward while they race.
func TestRefreshesRace(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue, pairs = "rel-f3", 5
	// One worker with room for both runs of a pair at once.
	e.StartWorkers([]string{queue}, harness.WorkerOptions{MaxConcurrentSessions: 4, MaxConcurrentActivities: 16})
	p := harness.TinyProduct(t, t.TempDir(), "rel", "f3", queue)
	seen := watchLatest(t, e.Store, p.Ref())
	wantVersions := map[string]want{}
	lost := 0
	started := time.Now()
	for i := range pairs {
		if i > 0 {
			// Each pair reads a new input: over the last one, its runs would
			// end unchanged.
			harness.ChangeInput(t, p)
		}
		var runs [2]client.WorkflowRun
		var wg sync.WaitGroup
		for j := range runs {
			wg.Go(func() {
				r, err := e.Mesh.Start(t, e.Control, p, fmt.Sprintf("pair%d-%c", i, 'a'+j), "ana", "race")
				if err != nil {
					t.Error(err)
					return
				}
				runs[j] = r
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		won := 0
		var unchanged []refresh.Result
		for _, run := range runs {
			res, err := e.Result(run, time.Minute)
			switch {
			case err == nil && res.Stage == refresh.StageUnchanged:
				// It read latest after the other run of its pair had published
				// the same rows: it must name that version (checked below).
				unchanged = append(unchanged, res)
			case err == nil && res.Stage == refresh.StagePublished:
				if w, dup := wantVersions[res.Version]; dup {
					t.Errorf("pair %d: runs %s and %s both report version %s", i, w.RunID, run.GetRunID(), res.Version)
				}
				wantVersions[res.Version] = want{RunID: run.GetRunID()}
				won++
			case err != nil && harness.ErrType(err) == refresh.ErrVersionTaken:
				if !strings.Contains(err.Error(), "start a new refresh") {
					t.Errorf("pair %d: VersionTaken without advice: %v", i, err)
				}
				lost++
			default:
				t.Errorf("pair %d: run %s ended with %+v, %v; want published, unchanged or VersionTaken\n%s", i, run.GetID(), res, err, e.Explain(run.GetID()))
			}
		}
		if won == 0 {
			t.Errorf("pair %d: neither run published", i)
		}
		for _, res := range unchanged {
			if _, ok := wantVersions[res.Version]; !ok || won != 1 {
				t.Errorf("pair %d: a run ended unchanged since %s, which its pair did not publish (versions %v)", i, res.Version, wantVersions)
			}
		}
	}
	t.Logf("%d pairs in %s: %d versions published, %d runs lost the race with VersionTaken; latest seen %v",
		pairs, time.Since(started).Round(time.Millisecond), len(wantVersions), lost, seen())
	reconcile(t, e.Store, p.Ref(), wantVersions)
}

// runawayContract has a row rule whose worst case (nested comprehensions
// calling contains on a string of up to 64 KiB) is billions of CEL cost units
// per row. It must be refused before it runs, not run away on the worker.
const runawayContract = `apiVersion: v3.1.0
kind: DataContract
id: runaway
version: 1.0.0
status: active
schema:
  - name: items
    properties:
      - {name: id, logicalType: integer, required: true}
      - name: label
        logicalType: string
        quality:
          - id: runaway
            type: custom
            engine: cel
            implementation: "[1,2,3,4,5,6,7,8,9,10].all(x, [1,2,3,4,5,6,7,8,9,10].all(y, label.contains(string(x) + string(y))))"
`

// TestRunawayRuleFailsClosed (F7): a product whose CEL rule would run away is
// stopped at validation by the rule's cost budget, with a non-retryable BadSpec
// error naming the rule and the budget, within seconds; nothing is published.
// The same worker then publishes a normal product: it stayed healthy.
func TestRunawayRuleFailsClosed(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "rel-f7"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{})
	dir := t.TempDir()
	bad := harness.TinyProduct(t, dir, "rel", "runaway", queue)
	bad.SQL = "SELECT id, repeat('ab', 30000) AS label FROM orders"
	bad.Contract = runawayContract
	started := time.Now()
	run := e.Start(bad, "1", "ana")
	res, err := e.Result(run, time.Minute)
	took := time.Since(started)
	if err == nil || harness.ErrType(err) != refresh.ErrBadSpec {
		t.Fatalf("runaway rule: got %+v, %v; want a BadSpec error\n%s", res, err, e.Explain(run.GetID()))
	}
	for _, s := range []string{"stage validating", "rule runaway", "estimated cost", "exceeds the budget 1000000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if took > 30*time.Second {
		t.Errorf("the runaway rule took %s to be refused", took)
	}
	st, qerr := e.Control.Status(t.Context(), run.GetID(), "")
	if qerr != nil || st.Stage != refresh.StageFailed {
		t.Errorf("status of the runaway run: %+v, %v; want failed", st, qerr)
	}
	t.Logf("runaway rule refused in %s: %v", took.Round(time.Millisecond), err)
	reconcile(t, e.Store, bad.Ref(), nil)

	good := harness.TinyProduct(t, dir, "rel", "after-runaway", queue)
	started = time.Now()
	run2 := e.Start(good, "1", "ana")
	if v := e.Published(run2, time.Minute); v != "1.0.0" {
		t.Fatalf("published %s, want 1.0.0", v)
	}
	t.Logf("the same worker then published %s in %s", good.Ref(), time.Since(started).Round(time.Millisecond))
	reconcile(t, e.Store, good.Ref(), map[string]want{"1.0.0": {RunID: run2.GetRunID()}})
}

// TestLostReportWhileAnotherRunPublishes (F2, with a race): the first Publish
// attempt of run A publishes 1.0.0 and its report is lost; before A's retry,
// run B publishes 1.1.0 on top of it. A's retry must still recognise 1.0.0 as
// its own — not fail with VersionTaken while its version is published, which
// would leave a version no run reported.
func TestLostReportWhileAnotherRunPublishes(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "rel-f2b"
	p := harness.TinyProduct(t, t.TempDir(), "rel", "f2b", queue)
	var first sync.Once
	lost := make(chan struct{})   // A published, its report is about to be lost
	resume := make(chan struct{}) // B published: A may report its failure
	e.StartWorkers([]string{queue}, harness.WorkerOptions{MaxConcurrentSessions: 2, Publish: func(real harness.PublishFunc) harness.PublishFunc {
		return func(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
			res, err := real(ctx, in)
			isFirst := false
			first.Do(func() { isFirst = true })
			if isFirst && err == nil {
				close(lost)
				<-resume
				return refresh.PublishResult{}, temporal.NewApplicationError("worker lost after publishing, before reporting", "WorkerLost")
			}
			return res, err
		}
	}})
	watchLatest(t, e.Store, p.Ref())
	runA := e.Start(p, "a", "ana")
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatalf("run A did not publish\n%s", e.Explain(runA.GetID()))
	}
	harness.ChangeInput(t, p) // else B's rows would be A's 1.0.0 again: unchanged
	runB := e.Start(p, "b", "ana")
	vb := e.Published(runB, time.Minute)
	close(resume)
	va := e.Published(runA, time.Minute)
	if va != "1.0.0" || vb != "1.1.0" {
		t.Fatalf("run A reported %s, run B %s; want 1.0.0 and 1.1.0", va, vb)
	}
	reconcile(t, e.Store, p.Ref(), map[string]want{"1.0.0": {RunID: runA.GetRunID()}, "1.1.0": {RunID: runB.GetRunID()}})
}

// TestTerminatedRunsClaimIsSteppedOver: a run is terminated in the middle of
// Publish, after it claimed 1.1.0 and before it could move latest.json (its
// worker's Puts of latest.json fail). Readers never see 1.1.0. While the claim
// is young a new run ends with VersionTaken, as a racing run would; once the
// claim is older than layout.DefaultStaleClaimAfter (the test ages it in
// the store), the next run steps over it and publishes 1.2.0 on top of 1.0.0,
// and the product is not blocked for later runs.
func TestTerminatedRunsClaimIsSteppedOver(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "rel-claim"
	p := harness.TinyProduct(t, t.TempDir(), "rel", "claim", queue)
	var refuseLatest atomic.Bool
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Store: hookStore{Store: e.Store, beforePut: func(key string) error {
		if key == layout.LatestKey(p.Ref()) && refuseLatest.Load() {
			return errors.New("injected: cannot write latest.json")
		}
		return nil
	}}})
	seen := watchLatest(t, e.Store, p.Ref())
	run1 := e.Start(p, "1", "ana")
	if v := e.Published(run1, time.Minute); v != "1.0.0" {
		t.Fatalf("first refresh published %s, want 1.0.0", v)
	}

	harness.ChangeInput(t, p) // the runs below publish new rows, not 1.0.0's again
	refuseLatest.Store(true)
	claimKey := layout.VersionPrefix(p.Ref(), "1.1.0") + "/manifest.json"
	stuck := e.Start(p, "stuck", "ana")
	testwait.For(t, time.Minute, "the stuck run's second Publish attempt", func() bool {
		n, _ := publishAttempt(e, stuck)
		return n >= 2
	})
	if _, err := e.Store.Head(t.Context(), claimKey); err != nil {
		t.Fatalf("the stuck run claimed nothing at %s: %v", claimKey, err)
	}
	if err := e.Temporal.TerminateWorkflow(t.Context(), stuck.GetID(), stuck.GetRunID(), "a deploy gone wrong"); err != nil {
		t.Fatal(err)
	}
	refuseLatest.Store(false)

	young := e.Start(p, "young", "ana")
	if _, err := e.Result(young, time.Minute); harness.ErrType(err) != refresh.ErrVersionTaken || !strings.Contains(err.Error(), "claimed") {
		t.Fatalf("a run behind a young claim ended with %v, want VersionTaken naming the claim", err)
	}

	// An hour later: the claim is stale.
	var claim refresh.Manifest
	if _, err := catalog.ReadJSON(t.Context(), e.Store, claimKey, &claim); err != nil {
		t.Fatal(err)
	}
	claim.PublishedAt = claim.PublishedAt.Add(-layout.DefaultStaleClaimAfter - time.Minute)
	b, _ := json.Marshal(claim)
	if _, err := e.Store.Put(t.Context(), claimKey, bytes.NewReader(b), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	run2 := e.Start(p, "2", "ana")
	if v := e.Published(run2, time.Minute); v != "1.2.0" {
		t.Fatalf("the run after a stale claim published %s, want 1.2.0", v)
	}
	harness.ChangeInput(t, p)
	run3 := e.Start(p, "3", "ana")
	if v := e.Published(run3, time.Minute); v != "1.3.0" {
		t.Fatalf("the next run published %s, want 1.3.0", v)
	}

	a, err := catalog.AuditProduct(t.Context(), e.Store, p.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if !a.OK() || !slices.Equal(a.Versions, []string{"1.0.0", "1.2.0", "1.3.0"}) || !slices.Equal(a.Unreachable, []string{"1.1.0"}) {
		t.Fatalf("audit: problems %v, versions %v, unreachable %v; want 1.0.0 1.2.0 1.3.0 committed and only the stale claim 1.1.0 outside", a.Problems, a.Versions, a.Unreachable)
	}
	if prev := a.Manifests["1.2.0"].Previous; prev != "1.0.0" {
		t.Fatalf("1.2.0 names %q as previous, want 1.0.0", prev)
	}
	for _, v := range seen() {
		if v == "1.1.0" {
			t.Fatalf("readers saw the stale claim 1.1.0 in latest.json: %v", seen())
		}
	}
	e2, err := catalog.Show(t.Context(), e.Store, p.Ref())
	if err != nil || !slices.Equal(e2.Versions, a.Versions) {
		t.Fatalf("catalog shows %v (%v), want %v", e2.Versions, err, a.Versions)
	}
}
