package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestStatusPrintsImpact: meshflow status shows the changed columns and each
// consumer's verdict, with its output columns that read them.
func TestStatusPrintsImpact(t *testing.T) {
	st := refresh.Status{Product: "aviation/airports", Stage: refresh.StageAwaitingApproval, Breaking: true, ManifestHash: "h",
		Impact: &refresh.Impact{Changed: []refresh.ChangedColumn{{Name: "city", Change: refresh.ColumnRemoved, Type: "VARCHAR"}},
			Consumers: []refresh.ConsumerImpact{
				{Product: "film/airport-cities", Checked: true, Error: `Binder Error: Referenced column "city" not found`, Reads: []string{"city"},
					Outputs: []refresh.OutputImpact{{Column: "city name", Reads: []string{"city"}}},
					Summary: "film/airport-cities will fail: its SQL reads `city`, removed here"},
				{Product: "film/raw", Summary: "film/raw was not checked: the columns of its input raw are not known before its run"},
				{Product: "film/old", Pinned: 1, Binds: true, Summary: "film/old is pinned to @1, unaffected: it keeps reading the newest 1.x of aviation/airports"},
			}},
		Deprecated: []refresh.DeprecatedInput{{Input: "towns", Deprecation: refresh.Deprecation{Product: "geo/towns", Major: 1, On: "2027-03-01",
			Note: "use @2", By: "ana", At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}},
		Rules: []refresh.RuleSummary{
			{ID: "volume_holds", Severity: "error", Status: "skipped", Message: "skipped: no published version to compare with yet"},
			{ID: "anomaly_row_count", Severity: "warning", Status: "warn", Message: "volume anomaly: 20 rows against a median of 200 over the last 5 versions"},
		}}
	checkStatusSchema(t, st)
	var b bytes.Buffer
	printStatus(&b, "refresh/aviation/airports/x", st)
	for _, want := range []string{
		"  column     `city` removed here\n",
		"  impact     BREAKS    film/airport-cities will fail: its SQL reads `city`, removed here\n",
		"             output column `city name` reads `city`\n",
		"             DuckDB: Binder Error: Referenced column \"city\" not found\n",
		"  impact     unchecked film/raw was not checked",
		"  impact     pinned    film/old is pinned to @1, unaffected",
		"  warning    input towns: geo/towns@1 is deprecated on 2027-03-01: use @2; from then on, this product's runs fail\n",
		"  rule       volume_holds                 error   skipped no published version to compare with yet\n",
		"  anomaly    volume anomaly: 20 rows against a median of 200 over the last 5 versions\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// TestStatusPrintsUnchangedAndSuperseded: meshflow status says when an
// unchanged run checked and which version it matched, and which run
// superseded a run.
func TestStatusPrintsUnchangedAndSuperseded(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		st   refresh.Status
		want string
	}{
		{refresh.Status{Product: "finance/fx-rates", Stage: refresh.StageUnchanged, Unchanged: "1.4.0", CheckedAt: at},
			"  unchanged  checked 2026-12-02 06:00, unchanged since 1.4.0: nothing was published\n"},
		{refresh.Status{Product: "finance/fx-rates", Stage: refresh.StageSuperseded, SupersededBy: "refresh/finance/fx-rates/b",
			SupersedeRefused: []string{"refresh/finance/fx-rates/forged: Temporal has no run"}},
			"  superseded by refresh/finance/fx-rates/b, a newer run that waits for approval: decide on that one\n" +
				"  refused    supersede claim of refresh/finance/fx-rates/forged: Temporal has no run\n"},
	} {
		statusMatchesSchema(t, tc.st)
		var b bytes.Buffer
		printStatus(&b, "refresh/finance/fx-rates/a", tc.st)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("status lacks %q:\n%s", tc.want, b.String())
		}
	}
}

// checkStatusSchema wants st, as the API answers it, to match the OpenAPI
// document's RefreshStatus: the conformance test's runs change no schema, so
// they answer no impact.
func checkStatusSchema(t *testing.T, st refresh.Status) {
	t.Helper()
	sch, b := statusMatchesSchema(t, st)
	// The document describes every field of the impact: an unknown one is refused.
	bad := bytes.Replace(b, []byte(`"summary":`), []byte(`"extra":1,"summary":`), 1)
	if v, err := jsonschema.UnmarshalJSON(bytes.NewReader(bad)); err != nil || sch.Validate(v) == nil {
		t.Errorf("the document accepts a consumer impact with an undocumented field (%v)", err)
	}
}

// statusMatchesSchema wants st, as the API answers it, to match the OpenAPI
// document's RefreshStatus, and returns the schema and st's JSON.
func statusMatchesSchema(t *testing.T, st refresh.Status) (*jsonschema.Schema, []byte) {
	t.Helper()
	c := newConformance(t, "")
	sch, err := c.schemas.Compile(openAPIURL + "#" + pointer("components", "schemas", "RefreshStatus"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("the status does not match the document: %v\n%s", err, b)
	}
	return sch, b
}

// TestDeprecateArguments: meshflow deprecate takes <domain>/<product>@<major>
// and a date, and says what is wrong with them before calling serve.
func TestDeprecateArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"aviation/airports", "--on", "2027-03-01"}, `"aviation/airports" is not a major version of a product: write <domain>/<product>@<major>`},
		{[]string{"aviation/airports@0", "--on", "2027-03-01"}, "is not a major version of a product"},
		{[]string{"airports@1", "--on", "2027-03-01"}, "is not a major version of a product"},
		{[]string{"aviation/airports@1"}, "give the date with --on YYYY-MM-DD"},
		{[]string{"aviation/airports@1", "--on", "1 March"}, `--on: deprecation date "1 March" is not a date as YYYY-MM-DD`},
	} {
		var out, errb bytes.Buffer
		err := runDeprecate(t.Context(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("deprecate %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if ref, major, err := parsePin("aviation/airports@12"); err != nil || ref != "aviation/airports" || major != 12 {
		t.Errorf("parsePin = %s, %d, %v", ref, major, err)
	}
}
