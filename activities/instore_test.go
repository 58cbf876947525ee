package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TestInputsMayNotReadTheStore: an input URI inside the mesh's own store (other
// products' versions, grants, revisions, staging) is refused, however it is
// spelled; data beside the store is not.
func TestInputsMayNotReadTheStore(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir + "/objects")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir+"/raw", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir+"/objects", dir+"/raw/linked"); err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st}
	for uri, want := range map[string]bool{
		"file://" + dir + "/objects":                                   true,
		"file://" + dir + "/objects/sales-emea/regional-sales/v1.0.0/": true,
		"file://" + dir + "/raw/../objects/_grants/x.json":             true,
		"file://" + dir + "//objects/_mesh/current.json":               true,
		"file://" + dir + "/raw/linked/_grants/x.json":                 true, // a symbolic link into the store
		"file://" + dir: true, // a folder that holds the store
		"file://" + dir + "/objects-raw/orders.csv": false,
		"file://" + dir + "/raw/orders.csv":         false,
		"s3://raw-china/orders/":                    false,
		"s3://%zz/":                                 true, // fails closed
	} {
		if got := a.inStore(uri); got != want {
			t.Errorf("inStore(%q) = %v, want %v", uri, got, want)
		}
	}
}

// TestInputsMayNotReadAnS3StoreHoweverSpelled: with the store in S3, an input
// URI that spells the store's prefix with percent escapes or an upper-case
// scheme, or that names the bucket above the store, is refused, as is every
// spelling that the S3 reader would decode into the store; other buckets and
// prefixes beside the store are not.
func TestInputsMayNotReadAnS3StoreHoweverSpelled(t *testing.T) {
	a := &Activities{Store: uriStore{Store: nil, root: "s3://mesh-products/mesh"}}
	for uri, want := range map[string]bool{
		"s3://mesh-products/mesh/other/secret/v1.0.0/data.parquet":   true,
		"s3://mesh-products/m%65sh/other/secret/v1.0.0/data.parquet": true,
		"s3://mesh-products/mesh%2Fother/secret/":                    true,
		"S3://mesh-products/mesh/_grants/":                           true,
		"s3://mesh-products/":                                        true, // lists the store
		"s3://mesh-products/me":                                      true, // lists "mesh/…" by prefix
		"s3://mesh-products/mesh-raw/orders.csv":                     false,
		"s3://raw-china/mesh/orders.csv":                             false,
	} {
		if got := a.inStore(uri); got != want {
			t.Errorf("inStore(%q) = %v, want %v", uri, got, want)
		}
	}
}

// uriStore is a store that names itself root: an S3 store's spelling over
// a local folder, for checks that compare URIs.
type uriStore struct {
	storage.Store
	root string
}

func (s uriStore) URI(key string) string {
	if key == "" {
		return s.root
	}
	return s.root + "/" + key
}

// TestCraftedInputURIsCannotIngestTheStore runs Ingest over crafted product
// specs whose inputs spell the store's location another way (percent escapes,
// an upper-case scheme, the bucket above the store, a folder that holds a
// local store, a local store's folder with a space, a symbolic link into the
// store): each is refused as unauthorized before anything is staged.
func TestCraftedInputURIsCannotIngestTheStore(t *testing.T) {
	dir := t.TempDir()
	local, err := storage.OpenLocal(filepath.Join(dir, "my store"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "other/secret/v1.0.0/data.csv"
	if _, err := local.Put(t.Context(), secret, strings.NewReader("id\n1\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "my store", filepath.FromSlash(secret)), filepath.Join(dir, "orders.csv")); err != nil {
		t.Fatal(err)
	}
	// The S3 store's bucket, as an S3 client would read it: the local store
	// holds the keys below the store's prefix "mesh".
	open := func(_ context.Context, uri string) (storage.Store, string, error) {
		_, bucket, key, err := storage.ParseURI(uri)
		if err != nil || bucket != "mesh-products" {
			return nil, "", errors.New("no such bucket")
		}
		if key == "mesh" || key == "" {
			return local, "", nil
		}
		if rest, ok := strings.CutPrefix(key, "mesh/"); ok {
			return local, rest, nil
		}
		return local, key, nil
	}
	s3 := &Activities{Store: uriStore{Store: local, root: "s3://mesh-products/mesh"}, Open: open, Scratch: t.TempDir(), Threads: 1}
	onDisk := &Activities{Store: local, Scratch: t.TempDir(), Threads: 1}
	for _, c := range []struct {
		name string
		a    *Activities
		uri  string
	}{
		{"percent-escaped prefix", s3, "s3://mesh-products/m%65sh/" + secret},
		{"upper-case scheme", s3, "S3://mesh-products/mesh/" + secret},
		{"the bucket above the store", s3, "s3://mesh-products/"},
		{"a folder that holds the store", onDisk, "file://" + filepath.ToSlash(dir)},
		{"the store's folder as written", onDisk, "file://" + filepath.ToSlash(filepath.Join(dir, "my store", secret))},
		{"a symbolic link into the store", onDisk, "file://" + filepath.ToSlash(filepath.Join(dir, "orders.csv"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := applyProducts(t, local, refresh.Product{Domain: "sec", Name: "thief", SQL: "SELECT * FROM orders",
				Inputs: []refresh.Input{{Name: "orders", URI: c.uri, Format: refresh.FormatCSV}}})[0]
			runAs(c.a, "run-1")
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(c.a.Ingest)
			_, err := env.ExecuteActivity(c.a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"})
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized {
				t.Fatalf("Ingest of %s: %v; want %s", c.uri, err, refresh.ErrUnauthorized)
			}
			objs, err := local.List(t.Context(), "_staging/")
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
			if len(objs) > 0 {
				t.Fatalf("the refused input staged %s", objs[0].Key)
			}
		})
	}
}
