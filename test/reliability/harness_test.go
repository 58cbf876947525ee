package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/worker"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// env is a Temporal server, a client and the store products are published to.
type env struct {
	t     *testing.T
	addr  string
	tc    client.Client
	ctl   *control.Client
	store storage.Store
	// mesh publishes the revisions runs resolve their products from, with
	// the key ctl signs with.
	mesh *meshrevtest.Mesh
}

func searchAttributes() map[string]enumspb.IndexedValueType {
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range refresh.SearchAttributes {
		attrs[a] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}

// newEnv starts an in-process Temporal server; workers are started separately.
func newEnv(t *testing.T, store storage.Store) *env {
	t.Helper()
	srv, tc := devservertest.Start(t, searchAttributes())
	return withMesh(&env{t: t, addr: srv.FrontendAddress(), tc: tc, ctl: &control.Client{Temporal: tc, Namespace: srv.Namespace()}, store: store})
}

// withMesh gives e a signing key that its revisions trust.
func withMesh(e *env) *env {
	e.mesh = meshrevtest.New(e.t, e.store)
	e.ctl.Signer = e.mesh.Signer
	return e
}

// workerOpts tune startWorker.
type workerOpts struct {
	// store replaces the env's store for the worker's activities (a proxy, a
	// store with hooks).
	store storage.Store
	// publish, when set, is registered as the Publish activity in place of the
	// real one, which it receives.
	publish func(real publishFunc) publishFunc
	// sessions and activities raise the worker's concurrency.
	sessions, activities int
}

type publishFunc func(context.Context, refresh.PublishInput) (refresh.PublishResult, error)

// startWorker starts an in-process worker on queue, stopped when the test ends.
func (e *env) startWorker(queue string, o workerOpts) *activities.Activities {
	e.t.Helper()
	st := o.store
	if st == nil {
		st = e.store
	}
	acts := &activities.Activities{Store: st, Scratch: e.t.TempDir(), Threads: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := worker.New(e.tc, queue, acts, worker.Options{Identity: "reliability-" + queue,
		MaxConcurrentSessions: o.sessions, MaxConcurrentActivities: o.activities})
	if o.publish != nil {
		w.RegisterActivityWithOptions(o.publish(acts.Publish), activity.RegisterOptions{Name: refresh.ActivityPublish, DisableAlreadyRegisteredCheck: true})
	}
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	return acts
}

// start starts a refresh of p with the workflow ID refresh/<ref>/<suffix>.
func (e *env) start(p refresh.Product, suffix, submitter string) client.WorkflowRun {
	e.t.Helper()
	run, err := e.mesh.Start(e.t, e.ctl, p, suffix, submitter, "reliability")
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

// result waits for a run's result, with a deadline.
func (e *env) result(run client.WorkflowRun, within time.Duration) (refresh.Result, error) {
	ctx, cancel := context.WithTimeout(e.t.Context(), within)
	defer cancel()
	var res refresh.Result
	err := run.Get(ctx, &res)
	return res, err
}

// published waits for a run and fails the test unless it published.
func (e *env) published(run client.WorkflowRun, within time.Duration) string {
	e.t.Helper()
	res, err := e.result(run, within)
	if err != nil || res.Stage != refresh.StagePublished {
		e.t.Fatalf("run %s: got %+v, %v; want published\n%s", run.GetID(), res, err, e.explain(run))
	}
	return res.Version
}

// waitFor polls cond every 20ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// errType returns the type of the application error in err, if any.
func errType(err error) string {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		return appErr.Type()
	}
	return ""
}

// localStore opens a store in a temporary folder.
func localStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// explain describes a run for a failure message: its status and its pending
// activities with their last failures.
func (e *env) explain(run interface{ GetID() string }) string {
	var b strings.Builder
	st, err := e.ctl.Status(context.Background(), run.GetID(), "")
	fmt.Fprintf(&b, "status: stage %q detail %q error %q (query error %v)", st.Stage, st.Detail, st.Error, err)
	d, err := e.tc.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	if err != nil {
		fmt.Fprintf(&b, "; describe: %v", err)
		return b.String()
	}
	for _, a := range d.GetPendingActivities() {
		fmt.Fprintf(&b, "; pending %s: state %s, attempt %d, last failure %q, last worker %q",
			a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), a.GetLastFailure().GetMessage(), a.GetLastWorkerIdentity())
	}
	return b.String()
}

// ordersContract is the contract of the tiny products: two columns and one CEL
// row rule evaluated in DuckDB.
const ordersContract = `apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true}
      - {name: amount, logicalType: number, quality: [{type: custom, engine: cel, implementation: "amount >= 0.0"}]}
`

// tinyProduct returns a product of a few rows read from a CSV file in dir,
// published without approval.
func tinyProduct(t testing.TB, dir, domain, name, queue string) refresh.Product {
	t.Helper()
	f := filepath.Join(dir, name+".csv")
	content := fmt.Sprintf("id,amount\n1,10.5\n2,3\n3,%d\n", len(name))
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return refresh.Product{Domain: domain, Name: name, Owner: "ana", TaskQueue: queue,
		Inputs:   []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(f), Format: "csv"}},
		SQL:      "SELECT id, amount FROM orders",
		Contract: ordersContract, ContractFile: name + ".odcs.yaml",
		Governance: refresh.Governance{Approval: "never"}}
}

