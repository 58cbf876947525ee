package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestReportRoundTrips: a report written to staging reads back as it was, so
// that the inbox shows what the rules found.
func TestReportRoundTrips(t *testing.T) {
	in := Report{Table: "t", Rows: 3, Passing: 2, Quarantined: 1, Rules: []RuleResult{
		{ID: "a", Kind: Dataset, Severity: Warning, Status: StatusFail, Failing: 1, Samples: []map[string]any{{"x": 1.0}}},
		{ID: "b", Kind: Row, Severity: Error, Status: StatusPass},
	}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Report
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if err := json.Unmarshal([]byte(`{"rules":[{"kind":"column"}]}`), &out); err == nil || !strings.Contains(err.Error(), `"column"`) {
		t.Fatalf("an unknown kind decodes: %v", err)
	}
}
