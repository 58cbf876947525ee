package activities

import (
	"testing"

	"github.com/meshflow/meshflow/internal/store/storage"
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
	a := &Activities{Store: st}
	for uri, want := range map[string]bool{
		"file://" + dir + "/objects":                                   true,
		"file://" + dir + "/objects/sales-emea/regional-sales/v1.0.0/": true,
		"file://" + dir + "/raw/../objects/_grants/x.json":             true,
		"file://" + dir + "//objects/_mesh/current.json":               true,
		"file://" + dir + "/objects-raw/orders.csv":                    false,
		"file://" + dir + "/raw/orders.csv":                            false,
		"s3://raw-china/orders/":                                       false,
	} {
		if got := a.inStore(uri); got != want {
			t.Errorf("inStore(%q) = %v, want %v", uri, got, want)
		}
	}
}
