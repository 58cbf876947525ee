package reliability

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/catalog"
	"github.com/meshflow/meshflow/control"
	"github.com/meshflow/meshflow/devserver/devservertest"
	"github.com/meshflow/meshflow/refresh"
	"github.com/meshflow/meshflow/storage"
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
	return &env{t: t, addr: srv.FrontendAddress(), tc: tc, ctl: &control.Client{Temporal: tc, Namespace: srv.Namespace()}, store: store}
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
	run, err := e.ctl.Start(e.t.Context(), refresh.RefreshInput{Product: p, Submitter: submitter, Reason: "reliability"}, suffix)
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

// sha returns the SHA-256 and size of an object's bytes, read back from the store.
func sha(t *testing.T, st storage.Store, key string) (string, int64) {
	t.Helper()
	r, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
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

var versionDir = func(ref, key string) (version, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, ref+"/v")
	if !ok {
		return "", "", false
	}
	version, name, ok = strings.Cut(rest, "/")
	return version, name, ok && !strings.Contains(name, "/")
}

// reconcile lists every object of product ref and checks that the store holds
// exactly the versions of wantVersions, each once, published by the run named:
// every vX.Y.Z folder has a manifest whose data, report, contract (and
// quarantine) checksums and sizes match the bytes stored, and nothing else;
// versions increase with their publication time; latest.json names the highest
// version and its run; approvals are recorded when the run needed them; the
// catalog shows the same versions; and _staging/ holds nothing of the product.
func reconcile(t *testing.T, st storage.Store, ref string, wantVersions map[string]want) {
	t.Helper()
	ctx := t.Context()
	objs, err := st.List(ctx, ref+"/")
	if err != nil {
		t.Fatalf("reconcile %s: list: %v", ref, err)
	}
	folders := map[string][]string{} // version -> object names
	hasLatest := false
	for _, o := range objs {
		if o.Key == catalog.LatestKey(ref) {
			hasLatest = true
			continue
		}
		v, name, ok := versionDir(ref, o.Key)
		if !ok {
			t.Errorf("reconcile %s: unexpected object %s", ref, o.Key)
			continue
		}
		folders[v] = append(folders[v], name)
	}
	var versions []string
	manifests := map[string]refresh.Manifest{}
	runs := map[string]string{} // run ID -> version
	for v, names := range folders {
		versions = append(versions, v)
		vp := catalog.VersionPrefix(ref, v)
		if !slices.Contains(names, "manifest.json") {
			t.Errorf("reconcile %s: v%s has objects %v but no manifest", ref, v, names)
			continue
		}
		var m refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, st, path.Join(vp, "manifest.json"), &m); err != nil {
			t.Errorf("reconcile %s: v%s: %v", ref, v, err)
			continue
		}
		manifests[v] = m
		if m.Version != v || m.Product != ref {
			t.Errorf("reconcile %s: manifest in v%s says product %s version %s", ref, v, m.Product, m.Version)
		}
		if other, dup := runs[m.RunID]; dup {
			t.Errorf("reconcile %s: run %s published twice: v%s and v%s", ref, m.RunID, other, v)
		}
		runs[m.RunID] = v
		refs := map[string]refresh.ObjectRef{"data.parquet": m.Data, "quality.json": m.Report}
		if m.Contract == nil {
			t.Errorf("reconcile %s: v%s has no contract", ref, v)
		} else {
			refs["contract.odcs.yaml"] = *m.Contract
		}
		if m.Quarantine != nil {
			refs["quarantine.parquet"] = *m.Quarantine
		}
		for name, r := range refs {
			if r.Key != path.Join(vp, name) {
				t.Errorf("reconcile %s: v%s manifest names %s at %s, want %s", ref, v, name, r.Key, path.Join(vp, name))
				continue
			}
			if !slices.Contains(names, name) {
				t.Errorf("reconcile %s: v%s: %s is in the manifest but not in the store", ref, v, name)
				continue
			}
			sum, size := sha(t, st, r.Key)
			if sum != r.SHA256 || size != r.Size || len(r.SHA256) != 64 {
				t.Errorf("reconcile %s: v%s: %s has SHA-256 %s (%d bytes), manifest says %s (%d bytes)", ref, v, name, sum, size, r.SHA256, r.Size)
			}
		}
		for _, name := range names {
			if _, ok := refs[name]; !ok && name != "manifest.json" {
				t.Errorf("reconcile %s: v%s holds %s, which its manifest does not name", ref, v, name)
			}
		}
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
			for _, a := range m.Approvals {
				if a.Decision != "approve" || a.ManifestHash == "" || a.At.IsZero() {
					t.Errorf("reconcile %s: v%s approval %+v is not an approval of a reviewed manifest", ref, v, a)
				}
				got = append(got, a.Principal)
			}
			if !slices.Equal(got, w.Approvers) {
				t.Errorf("reconcile %s: v%s approvals by %v, want %v", ref, v, got, w.Approvers)
			}
		}
	}
	for v := range wantVersions {
		if _, ok := folders[v]; !ok {
			t.Errorf("reconcile %s: v%s was reported published but is not in the store", ref, v)
		}
	}
	slices.SortFunc(versions, compareVersions)
	for i := 1; i < len(versions); i++ {
		a, b := manifests[versions[i-1]], manifests[versions[i]]
		if b.PublishedAt.Before(a.PublishedAt) {
			t.Errorf("reconcile %s: v%s was published at %s, before v%s at %s", ref, versions[i], b.PublishedAt, versions[i-1], a.PublishedAt)
		}
	}

	// The readers' view: latest.json names the highest version; the catalog
	// shows every version and nothing else.
	switch {
	case len(versions) == 0 && hasLatest:
		t.Errorf("reconcile %s: latest.json exists but no version does", ref)
	case len(versions) > 0:
		top := versions[len(versions)-1]
		var l catalog.Latest
		if _, err := catalog.ReadJSON(ctx, st, catalog.LatestKey(ref), &l); err != nil {
			t.Errorf("reconcile %s: latest.json: %v", ref, err)
		} else if l.Version != top || l.ManifestKey != path.Join(catalog.VersionPrefix(ref, top), "manifest.json") || l.RunID != manifests[top].RunID {
			t.Errorf("reconcile %s: latest.json is %+v; want version %s of run %s", ref, l, top, manifests[top].RunID)
		}
		e, err := catalog.Show(ctx, st, ref)
		if err != nil {
			t.Errorf("reconcile %s: catalog: %v", ref, err)
		} else if !slices.Equal(e.Versions, versions) {
			t.Errorf("reconcile %s: the catalog shows versions %v, the store holds %v", ref, e.Versions, versions)
		}
	}
	staging, err := st.List(ctx, path.Join("_staging", ref)+"/")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("reconcile %s: list staging: %v", ref, err)
	}
	if len(staging) > 0 {
		t.Errorf("reconcile %s: %d staging objects left by finished runs, e.g. %s", ref, len(staging), staging[0].Key)
	}
	t.Logf("reconcile %s: store holds versions %v", ref, versions)
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
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
			var l catalog.Latest
			if _, err := catalog.ReadJSON(ctx, st, catalog.LatestKey(ref), &l); err == nil {
				mu.Lock()
				if n := len(versions); n == 0 || versions[n-1] != l.Version {
					if n > 0 && compareVersions(l.Version, versions[n-1]) < 0 {
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