// want is what reconcile expects of one published version: the run that
// published it and, when the run needed sign-off, who approved it.
type want struct {
	RunID     string
	Approvers []string // nil: no approval was needed
}

// reconcile audits product ref (catalog.AuditProduct: every committed version's
// objects match its manifest, no run published twice, versions and times move
// forward, latest.json names the newest version and its run, approvals are of
// one reviewed manifest) and checks that the store holds exactly the versions of
// wantVersions, published by the runs named, approved by whom they name; that no
// claim outside the chain is left; that the catalog shows the same versions; and
// that _staging/ holds nothing of the product.
func reconcile(t *testing.T, st storage.Store, ref string, wantVersions map[string]want) {
	t.Helper()
	a, err := catalog.AuditProduct(t.Context(), st, ref)
	if err != nil {
		t.Fatalf("reconcile %s: %v", ref, err)
	}
	for _, p := range a.Problems {
		t.Errorf("reconcile: %s", p)
	}
	if len(a.Unreachable) > 0 {
		t.Errorf("reconcile %s: versions %v were claimed but are in no chain from latest.json", ref, a.Unreachable)
	}
	if a.Staging > 0 {
		t.Errorf("reconcile %s: %d staging objects left by finished runs", ref, a.Staging)
	}
	for _, v := range a.Versions {
		m := a.Manifests[v]
		w, ok := wantVersions[v]
		switch {
		case !ok:
			t.Errorf("reconcile %s: v%s (run %s) is published but no run reported it", ref, v, m.RunID)
		case w.RunID != "" && w.RunID != m.RunID:
			t.Errorf("reconcile %s: v%s was published by run %s, reported by run %s", ref, v, m.RunID, w.RunID)
		case w.Approvers == nil && len(m.Approvals) > 0:
			t.Errorf("reconcile %s: v%s needed no approval but records %+v", ref, v, m.Approvals)
		case w.Approvers != nil:
			var got []string
			for _, ap := range m.Approvals {
				got = append(got, ap.Principal)
			}
			if !slices.Equal(got, w.Approvers) {
				t.Errorf("reconcile %s: v%s approvals by %v, want %v", ref, v, got, w.Approvers)
			}
		}
	}
	for v := range wantVersions {
		if !slices.Contains(a.Versions, v) {
			t.Errorf("reconcile %s: v%s was reported published but is not committed in the store", ref, v)
		}
	}
	if len(a.Versions) > 0 {
		e, err := catalog.Show(t.Context(), st, ref)
		if err != nil {
			t.Errorf("reconcile %s: catalog: %v", ref, err)
		} else if !slices.Equal(e.Versions, a.Versions) {
			t.Errorf("reconcile %s: the catalog shows versions %v, the audit %v", ref, e.Versions, a.Versions)
		}
	}
	t.Logf("reconcile %s: store holds versions %v", ref, a.Versions)
}

// watchLatest reads latest.json of ref every few milliseconds until the test
// ends, and fails the test if it ever moves backwards or to a version whose
// manifest does not exist. Read errors (a stopped server) are ignored.
func watchLatest(t *testing.T, st storage.Store, ref string) (seen func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var versions []string
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var l layout.Latest
			if _, err := catalog.ReadJSON(ctx, st, layout.LatestKey(ref), &l); err == nil {
				mu.Lock()
				if n := len(versions); n == 0 || versions[n-1] != l.Version {
					if n > 0 && layout.CompareVersions(l.Version, versions[n-1]) < 0 {
						problems = append(problems, fmt.Sprintf("latest.json moved back from %s to %s", versions[n-1], l.Version))
					}
					if _, err := st.Head(ctx, l.ManifestKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
						// unreadable for now: the next poll tells
					} else if err != nil {
						problems = append(problems, fmt.Sprintf("latest.json names %s, which does not exist", l.ManifestKey))
					}
					versions = append(versions, l.Version)
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, p := range problems {
			t.Errorf("watching %s: %s", ref, p)
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(versions)
	}
}

// quietLogger drops the Temporal SDK's logs (reconnection warnings while a
// server is stopped on purpose).
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
