package publish_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// TestNewestOfMajor: after a breaking change, the newest 1.x is found by
// its major's pointer, which the publication of 2.0.0 wrote too; without a
// pointer, or with one that names another major, by walking back from
// latest. A major never published is not found.
func TestNewestOfMajor(t *testing.T) {
	ctx := t.Context()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const ref = "aviation/airports"
	at := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	for i, breaking := range []bool{false, false, true, false} {
		publishtest.Publish(t, st, publishtest.Version{Ref: ref, At: at.Add(time.Duration(i) * time.Hour), Breaking: breaking})
	}
	newest := func(major int) string {
		t.Helper()
		h, found, err := catalog.ReadMajor(ctx, st, ref, major)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return "none"
		}
		if h.Manifest.Version != h.Pointer.Version {
			t.Errorf("major %d: pointer names %s, manifest is %s", major, h.Pointer.Version, h.Manifest.Version)
		}
		return h.Manifest.Version
	}
	for major, want := range map[int]string{1: "1.1.0", 2: "2.1.0", 3: "none"} {
		if got := newest(major); got != want {
			t.Errorf("newest of major %d = %s, want %s", major, got, want)
		}
	}
	var ptr layout.Latest
	if _, err := catalog.ReadJSON(ctx, st, layout.MajorKey(ref, 1), &ptr); err != nil || ptr.Version != "1.1.0" {
		t.Errorf("the pointer of major 1 names %q (%v), want 1.1.0", ptr.Version, err)
	}

	if err := st.Delete(ctx, layout.MajorKey(ref, 1)); err != nil {
		t.Fatal(err)
	}
	if got := newest(1); got != "1.1.0" {
		t.Errorf("without its pointer, newest of major 1 = %s, want 1.1.0", got)
	}
	if _, err := catalog.ReadJSON(ctx, st, layout.MajorKey(ref, 2), &ptr); err != nil {
		t.Fatal(err)
	}
	putJSON(t, st, layout.MajorKey(ref, 1), ptr) // names 2.1.0: not of its major
	if got := newest(1); got != "1.1.0" {
		t.Errorf("with a pointer to another major, newest of major 1 = %s, want 1.1.0", got)
	}
}

// TestGCKeepsPinnedMajors: gc keeps the newest version of a major that a
// consumer pins, while its deprecation date is to come, and retires it
// after.
func TestGCKeepsPinnedMajors(t *testing.T) {
	ctx := t.Context()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const ref = "aviation/airports"
	at := time.Now().Add(-10 * time.Hour)
	for i, breaking := range []bool{false, false, true, false} {
		publishtest.Publish(t, st, publishtest.Version{Ref: ref, At: at.Add(time.Duration(i) * time.Hour), Breaking: breaking, Contract: contract})
	}
	products := map[string]refresh.Product{
		"film/cities": {Domain: "film", Name: "cities", Inputs: []refresh.Input{{Name: "airports", Product: ref, Major: 1}}},
		"film/latest": {Domain: "film", Name: "latest", Inputs: []refresh.Input{{Name: "airports", Product: ref}}},
	}
	now := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	pinned, err := catalog.PinnedMajors(ctx, st, ref, products, now)
	if err != nil || !slices.Equal(pinned, []int{1}) {
		t.Fatalf("pinned majors %v, %v; want [1]", pinned, err)
	}
	res, err := catalog.GCKeeping(ctx, st, ref, 1, pinned, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, []string{"1.1.0", "2.1.0"}) || !slices.Equal(res.KeptForPins, []string{"1.1.0"}) || !slices.Equal(res.Retired, []string{"1.0.0", "2.0.0"}) {
		t.Errorf("gc kept %v (for pins %v), retired %v; want 1.1.0 and 2.1.0 kept, 1.0.0 and 2.0.0 retired", res.Kept, res.KeptForPins, res.Retired)
	}

	if err := catalog.Deprecate(ctx, st, refresh.Deprecation{Product: ref, Major: 1, On: "2027-01-01", Note: "use @2", By: "ana", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := catalog.Deprecate(ctx, st, refresh.Deprecation{Product: ref, Major: 5, On: "2027-01-01", By: "ana", At: now}); err == nil {
		t.Error("a deprecation of a major never published was recorded")
	}
	deps, err := catalog.Deprecations(ctx, st, ref)
	if err != nil || len(deps) != 1 || deps[0].Note != "use @2" {
		t.Fatalf("deprecations %+v, %v; want major 1's", deps, err)
	}
	if pinned, err = catalog.PinnedMajors(ctx, st, ref, products, now); err != nil || len(pinned) != 0 {
		t.Fatalf("pinned majors past their date %v, %v; want none", pinned, err)
	}
	res, err = catalog.GCKeeping(ctx, st, ref, 1, pinned, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, []string{"2.1.0"}) || !slices.Contains(res.Retired, "1.1.0") {
		t.Errorf("gc after the date kept %v, retired %v; want 2.1.0 kept and 1.1.0 retired", res.Kept, res.Retired)
	}
}

// contract is the smallest contract a version is published with.
const contract = `apiVersion: v3.1.0
kind: DataContract
id: airports
version: 1.0.0
status: active
schema:
  - name: airports
    properties:
      - {name: code, logicalType: string}
`

func putJSON(t *testing.T, st storage.Store, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), key, bytes.NewReader(b), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}
