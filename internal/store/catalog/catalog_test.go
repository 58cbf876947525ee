package catalog

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

func put(t *testing.T, st storage.Store, key string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := st.Put(t.Context(), key, bytes.NewReader(b), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestShowListsOnlyCommittedVersions: a version claimed by a run that lost the race
// for latest.json is never shown, nor is anything under _staging.
func TestShowListsOnlyCommittedVersions(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := "sales/orders"
	for _, m := range []refresh.Manifest{
		{Product: ref, Version: "1.0.0"},
		{Product: ref, Version: "1.1.0", Previous: "1.0.0"},
		{Product: ref, Version: "2.0.0", Previous: "1.0.0"}, // claimed, lost to 1.1.0
		{Product: ref, Version: "1.2.0", Previous: "1.1.0"},
	} {
		put(t, st, layout.VersionPrefix(ref, m.Version)+"/manifest.json", m)
	}
	put(t, st, layout.LatestKey(ref), layout.Latest{Version: "1.2.0", ManifestKey: layout.VersionPrefix(ref, "1.2.0") + "/manifest.json"})
	put(t, st, "_staging/sales/orders/run1/latest.json", layout.Latest{})

	e, err := Show(t.Context(), st, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Versions, []string{"1.0.0", "1.1.0", "1.2.0"}) || e.Latest.Version != "1.2.0" {
		t.Fatalf("versions %v latest %s, want 1.0.0 1.1.0 1.2.0 and 1.2.0", e.Versions, e.Latest.Version)
	}
	all, err := List(t.Context(), st)
	if err != nil || len(all) != 1 || all[0].Ref != ref {
		t.Fatalf("List: %+v, %v; want only %s", all, err, ref)
	}
	if _, err := Show(t.Context(), st, "sales/none"); err == nil {
		t.Fatal("an unpublished product must be an error")
	}
}
