package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/store/storage/s3test"
)

// TestPublishesToS3 runs the China sales product against a real S3 server
// (versitygw): its orders are read from a prefix of a raw bucket holding two
// objects, and the product is published to another bucket. The published data,
// manifest and latest pointer are read back from S3 and checked; a second refresh
// publishes 1.1.0 and leaves every object of 1.0.0 as it was.
func TestPublishesToS3(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	srv.Bucket(t, "mesh-products")
	srv.Bucket(t, "raw-china")
	store, err := storage.Open(ctx, "s3://mesh-products/mesh", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := storage.Open(ctx, "s3://raw-china", srv.Config)
	if err != nil {
		t.Fatal(err)
	}

	// The orders, split in two CSV objects (each with the header) under one prefix.
	data, err := os.ReadFile(filepath.Join(meshtest.Example(t), "data", "sales-china", "orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(data), "\n"), "\n")
	header, body := lines[0], lines[1:]
	half := len(body) / 2
	for key, part := range map[string][]string{"raw/orders/2026-09.csv": body[:half], "raw/orders/2026-10.csv": body[half:]} {
		content := header + strings.Join(part, "")
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		if _, err := raw.Put(ctx, key, strings.NewReader(content), storage.PutOptions{ContentType: "text/csv"}); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}
	// An object of another format under the prefix is not an input.
	if _, err := raw.Put(ctx, "raw/orders/_SUCCESS", strings.NewReader(""), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	wantRows := distinctGroups(t, data)

	open := func(ctx context.Context, uri string) (storage.Store, string, error) {
		scheme, bucket, prefix, err := storage.ParseURI(uri)
		if err != nil {
			return nil, "", err
		}
		if scheme != "s3" {
			return nil, "", fmt.Errorf("%s: only s3:// inputs are opened as stores", uri)
		}
		st, err := storage.Open(ctx, "s3://"+bucket, srv.Config)
		return st, prefix, err
	}
	e := newEnv(t, store)
	const ref = "sales-china/regional-sales"
	in := struct{ Product refresh.Product }{e.product(ref)}
	if len(in.Product.Inputs) != 1 || in.Product.Inputs[0].Name != "orders" {
		t.Fatalf("%s: expected one input named orders, got %+v", ref, in.Product.Inputs)
	}
	in.Product.Inputs[0].URI = "s3://raw-china/raw/orders"
	e.startWorkers([]string{in.Product.TaskQueue}, open)

	run := e.startProduct(in.Product, "s3-1", "chen.jie")
	res, err := e.Result(run, 2*time.Minute)
	if err != nil || res.Stage != refresh.StagePublished || res.Version != "1.0.0" {
		t.Fatalf("first refresh: got %+v, %v; want published 1.0.0\n%s", res, err, e.Explain(run.GetID()))
	}

	// latest.json is in the products bucket, under the store's prefix, and names
	// the manifest of 1.0.0.
	var latest layout.Latest
	if _, err := catalog.ReadJSON(ctx, store, layout.LatestKey(ref), &latest); err != nil {
		t.Fatalf("read latest.json back from S3: %v", err)
	}
	if latest.Version != "1.0.0" || latest.ManifestKey != ref+"/v1.0.0/manifest.json" || latest.RunID != run.GetRunID() {
		t.Fatalf("latest.json: %+v", latest)
	}
	products, err := storage.Open(ctx, "s3://mesh-products", srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := products.Head(ctx, "mesh/"+layout.LatestKey(ref)); err != nil {
		t.Fatalf("latest.json is not at mesh/%s in the bucket: %v", layout.LatestKey(ref), err)
	}
	var m refresh.Manifest
	if _, err := catalog.ReadJSON(ctx, store, latest.ManifestKey, &m); err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	if m.Version != "1.0.0" || m.RunID != run.GetRunID() || m.Data.Key != ref+"/v1.0.0/data.parquet" {
		t.Fatalf("manifest: version %q run %q data %+v", m.Version, m.RunID, m.Data)
	}
	if got := sha(t, store, m.Data.Key); got != m.Data.SHA256 || got == "" {
		t.Errorf("data read back from S3 has SHA-256 %s, manifest says %s", got, m.Data.SHA256)
	}
	if got := sha(t, store, m.Report.Key); got != m.Report.SHA256 {
		t.Errorf("quality report read back from S3 has SHA-256 %s, manifest says %s", got, m.Report.SHA256)
	}
	q := m.Quality
	if q.RowsIn != q.RowsOut+q.Quarantined || q.RowsIn != wantRows {
		t.Errorf("rows in %d, out %d, quarantined %d; want %d in = out + quarantined", q.RowsIn, q.RowsOut, q.Quarantined, wantRows)
	}
	if len(m.Inputs) != 1 || m.Inputs[0].Source != "s3://raw-china/raw/orders" || len(m.Inputs[0].Objects) != 2 {
		t.Fatalf("staged inputs: %+v; want orders from s3://raw-china/raw/orders as 2 objects", m.Inputs)
	}
	var stagedBytes int64
	for _, o := range m.Inputs[0].Objects {
		if !strings.HasPrefix(o.Key, "_staging/") || len(o.SHA256) != 64 || o.Size == 0 {
			t.Errorf("staged input object without a staged key, size or checksum: %+v", o)
		}
		stagedBytes += o.Size
	}
	if want := int64(len(data)) + int64(len(header)); stagedBytes != want {
		t.Errorf("staged inputs hold %d bytes, the two uploaded objects %d", stagedBytes, want)
	}
	noStaging(t, store)

	// Everything 1.0.0 published, with the SHA-256 of its content.
	before := objectSums(t, store, ref+"/v1.0.0/")
	if len(before) < 3 {
		t.Fatalf("1.0.0 has %d objects, want at least manifest, data and quality report: %v", len(before), before)
	}

	// A late order arrives as a third object: the next refresh computes other
	// rows and publishes them (the same rows would end unchanged).
	if _, err := raw.Put(ctx, "raw/orders/2026-11.csv", strings.NewReader(header+body[0]), storage.PutOptions{ContentType: "text/csv"}); err != nil {
		t.Fatalf("upload the late order: %v", err)
	}
	run2 := e.startProduct(in.Product, "s3-2", "chen.jie")
	res, err = e.Result(run2, 2*time.Minute)
	if err != nil || res.Stage != refresh.StagePublished || res.Version != "1.1.0" {
		t.Fatalf("second refresh: got %+v, %v; want published 1.1.0\n%s", res, err, e.Explain(run2.GetID()))
	}
	entry, err := catalog.Show(ctx, store, ref)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(entry.Versions, ",") != "1.0.0,1.1.0" || entry.Latest.Version != "1.1.0" || entry.Latest.RunID != run2.GetRunID() {
		t.Fatalf("after the second refresh: versions %v, latest %s by run %s", entry.Versions, entry.Latest.Version, entry.Latest.RunID)
	}
	if got := sha(t, store, entry.Latest.Data.Key); got != entry.Latest.Data.SHA256 {
		t.Errorf("1.1.0 data has SHA-256 %s, manifest says %s", got, entry.Latest.Data.SHA256)
	}
	after := objectSums(t, store, ref+"/v1.0.0/")
	if len(after) != len(before) {
		t.Errorf("1.0.0 had %d objects, now %d", len(before), len(after))
	}
	for k, s := range before {
		if after[k] != s {
			t.Errorf("%s of 1.0.0 changed: SHA-256 %s, was %s", k, after[k], s)
		}
	}
	noStaging(t, store)
}

// distinctGroups counts the (order_date, city, sku) groups of the orders CSV: the
// rows the China product's SQL makes.
func distinctGroups(t *testing.T, data []byte) int64 {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("read orders CSV: %v (%d records)", err, len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	groups := map[string]bool{}
	for _, r := range recs[1:] {
		groups[r[col["order_date"]]+"|"+r[col["city"]]+"|"+r[col["sku"]]] = true
	}
	return int64(len(groups))
}

// noStaging fails the test when objects are left under _staging/.
func noStaging(t *testing.T, st storage.Store) {
	t.Helper()
	objs, err := st.List(t.Context(), "_staging/")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Errorf("%d staging objects left, e.g. %s", len(objs), objs[0].Key)
	}
}

// objectSums returns the SHA-256, read back, of every object under prefix.
func objectSums(t *testing.T, st storage.Store, prefix string) map[string]string {
	t.Helper()
	objs, err := st.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	sums := map[string]string{}
	for _, o := range objs {
		sums[o.Key] = sha(t, st, o.Key)
	}
	return sums
}
