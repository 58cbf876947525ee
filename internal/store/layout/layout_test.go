package layout

import (
	"slices"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
)

func TestNextVersion(t *testing.T) {
	for _, tc := range []struct {
		prev string
		bump refresh.Bump
		want string
	}{
		{"", refresh.BumpMinor, "1.0.0"},
		{"", refresh.BumpMajor, "1.0.0"},
		{"1.0.0", refresh.BumpMinor, "1.1.0"},
		{"1.9.0", refresh.BumpMinor, "1.10.0"},
		{"1.9.3", refresh.BumpMajor, "2.0.0"},
	} {
		if got, err := NextVersion(tc.prev, tc.bump); err != nil || got != tc.want {
			t.Errorf("NextVersion(%q, %s) = %q, %v; want %q", tc.prev, tc.bump, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1", "1.x.0", "v1.0.0", "1.0"} {
		if _, err := NextVersion(bad, refresh.BumpMinor); err == nil {
			t.Errorf("NextVersion(%q) took a version that is not MAJOR.MINOR.PATCH", bad)
		}
	}
}

func TestCompareVersionsIsNumeric(t *testing.T) {
	vs := []string{"1.10.0", "2.0.0", "1.2.0", "1.0.0", "10.0.0"}
	slices.SortFunc(vs, CompareVersions)
	if want := []string{"1.0.0", "1.2.0", "1.10.0", "2.0.0", "10.0.0"}; !slices.Equal(vs, want) {
		t.Fatalf("sorted %v, want %v", vs, want)
	}
}

func TestProductOfLatestKey(t *testing.T) {
	for key, want := range map[string]string{
		LatestKey("sales/orders"):                      "sales/orders",
		"sales/orders/v1.0.0/latest.json":              "",
		StagedKey("sales/orders", "r1", "latest.json"): "",
		"_mesh/x/latest.json":                          "",
		"sales/orders/latest.json.tmp":                 "",
	} {
		if got, ok := ProductOfLatestKey(key); got != want || ok != (want != "") {
			t.Errorf("ProductOfLatestKey(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

func TestInVersionPutsEveryObjectInTheVersionFolder(t *testing.T) {
	c, q := refresh.ObjectRef{Key: StagedKey("s/p", "r", Contract)}, refresh.ObjectRef{Key: StagedKey("s/p", "r", Quarantine)}
	m := InVersion(refresh.Manifest{Product: "s/p", Data: refresh.ObjectRef{Key: StagedKey("s/p", "r", Data)}, Contract: &c, Quarantine: &q}, "1.2.0")
	objs := Objects(m)
	if len(objs) != 4 {
		t.Fatalf("objects %v, want data, report, contract and quarantine", objs)
	}
	for name, o := range objs {
		if want := VersionPrefix("s/p", "1.2.0") + "/" + name; o.Key != want {
			t.Errorf("%s at %s, want %s", name, o.Key, want)
		}
	}
	if c.Key != StagedKey("s/p", "r", Contract) {
		t.Error("InVersion changed the staged manifest's contract")
	}
}

func TestClaimIsStale(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	if ClaimIsStale(now.Add(-59*time.Minute), now, 0) {
		t.Error("a 59-minute-old claim is stale under the default hour")
	}
	if !ClaimIsStale(now.Add(-time.Hour), now, 0) {
		t.Error("an hour-old claim is not stale under the default hour")
	}
	if !ClaimIsStale(now.Add(-2*time.Minute), now, time.Minute) {
		t.Error("a 2-minute-old claim is not stale under a minute")
	}
}

func TestLineageOutboxKeysSortBySeq(t *testing.T) {
	k := LineageOutboxKey("run-1", 99)
	if k != "_lineage/outbox/run-1/099.json" || LineageOutboxKey("run-1", 0) >= k || LineageOutboxKey("run-1", 12) >= k {
		t.Fatalf("keys do not sort by seq: %s", k)
	}
	run, seq, ok := LineageOfOutboxKey(k)
	if !ok || run != "run-1" || seq != 99 {
		t.Fatalf("LineageOfOutboxKey(%s) = %s %d %v", k, run, seq, ok)
	}
	for _, bad := range []string{"_lineage/outbox/run-1", "_lineage/outbox/run-1/x.json", "_lineage/lease.json", "_lineage/outbox/a/b/1.json"} {
		if _, _, ok := LineageOfOutboxKey(bad); ok {
			t.Errorf("LineageOfOutboxKey(%s) ok", bad)
		}
	}
}
