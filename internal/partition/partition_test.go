package partition

import (
	"slices"
	"strings"
	"testing"
)

func TestKeysAndRanges(t *testing.T) {
	for _, c := range []struct {
		by       By
		in, want string
	}{
		{Day, "2026-09-01", "2026-09-01"},
		{Hour, "2026-09-01T05", "2026-09-01T05"},
		{Hour, "2026-09-01", "2026-09-01T00"},
		{Month, "2026-09", "2026-09"},
		{Month, "2026-09-01", "2026-09"},
	} {
		got, err := c.by.Parse(c.in)
		if err != nil || c.by.Key(got) != c.want {
			t.Errorf("%s %q: %v %v, want %s", c.by, c.in, c.by.Key(got), err, c.want)
		}
	}
	for _, bad := range []struct {
		by By
		in string
	}{{Day, "2026-13-01"}, {Day, "09/01/2026"}, {Month, "2026-09-02"}, {Hour, "2026-09-01T05:30"}} {
		if _, err := bad.by.Parse(bad.in); err == nil || !strings.Contains(err.Error(), "write it like") {
			t.Errorf("%s %q: %v, want an error that shows the form", bad.by, bad.in, err)
		}
	}
	r, err := Day.ParseRange("2026-02-27..2026-03-02")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Day.Keys(r, 0)
	if err != nil || strings.Join(keys, ",") != "2026-02-27,2026-02-28,2026-03-01,2026-03-02" {
		t.Errorf("keys %v %v", keys, err)
	}
	if _, err := Day.Keys(r, 3); err == nil {
		t.Error("a range longer than the limit has no error")
	}
	if _, err := Day.ParseRange("2026-03-02..2026-03-01"); err == nil {
		t.Error("a range that ends before it starts is accepted")
	}
	if lo, hi, _ := Month.Bounds("2026-12"); lo.Format("2006-01-02") != "2026-12-01" || hi.Format("2006-01-02") != "2027-01-01" {
		t.Errorf("bounds of 2026-12: %v %v", lo, hi)
	}
}

func TestTemplates(t *testing.T) {
	cases := []struct {
		uri    string
		object string
		key    string
		ok     bool
	}{
		{"file:///m/data/orders/day={day}/", "file:///m/data/orders/day=2026-09-01/part-0.csv", "2026-09-01", true},
		{"file:///m/data/orders/day={day}/", "file:///m/data/orders/day=2026-09-01/sub/part-0.csv", "2026-09-01", true},
		{"file:///m/data/orders/day={day}/", "file:///m/data/orders/day=2026-9-1/part-0.csv", "", false},
		{"file:///m/data/orders/day={day}/", "file:///m/data/orders/day=2026-09-01", "", false},
		{"s3://raw/orders/{day}.csv", "s3://raw/orders/2026-09-01.csv", "2026-09-01", true},
		{"s3://raw/orders/{day}.csv", "s3://raw/orders/2026-09-01.csv.gz", "", false},
		{"s3://raw/orders/{month}/", "s3://raw/orders/2026-09/a.parquet", "2026-09", true},
		{"s3://raw/orders/{hour}/x.json", "s3://raw/orders/2026-09-01T05/x.json", "2026-09-01T05", true},
		{"s3://raw/orders/{hour}/x.json", "s3://raw/other/2026-09-01T05/x.json", "", false},
		{"s3://raw/orders/dt={day}", "s3://raw/orders/dt=2026-09-01/a.csv", "2026-09-01", true},
	}
	for _, c := range cases {
		tpl, ok, err := ParseTemplate(c.uri)
		if !ok || err != nil {
			t.Fatalf("%s: %v %v", c.uri, ok, err)
		}
		key, match := tpl.Match(c.object)
		if match != c.ok || (c.ok && key != c.key) {
			t.Errorf("%s against %s: %q %v, want %q %v", c.uri, c.object, key, match, c.key, c.ok)
		}
	}
	if tpl, _, _ := ParseTemplate("file:///m/data/orders/day={day}/"); tpl.ListPrefix() != "file:///m/data/orders/" {
		t.Errorf("list prefix %q", tpl.ListPrefix())
	}
	for _, bad := range []string{"s3://a/{day}/{day}/", "s3://a/{week}/", "s3://a/*/{day}/"} {
		if _, ok, err := ParseTemplate(bad); !ok || err == nil {
			t.Errorf("%s: %v %v, want an error", bad, ok, err)
		}
	}
	if _, ok, _ := ParseTemplate("s3://a/orders/"); ok {
		t.Error("a URI without placeholder is a template")
	}
}

