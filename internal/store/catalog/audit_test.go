package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// auditFixture publishes versions 1.0.0 → 1.1.0 → 2.0.0 of sales/orders, each
// with its objects and a manifest recording their checksums, and 1.2.0 as a
// lost claim; 2.0.0 was approved by two stewards.
func auditFixture(t *testing.T) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := "sales/orders"
	obj := func(key, content string) refresh.ObjectRef {
		if _, err := st.Put(t.Context(), key, strings.NewReader(content), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		return refresh.ObjectRef{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
	}
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i, v := range []struct{ version, previous string }{{"1.0.0", ""}, {"1.1.0", "1.0.0"}, {"2.0.0", "1.1.0"}, {"1.2.0", "1.1.0"}} {
		vp := layout.VersionPrefix(ref, v.version)
		c := obj(path.Join(vp, "contract.odcs.yaml"), "apiVersion: v3.1.0\n")
		m := refresh.Manifest{Product: ref, Version: v.version, Previous: v.previous, RunID: "run-" + v.version,
			PublishedAt: at.Add(time.Duration(i) * time.Hour),
			Data:        obj(path.Join(vp, "data.parquet"), "rows of "+v.version),
			Report:      obj(path.Join(vp, "quality.json"), "{}"), Contract: &c}
		if v.version == "2.0.0" {
			m.Approvals = []refresh.Approval{
				{Principal: "ana", Decision: refresh.Approve, ManifestHash: "abc", At: m.PublishedAt},
				{Principal: "li", Decision: refresh.Approve, ManifestHash: "abc", At: m.PublishedAt},
			}
		}
		put(t, st, path.Join(vp, "manifest.json"), m)
	}
	put(t, st, layout.LatestKey(ref), layout.Latest{Version: "2.0.0", ManifestKey: layout.VersionPrefix(ref, "2.0.0") + "/manifest.json", RunID: "run-2.0.0"})
	return st
}

func TestAuditOfAConsistentStore(t *testing.T) {
	st := auditFixture(t)
	all, err := AuditAll(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("audited %d products, want 1", len(all))
	}
	a := all[0]
	if !a.OK() {
		t.Fatalf("problems in a consistent store: %v", a.Problems)
	}
	if !slices.Equal(a.Versions, []string{"1.0.0", "1.1.0", "2.0.0"}) || !slices.Equal(a.Unreachable, []string{"1.2.0"}) {
		t.Fatalf("versions %v, unreachable %v; want 1.0.0 1.1.0 2.0.0 and the lost claim 1.2.0", a.Versions, a.Unreachable)
	}
}

// TestAuditFindsEachBrokenGuarantee breaks the fixture in one way at a time and
// expects the audit to name it.
func TestAuditFindsEachBrokenGuarantee(t *testing.T) {
	ref := "sales/orders"
	v := func(version, name string) string { return path.Join(layout.VersionPrefix(ref, version), name) }
	write := func(t *testing.T, st storage.Store, key, content string) {
		if _, err := st.Put(t.Context(), key, strings.NewReader(content), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(t *testing.T, st storage.Store, version string, f func(*refresh.Manifest)) {
		var m refresh.Manifest
		if _, err := ReadJSON(t.Context(), st, v(version, "manifest.json"), &m); err != nil {
			t.Fatal(err)
		}
		f(&m)
		put(t, st, v(version, "manifest.json"), m)
	}
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, st storage.Store)
		want    string
	}{
		{"corrupt data", func(t *testing.T, st storage.Store) { write(t, st, v("1.1.0", "data.parquet"), "rows of 1.1.X") },
			"sales/orders: version 1.1.0: data.parquet holds 13 bytes with SHA-256"},
		{"missing report", func(t *testing.T, st storage.Store) { _ = st.Delete(t.Context(), v("1.0.0", "quality.json")) },
			"sales/orders: version 1.0.0: quality.json is in the manifest but not in the store"},
		{"extra object", func(t *testing.T, st storage.Store) { write(t, st, v("2.0.0", "data-copy.parquet"), "x") },
			"sales/orders: version 2.0.0 holds data-copy.parquet, which its manifest does not name"},
		{"run published twice", func(t *testing.T, st storage.Store) {
			edit(t, st, "1.1.0", func(m *refresh.Manifest) { m.RunID = "run-1.0.0" })
		}, "sales/orders: run run-1.0.0 published twice: versions 1.0.0 and 1.1.0"},
		{"version moved back", func(t *testing.T, st storage.Store) {
			edit(t, st, "1.1.0", func(m *refresh.Manifest) { m.Previous = "2.0.0" })
		}, "sales/orders: version 1.1.0 follows version 2.0.0: versions must only move forward"},
		{"time moved back", func(t *testing.T, st storage.Store) {
			edit(t, st, "2.0.0", func(m *refresh.Manifest) { m.PublishedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) })
		}, "sales/orders: version 2.0.0 was published at 2020-01-01 00:00:00 +0000 UTC, before version 1.1.0"},
		{"latest names another run", func(t *testing.T, st storage.Store) {
			put(t, st, layout.LatestKey(ref), layout.Latest{Version: "2.0.0", ManifestKey: v("2.0.0", "manifest.json"), RunID: "run-x"})
		}, "sales/orders: the latest pointer names run run-x, the manifest of version 2.0.0 run run-2.0.0"},
		{"latest names a missing version", func(t *testing.T, st storage.Store) {
			put(t, st, layout.LatestKey(ref), layout.Latest{Version: "3.0.0", ManifestKey: v("3.0.0", "manifest.json"), RunID: "run-3.0.0"})
		}, "sales/orders: version 3.0.0 is in the chain from the latest pointer but has no manifest"},
		{"a rejection recorded as approval", func(t *testing.T, st storage.Store) {
			edit(t, st, "2.0.0", func(m *refresh.Manifest) { m.Approvals[1].Decision = "reject" })
		}, `sales/orders: version 2.0.0 records a "reject" decision by li`},
		{"approvals of different manifests", func(t *testing.T, st storage.Store) {
			edit(t, st, "2.0.0", func(m *refresh.Manifest) { m.Approvals[1].ManifestHash = "def" })
		}, "sales/orders: version 2.0.0 records approvals of different manifests: abc and def"},
		{"stray object", func(t *testing.T, st storage.Store) { write(t, st, "sales/orders/notes.txt", "hi") },
			"sales/orders: unexpected object sales/orders/notes.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := auditFixture(t)
			tc.breakIt(t, st)
			a, err := AuditProduct(t.Context(), st, ref)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range a.Problems {
				found = found || strings.HasPrefix(p, tc.want)
			}
			if !found {
				t.Fatalf("problems %q; want one starting %q", a.Problems, tc.want)
			}
		})
	}
}

func TestAuditCountsStagingObjects(t *testing.T) {
	st := auditFixture(t)
	if _, err := st.Put(t.Context(), "_staging/sales/orders/run-9/data.parquet", bytes.NewReader([]byte("x")), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := AuditProduct(t.Context(), st, "sales/orders")
	if err != nil || a.Staging != 1 || !a.OK() {
		t.Fatalf("staging %d, problems %v, err %v; want 1 staging object and no problem", a.Staging, a.Problems, err)
	}
}
