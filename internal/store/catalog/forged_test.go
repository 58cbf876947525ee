package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// TestForgedPointersAreRefused: pointers and manifests written into a
// product's prefix by someone who may write there, but that do not prove a
// published version of that product, are refused with ErrUnverified: a
// latest pointer naming another product's manifest, or its own key holding
// a copy of another product's manifest, a version that climbs out of its
// folder, a pointer to another run, a manifest naming another product's data.
// List leaves those products out and says why, Show and ReadLatest refuse
// them, and a forged major pointer is passed over for the committed chain.
func TestForgedPointersAreRefused(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ref, version, previous, run string) refresh.Manifest {
		m := refresh.Manifest{Product: ref, Version: version, Previous: previous, RunID: run,
			Data: refresh.ObjectRef{Key: layout.VersionPrefix(ref, version) + "/data.parquet"}}
		put(t, st, layout.ManifestKey(ref, version), m)
		put(t, st, layout.LatestKey(ref), layout.Latest{Version: version, ManifestKey: layout.ManifestKey(ref, version), RunID: run})
		return m
	}
	secret := publish("other/secret", "1.0.0", "", "r-secret")
	publish("sales/orders", "1.0.0", "", "r1")
	publish("sales/orders", "2.0.0", "1.0.0", "r2")

	// A latest pointer that names another product's manifest.
	put(t, st, layout.LatestKey("sales/alias"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("other/secret", "1.0.0"), RunID: "r-secret"})
	// A pointer to its own key, which holds a copy of another product's manifest.
	put(t, st, layout.ManifestKey("sales/copy", "1.0.0"), secret)
	put(t, st, layout.LatestKey("sales/copy"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("sales/copy", "1.0.0"), RunID: "r-secret"})
	// A version that climbs out of the product's folder.
	climb := "1.0.0/../../../other/secret/v1.0.0"
	put(t, st, layout.LatestKey("sales/climb"), layout.Latest{Version: climb, ManifestKey: layout.ManifestKey("sales/climb", climb), RunID: "r-secret"})
	// A pointer whose run is not the manifest's.
	publish("sales/runs", "1.0.0", "", "r7")
	put(t, st, layout.LatestKey("sales/runs"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("sales/runs", "1.0.0"), RunID: "r-forged"})
	// A manifest of its own product that names another product's data.
	leak := publish("sales/leak", "1.0.0", "", "r-leak")
	leak.Data = secret.Data
	put(t, st, layout.ManifestKey("sales/leak", "1.0.0"), leak)
	for _, ref := range []string{"sales/alias", "sales/copy", "sales/climb", "sales/runs"} {
		if _, _, err := ReadLatest(t.Context(), st, ref); !errors.Is(err, ErrUnverified) {
			t.Errorf("ReadLatest(%s): %v; want ErrUnverified", ref, err)
		}
		if _, err := Show(t.Context(), st, ref); !errors.Is(err, ErrUnverified) {
			t.Errorf("Show(%s): %v; want ErrUnverified", ref, err)
		}
	}
	h, _, err := ReadLatest(t.Context(), st, "sales/leak")
	if err != nil {
		t.Fatal(err)
	}
	if objs, err := DataObjects(t.Context(), st, h.Manifest); !errors.Is(err, ErrUnverified) {
		t.Errorf("DataObjects of a manifest naming another product's data: %v, %v; want ErrUnverified", objs, err)
	}

	entries, refused, err := ListChecked(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range entries {
		listed = append(listed, e.Ref)
		if e.Latest.Product != e.Ref {
			t.Errorf("List shows %s with the manifest of %s", e.Ref, e.Latest.Product)
		}
	}
	if want := []string{"other/secret", "sales/leak", "sales/orders"}; !slices.Equal(listed, want) {
		t.Errorf("List = %v, want %v", listed, want)
	}
	if len(refused) != 4 {
		t.Errorf("List refused %d products (%v), want 4", len(refused), refused)
	}
	for _, ref := range []string{"sales/alias", "sales/copy", "sales/climb", "sales/runs"} {
		if !slices.ContainsFunc(refused, func(err error) bool {
			return strings.HasPrefix(err.Error(), ref+":") || strings.Contains(err.Error(), ref+"/")
		}) {
			t.Errorf("List does not say why it left %s out: %v", ref, refused)
		}
	}

	// A major pointer of sales/orders that names another product's manifest,
	// or a version the product never published, is passed over: the
	// committed chain answers.
	for _, forged := range []layout.Latest{
		{Version: "1.0.0", ManifestKey: layout.ManifestKey("other/secret", "1.0.0"), RunID: "r-secret"},
		{Version: "1.9.0", ManifestKey: layout.ManifestKey("sales/orders", "1.9.0")},
	} {
		put(t, st, layout.MajorKey("sales/orders", 1), forged)
		h, found, err := ReadMajor(t.Context(), st, "sales/orders", 1)
		if err != nil || !found || h.Manifest.Product != "sales/orders" || h.Manifest.Version != "1.0.0" || h.Manifest.RunID != "r1" {
			t.Errorf("ReadMajor with the forged pointer %+v: %+v, %v, %v; want sales/orders 1.0.0 of run r1", forged, h.Manifest, found, err)
		}
	}
}

// TestAForgedContractIsNotShown: a manifest whose contract is another
// product's object, or whose contract does not have the checksum the
// manifest records, is refused, and the refused content never enters the
// cache of contracts by checksum.
func TestAForgedContractIsNotShown(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const yaml = "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\n"
	other, err := st.Put(t.Context(), "other/secret/v1.0.0/contract.odcs.yaml", strings.NewReader(yaml), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := refresh.Manifest{Product: "sales/leak", Version: "1.0.0", Contract: &refresh.ObjectRef{Key: other.Key, SHA256: other.SHA256}}
	if _, err := Contract(t.Context(), st, m); !errors.Is(err, ErrUnverified) {
		t.Errorf("a contract of another product: %v; want ErrUnverified", err)
	}
	own, err := st.Put(t.Context(), "sales/leak/v1.0.0/contract.odcs.yaml", strings.NewReader(yaml+"# changed\n"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claimed := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	m.Contract = &refresh.ObjectRef{Key: own.Key, SHA256: claimed}
	if _, err := Contract(t.Context(), st, m); !errors.Is(err, storage.ErrChecksumMismatch) {
		t.Errorf("a contract without the checksum its manifest claims: %v; want a checksum mismatch", err)
	}
	contracts.Lock()
	_, cached := contracts.byChecksum[claimed]
	contracts.Unlock()
	if cached {
		t.Error("the refused contract is cached under the checksum its manifest claims")
	}
}