func TestPlan(t *testing.T) {
	in := func(f string) map[string]string { return map[string]string{"orders": f, "fx": "fx1"} }
	available := map[string]map[string]string{
		"2025-12-31": in("a"), // before start
		"2026-01-01": in("a"), "2026-01-02": in("b"), "2026-01-03": in("c-changed"), "2026-01-04": in("d"), "2026-01-05": in("e"),
	}
	previous := map[string]Built{
		"2026-01-01": {Inputs: in("a"), Recipe: "r1"},
		"2026-01-02": {Inputs: in("b"), Recipe: "r1"},
		"2026-01-03": {Inputs: in("c"), Recipe: "r1"},
		"2026-01-04": {Inputs: in("d"), Recipe: "r1"},
		"2025-12-01": {Inputs: in("gone"), Recipe: "r1"}, // input data removed: carried, not dropped
	}
	p := Make(PlanInput{By: Day, Start: "2026-01-01", Lookback: 1, Recipe: "r1", Available: available, Previous: previous})
	if got := strings.Join(p.Build, ","); got != "2026-01-03,2026-01-04,2026-01-05" {
		t.Errorf("build %s", got)
	}
	if p.Reasons["2026-01-03"] != ReasonChanged || p.Reasons["2026-01-04"] != ReasonLookback || p.Reasons["2026-01-05"] != ReasonNew {
		t.Errorf("reasons %v", p.Reasons)
	}
	if got := strings.Join(p.Carry, ","); got != "2025-12-01,2026-01-01,2026-01-02" || p.Skipped != 1 {
		t.Errorf("carry %s, skipped %d", got, p.Skipped)
	}
	// Another recipe rebuilds everything; a requested range is built whatever its state.
	p = Make(PlanInput{By: Day, Start: "2026-01-01", Recipe: "r2", Available: available, Previous: previous})
	if len(p.Build) != 5 || p.Count(ReasonChanged) != 4 {
		t.Errorf("new recipe: build %v reasons %v", p.Build, p.Reasons)
	}
	r := Range{From: "2026-01-01", To: "2026-01-02"}
	p = Make(PlanInput{By: Day, Start: "2026-01-01", Recipe: "r1", Available: available, Previous: previous, Requested: &r})
	if p.Count(ReasonRequested) != 2 || !slices.Contains(p.Build, "2026-01-01") {
		t.Errorf("requested: build %v reasons %v", p.Build, p.Reasons)
	}
}

func TestBatches(t *testing.T) {
	for _, c := range []struct{ n, par, size, batches int }{
		{1, 4, 1, 1}, {12, 2, 3, 4}, {180, 8, 12, 15}, {10_000, 8, MaxBatch, 157}, {0, 4, 1, 0},
	} {
		size := BatchSize(c.n, c.par)
		if size != c.size || Batches(c.n, size) != c.batches {
			t.Errorf("%d partitions, %d in flight: batches of %d, %d of them; want %d, %d", c.n, c.par, size, Batches(c.n, size), c.size, c.batches)
		}
	}
}

// FuzzTemplate checks that no URI makes parsing or matching panic, and that a
// matched key is a key of the grain.
func FuzzTemplate(f *testing.F) {
	f.Add("file:///m/day={day}/", "file:///m/day=2026-09-01/a.csv")
	f.Add("s3://b/{hour}.json", "s3://b/2026-09-01T05.json")
	f.Add("{month}", "2026-09")
	f.Fuzz(func(t *testing.T, uri, object string) {
		tpl, ok, err := ParseTemplate(uri)
		if !ok || err != nil {
			return
		}
		if key, ok := tpl.Match(object); ok && !tpl.By.Canonical(key) {
			t.Fatalf("%s matched %s with key %q", uri, object, key)
		}
	})
}
