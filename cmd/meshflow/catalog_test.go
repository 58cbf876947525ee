package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
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
	data := "content of data.parquet"
	m := publishtest.Publish(t, st, publishtest.Version{Ref: ref, Data: []byte(data), Contract: "apiVersion: v3.1.0\n"})

	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"catalog", "audit", "--store", dir}, &out, &errOut); err != nil {
		t.Fatalf("audit of a consistent store: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "ok      sales/orders: 1 committed version(s) 1.0.0") {
		t.Fatalf("audit output:\n%s", out.String())
	}

	if _, err := st.Put(ctx, m.Data.Key, strings.NewReader("content of data.parqueT"), storage.PutOptions{}); err != nil {
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
