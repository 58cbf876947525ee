package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
)

func newStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var at = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func grant(id, product, principal string) access.Grant {
	return access.Grant{ID: id, Product: product, Principal: principal, Purpose: "kpi review", GrantedBy: "maria.rossi",
		GrantedAt: at, ExpiresAt: at.Add(24 * time.Hour), WorkflowID: "access/" + product + "/" + principal + "/1"}
}

// proven publishes a mesh revision in which maria.rossi approves access to
// every product of grants, and signs each grant's approval as serve would.
func proven(t *testing.T, st storage.Store, grants ...access.Grant) []access.Grant {
	t.Helper()
	m := meshrevtest.New(t, st)
	rev := meshrev.Revision{Products: map[string]refresh.Product{}, AccessApprovers: map[string][]string{}}
	for _, g := range grants {
		rev.AccessApprovers[g.Product] = []string{"maria.rossi"}
	}
	id := m.Publish(t, rev)
	out := make([]access.Grant, len(grants))
	for i, g := range grants {
		g.Revision = id
		_, proof := m.Signer.Sign(g.Statement(), at)
		g.Proof = &proof
		out[i] = g
	}
	return out
}

// TestForgedGrantsAllowNothing writes grant files the way someone with write
// access to the store would: without a signed approval, approved by someone
// who may not approve, or with a longer expiry than the one approved.
func TestForgedGrantsAllowNothing(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	real := proven(t, st, grant("g0", "finance/global-kpis", "chen.jie"))[0]
	unsigned := grant("g1", "finance/global-kpis", "tom.baker")
	stranger := real
	stranger.ID, stranger.Principal, stranger.GrantedBy = "g2", "li.wei", "li.wei"
	longer := real
	longer.ID, longer.Principal, longer.ExpiresAt = "g3", "omar.haddad", at.Add(365*24*time.Hour)
	other := real
	other.ID, other.Principal = "g4", "anna.schmidt"
	for _, g := range []access.Grant{real, unsigned, stranger, longer, other} {
		if _, err := Record(ctx, st, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := Check(ctx, st, "chen.jie", "finance/global-kpis", at.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("the proven grant: %t, %v", ok, err)
	}
	for _, who := range []string{"tom.baker", "li.wei", "omar.haddad"} {
		if _, ok, err := Check(ctx, st, who, "finance/global-kpis", at.Add(time.Hour)); err != nil || ok {
			t.Errorf("a forged grant lets %s read: %t, %v", who, ok, err)
		}
	}
	// The proof covers the workflow it was made in, not the grantee alone: a
	// copy for another principal under the same request is refused too.
	if err := meshrev.VerifyGrant(ctx, st, other); err == nil {
		t.Errorf("a copy of a grant for another principal verifies")
	}
	// Nor can a grant be moved to another time with its proof.
	moved := real
	moved.GrantedAt, moved.ExpiresAt = moved.GrantedAt.Add(365*24*time.Hour), moved.ExpiresAt.Add(365*24*time.Hour)
	if err := meshrev.VerifyGrant(ctx, st, moved); err == nil || !strings.Contains(err.Error(), "granted at") {
		t.Errorf("a grant moved a year on: %v", err)
	}
}

func TestRecordCheckRevoke(t *testing.T) {
	ctx := t.Context()
	st := newStore(t)
	proved := proven(t, st, grant("g1", "finance/global-kpis", "chen.jie"), grant("g2", "sales-china/regional-sales", "chen.jie"))
	g := proved[0]
	if _, err := Record(ctx, st, g); err != nil {
		t.Fatal(err)
	}
	// A retried record is harmless; another grant under the same ID is refused.
	if _, err := Record(ctx, st, g); err != nil {
		t.Fatalf("retried record: %v", err)
	}
	other := grant("g1", "finance/global-kpis", "tom.baker")
	if _, err := Record(ctx, st, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting record: got %v, want ErrConflict", err)
	}
	if _, err := Record(ctx, st, proved[1]); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		principal, product string
		now                time.Time
		want               bool
	}{
		{"chen.jie", "finance/global-kpis", at.Add(time.Hour), true},
		{"tom.baker", "finance/global-kpis", at.Add(time.Hour), false},
		{"chen.jie", "finance/fx-rates", at.Add(time.Hour), false},
		{"chen.jie", "finance/global-kpis", at.Add(24 * time.Hour), false}, // expired
		{"chen.jie", "finance/global-kpis", at.Add(-time.Hour), false},     // not yet
	} {
		got, ok, err := Check(ctx, st, tc.principal, tc.product, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want || (ok && got.ID != "g1") {
			t.Errorf("Check(%s, %s, %s) = %s %t, want %t", tc.principal, tc.product, tc.now, got.ID, ok, tc.want)
		}
	}

	all, err := List(ctx, st, "")
	if err != nil || len(all) != 2 || all[0].ID != "g1" || all[1].ID != "g2" {
		t.Fatalf("List all: %+v, %v", all, err)
	}
	some, err := List(ctx, st, "sales-china/regional-sales")
	if err != nil || len(some) != 1 || some[0].ID != "g2" {
		t.Fatalf("List one product: %+v, %v", some, err)
	}
	if f, err := Find(ctx, st, "g2"); err != nil || f.Product != "sales-china/regional-sales" {
		t.Fatalf("Find: %+v, %v", f, err)
	}
	if _, err := Find(ctx, st, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Find missing: %v", err)
	}

	r, err := Revoke(ctx, st, g.Product, g.ID, "maria.rossi", "project ended", at.Add(2*time.Hour))
	if err != nil || r.RevokedBy != "maria.rossi" || !r.RevokedAt.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("Revoke: %+v, %v", r, err)
	}
	// A second revocation keeps the first.
	r, err = Revoke(ctx, st, g.Product, g.ID, "meshflow", "expired", at.Add(24*time.Hour))
	if err != nil || r.RevokedBy != "maria.rossi" || r.Reason != "project ended" {
		t.Fatalf("second Revoke: %+v, %v", r, err)
	}
	if _, ok, _ := Check(ctx, st, "chen.jie", "finance/global-kpis", at.Add(3*time.Hour)); ok {
		t.Fatal("revoked grant still allows reading")
	}
	if _, err := Revoke(ctx, st, g.Product, "missing", "x", "", at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoke missing grant: %v", err)
	}
}

func TestRecordRefusesBadGrants(t *testing.T) {
	st := newStore(t)
	for name, g := range map[string]access.Grant{
		"slash in ID":  grant("a/b", "finance/global-kpis", "x"),
		"no principal": grant("g", "finance/global-kpis", ""),
		"bad product":  grant("g", "global-kpis", "x"),
		"no expiry":    {ID: "g", Product: "finance/global-kpis", Principal: "x", GrantedAt: at},
	} {
		if _, err := Record(t.Context(), st, g); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if all, _ := List(t.Context(), st, ""); len(all) != 0 {
		t.Fatalf("bad grants were written: %+v", all)
	}
}

// racingStore changes the grant between Revoke's read and its write once.
type racingStore struct {
	storage.Store
	raced atomic.Bool
}

func (s *racingStore) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if opts.IfMatch != "" && s.raced.CompareAndSwap(false, true) {
		g := grant("g1", "finance/global-kpis", "chen.jie")
		g.Purpose = "changed meanwhile"
		if _, err := s.Store.Put(ctx, key, bytes.NewReader(mustJSON(g)), storage.PutOptions{}); err != nil {
			return storage.Object{}, err
		}
	}
	return s.Store.Put(ctx, key, r, opts)
}

func TestRevokeRetriesAfterConcurrentChange(t *testing.T) {
	st := &racingStore{Store: newStore(t)}
	if _, err := Record(t.Context(), st, grant("g1", "finance/global-kpis", "chen.jie")); err != nil {
		t.Fatal(err)
	}
	g, err := Revoke(t.Context(), st, "finance/global-kpis", "g1", "li.wei", "", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !st.raced.Load() || g.Purpose != "changed meanwhile" || g.RevokedBy != "li.wei" {
		t.Fatalf("revocation lost the concurrent change or did not race: %+v", g)
	}
}

func mustJSON(g access.Grant) []byte {
	b, err := json.Marshal(g)
	if err != nil {
		panic(err)
	}
	return b
}
