// Package meshrevtest publishes mesh revisions for tests: a signing key that
// stands in for meshflow serve's, and revisions of a loaded mesh or of
// hand-made products, published to a store the way meshflow apply does.
package meshrevtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/sdk/client"
)

// AppliedBy is the principal the test revisions are applied by.
const AppliedBy = "test-apply"

// Mesh is a signing key and the store revisions are published to.
// Publish may be called from several goroutines.
type Mesh struct {
	Signer *signing.Signer
	Store  storage.Store
	mu     sync.Mutex
}

// New makes a fresh signing key for revisions published to st.
func New(t testing.TB, st storage.Store) *Mesh {
	t.Helper()
	s, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return &Mesh{Signer: s, Store: st}
}

// Publish makes rev the current revision, with the key and AppliedBy filled
// in, and returns its ID.
func (m *Mesh) Publish(t testing.TB, rev meshrev.Revision) string {
	t.Helper()
	rev.Format = meshrev.Format
	rev.Keys = []signing.PublicKey{m.Signer.PublicKey()}
	if rev.AppliedBy == "" {
		rev.AppliedBy = AppliedBy
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := meshrev.Publish(context.Background(), m.Store, rev, time.Now())
	if err != nil {
		t.Fatalf("publish a mesh revision: %v", err)
	}
	return p.ID
}

// Apply publishes a loaded mesh as the current revision and returns the
// revision and its ID; edit, when not nil, changes the revision first.
func (m *Mesh) Apply(t testing.TB, set *spec.Set, edit func(*meshrev.Revision)) (meshrev.Revision, string) {
	t.Helper()
	rev, err := meshrev.Build(set, AppliedBy, []signing.PublicKey{m.Signer.PublicKey()})
	if err != nil {
		t.Fatalf("build a mesh revision: %v", err)
	}
	if edit != nil {
		edit(&rev)
	}
	return rev, m.Publish(t, rev)
}

// Products publishes a revision that holds just the given products (each of
// them approvable for access by its stewards) and returns its ID.
func (m *Mesh) Products(t testing.TB, products ...refresh.Product) string {
	t.Helper()
	rev := meshrev.Revision{Products: map[string]refresh.Product{}, AccessApprovers: map[string][]string{}}
	for _, p := range products {
		rev.Products[p.Ref()] = p
		rev.AccessApprovers[p.Ref()] = p.Governance.Stewards
	}
	return m.Publish(t, rev)
}

// Start publishes a revision holding p and starts a refresh of it from that
// revision, requested by submitter and signed with the Mesh's key.
func (m *Mesh) Start(t testing.TB, c *control.Client, p refresh.Product, suffix, submitter, reason string) (client.WorkflowRun, error) {
	t.Helper()
	id := m.Products(t, p)
	return c.Start(context.Background(), control.Refresh{Ref: p.Ref(), TaskQueue: p.TaskQueue, Revision: id,
		Principal: submitter, Reason: reason, Suffix: suffix})
}
