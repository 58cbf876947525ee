package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// TestCatalogAudit: the audit passes on a store whose objects match their
// manifest and fails, naming the object, once a published byte changes.
func TestCatalogAudit(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := "sales/orders"
	vp := catalog.VersionPrefix(ref, "1.0.0")
	m := refresh.Manifest{Product: ref, Version: "1.0.0", RunID: "r1"}
	for name, dst := range map[string]*refresh.ObjectRef{"data.parquet": &m.Data, "quality.json": &m.Report} {
		obj, err := st.Put(ctx, filepath.ToSlash(filepath.Join(vp, name)), strings.NewReader("content of "+name), storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		*dst = refresh.ObjectRef{Key: obj.Key, SHA256: obj.SHA256, Size: obj.Size}
	}
	c, err := st.Put(ctx, vp+"/contract.odcs.yaml", strings.NewReader("apiVersion: v3.1.0\n"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Contract = &refresh.ObjectRef{Key: c.Key, SHA256: c.SHA256, Size: c.Size}
	putJSON := func(key string, v any) {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(v); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, key, &b, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	putJSON(vp+"/manifest.json", m)
	putJSON(catalog.LatestKey(ref), catalog.Latest{Version: "1.0.0", ManifestKey: vp + "/manifest.json", RunID: "r1"})

	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"catalog", "audit", "--store", dir}, &out, &errOut); err != nil {
		t.Fatalf("audit of a consistent store: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "ok      sales/orders: 1 committed version(s) 1.0.0") {
		t.Fatalf("audit output:\n%s", out.String())
	}

	if _, err := st.Put(ctx, vp+"/data.parquet", strings.NewReader("content of data.parqueT"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(ctx, []string{"catalog", "audit", "--store", dir, ref}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "broken guarantees in 1 of 1") {
		t.Fatalf("audit of a corrupt store: err %v, want broken guarantees", err)
	}
	if !strings.Contains(out.String(), "problem: sales/orders: version 1.0.0: data.parquet holds 23 bytes with SHA-256") {
		t.Fatalf("audit output does not name the corrupt object:\n%s", out.String())
	}
}
