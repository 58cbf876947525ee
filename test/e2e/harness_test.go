package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
)

// env is the shared harness with the example mesh applied: its loaded set and
// the revision newEnv published from it.
type env struct {
	*harness.Env
	set *spec.Set
	rev meshrev.Revision
}

// newEnv starts a server and applies the example mesh; workers are started
// separately so that tests can control them.
func newEnv(t *testing.T, store storage.Store) *env {
	t.Helper()
	h := harness.New(t, "e2e", store)
	set := harness.CheckMesh(t, meshtest.Example(t))
	rev, _ := h.Mesh.Apply(t, set, nil)
	return &env{Env: h, set: set, rev: rev}
}

// product returns a product of the example mesh as its revision holds it, for
// a test to edit and run with startProduct.
func (e *env) product(ref string) refresh.Product {
	e.T.Helper()
	p, ok := e.rev.Products[ref]
	if !ok {
		e.T.Fatalf("no product %s", ref)
	}
	p.Inputs = slices.Clone(p.Inputs)
	return p
}

// startProduct applies a revision in which p replaces its product of the
// example mesh (or a revision of p alone), and starts a refresh of p from it, requested by
// submitter through a signed request.
func (e *env) startProduct(p refresh.Product, suffix, submitter string) client.WorkflowRun {
	e.T.Helper()
	if _, ok := e.rev.Products[p.Ref()]; !ok {
		// A product of the test's own: a revision of it alone, without the
		// example mesh's policies.
		return e.Start(p, suffix, submitter)
	}
	_, id := e.Mesh.Apply(e.T, e.set, func(rev *meshrev.Revision) { rev.Products[p.Ref()] = p })
	run, err := e.Control.Start(e.T.Context(), control.Refresh{Ref: p.Ref(), TaskQueue: p.TaskQueue, Revision: id,
		Principal: submitter, Reason: e.Name, Suffix: suffix})
	if err != nil {
		e.T.Fatal(err)
	}
	return run
}

// startWorkers starts in-process workers for queues, stopped when the test
// ends; open, when not nil, opens the stores of input URIs.
func (e *env) startWorkers(queues []string, open func(context.Context, string) (storage.Store, string, error)) {
	e.T.Helper()
	e.StartWorkers(queues, harness.WorkerOptions{Open: open, Threads: 2})
}

// startRef starts a refresh of a product of the mesh from the current revision.
func (e *env) startRef(ref, suffix, submitter string) client.WorkflowRun {
	e.T.Helper()
	p := e.set.Product(ref)
	if p == nil {
		e.T.Fatalf("no product %s", ref)
	}
	run, err := e.Control.Start(e.T.Context(), control.Refresh{Ref: ref, TaskQueue: e.set.Domain(p.Metadata.Domain).Queue(),
		Principal: submitter, Reason: e.Name, Suffix: suffix})
	if err != nil {
		e.T.Fatal(err)
	}
	return run
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
