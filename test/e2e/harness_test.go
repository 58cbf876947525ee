package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/worker"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// exampleMesh is the sample mesh the product ships.
var exampleMesh = filepath.Join("..", "..", "examples", "mesh")

// env is a Temporal server with meshflow workers on every queue of a mesh.
type env struct {
	t     *testing.T
	addr  string
	tc    client.Client
	ctl   *control.Client
	store storage.Store
	set   *spec.Set
	// mesh publishes revisions with the key ctl signs with; rev is the
	// revision of the example mesh, applied by newEnv.
	mesh *meshrevtest.Mesh
	rev  meshrev.Revision
}

func searchAttributes() map[string]enumspb.IndexedValueType {
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range refresh.SearchAttributes {
		attrs[a] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}

// newEnv starts a server and loads the example mesh; workers are started
// separately so that tests can control them.
func newEnv(t *testing.T, store storage.Store) *env {
	t.Helper()
	srv, tc := devservertest.Start(t, searchAttributes())
	res := meshcheck.Check(t.Context(), exampleMesh)
	if res.Diagnostics.HasErrors() {
		t.Fatalf("example mesh does not validate: %v", res.Diagnostics.Err())
	}
	m := meshrevtest.New(t, store)
	rev, _ := m.Apply(t, res.Set, nil)
	return &env{t: t, addr: srv.FrontendAddress(), tc: tc, ctl: &control.Client{Temporal: tc, Namespace: srv.Namespace(), Signer: m.Signer},
		store: store, set: res.Set, mesh: m, rev: rev}
}

// product returns a product of the example mesh as its revision holds it, for
// a test to edit and run with startProduct.
func (e *env) product(ref string) refresh.Product {
	e.t.Helper()
	p, ok := e.rev.Products[ref]
	if !ok {
		e.t.Fatalf("no product %s", ref)
	}
	p.Inputs = slices.Clone(p.Inputs)
	return p
}

// startProduct applies a revision in which p replaces its product of the
// example mesh (or a revision of p alone), and starts a refresh of p from it, requested by
// submitter through a signed request.
func (e *env) startProduct(p refresh.Product, suffix, submitter string) client.WorkflowRun {
	e.t.Helper()
	var id string
	if _, ok := e.rev.Products[p.Ref()]; ok {
		_, id = e.mesh.Apply(e.t, e.set, func(rev *meshrev.Revision) { rev.Products[p.Ref()] = p })
	} else {
		// A product of the test's own: a revision of it alone, without the
		// example mesh's policies.
		id = e.mesh.Products(e.t, p)
	}
	run, err := e.ctl.Start(e.t.Context(), control.Refresh{Ref: p.Ref(), TaskQueue: p.TaskQueue, Revision: id,
		Principal: submitter, Reason: "e2e", Suffix: suffix})
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

func (e *env) queues() []string {
	var qs []string
	for _, d := range e.set.Mesh.Domains {
		qs = append(qs, d.Queue())
	}
	return qs
}

// startWorkers starts in-process workers for queues, stopped when the test ends.
func (e *env) startWorkers(queues []string, open func(context.Context, string) (storage.Store, string, error)) {
	e.t.Helper()
	acts := &activities.Activities{Store: e.store, Open: open, Scratch: e.t.TempDir(), Threads: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, q := range queues {
		w := worker.New(e.tc, q, acts, worker.Options{Identity: "e2e-" + q})
		if err := w.Start(); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(w.Stop)
	}
}

// start starts a refresh of a product of the mesh.
func (e *env) start(ref, suffix, submitter string) client.WorkflowRun {
	e.t.Helper()
	p := e.set.Product(ref)
	if p == nil {
		e.t.Fatalf("no product %s", ref)
	}
	run, err := e.ctl.Start(e.t.Context(), control.Refresh{Ref: ref, TaskQueue: e.set.Domain(p.Metadata.Domain).Queue(),
		Principal: submitter, Reason: "e2e", Suffix: suffix})
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

// waitFor polls cond every 100ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// sha returns the SHA-256 of an object, read back from the store.
func sha(t *testing.T, st storage.Store, key string) string {
	t.Helper()
	r, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
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
