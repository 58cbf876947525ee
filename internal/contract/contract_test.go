package contract

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
)

// render formats diagnostics one per line as "file:line:col severity code: message".
func render(ds *diag.List) []string {
	var out []string
	for _, d := range ds.Items() {
		out = append(out, fmt.Sprintf("%s %s %s: %s", d.Pos, d.Severity, d.Code, d.Message))
	}
	return out
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n  got:\n\t%s\n  want:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// The official ODCS examples (copied unchanged from ../shared/odcs/examples into
// testdata/examples) must all load without errors.
func TestOfficialExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/examples/*.odcs.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ds diag.List
			c, ok := Load(file, data, &ds)
			if !ok || ds.HasErrors() || c == nil {
				t.Fatalf("ok=%v, diagnostics:\n%s", ok, strings.Join(render(&ds), "\n"))
			}
			if c.Kind != "DataContract" || c.ID == "" || c.Raw["id"] != c.ID {
				t.Errorf("contract not decoded: %+v", c)
			}
		})
	}
}

const head = "apiVersion: v3.1.0\nkind: DataContract\nid: c1\nversion: 1.0.0\nstatus: active\n"

func TestBrokenContracts(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "unknown key with a typo",
			yaml: head + "schema:\n  - name: orders\n    properties:\n      - name: id\n      - nmae: amount\n",
			want: []string{
				`c.yaml:10:9 error missing-key: missing required key "name" in schema[0].properties[1]`,
				`c.yaml:10:9 error unknown-key: unknown key "nmae" in schema[0].properties[1]`,
			},
		},
		{
			name: "unknown top-level key",
			yaml: head + "owner: sales\n",
			want: []string{`c.yaml:6:1 error unknown-key: unknown key "owner"`},
		},
		{
			name: "wrong type",
			yaml: head + "tags: sales\nschema:\n  - name: orders\n    properties:\n      - name: id\n        required: \"yes\"\n",
			want: []string{
				`c.yaml:6:7 error wrong-type: "tags" must be a list, found "sales"`,
				`c.yaml:11:19 error wrong-type: "required" must be true or false, found "yes"`,
			},
		},
		{
			name: "missing required fields",
			yaml: "kind: DataContract\nid: c1\nschema:\n  - physicalType: table\n",
			want: []string{
				`c.yaml:1:1 error missing-key: missing required key "apiVersion"`,
				`c.yaml:1:1 error missing-key: missing required key "status"`,
				`c.yaml:1:1 error missing-key: missing required key "version"`,
				`c.yaml:4:5 error missing-key: missing required key "name" in schema[0]`,
			},
		},
		{
			name: "bad enum value",
			yaml: head + "schema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: text\n",
			want: []string{`c.yaml:10:22 error bad-value: "logicalType" must be one of string, date, timestamp, time, number, integer, object, array, boolean, found "text"`},
		},
		{
			name: "bad apiVersion and kind",
			yaml: "apiVersion: v3.2.0\nkind: Contract\nid: c1\nversion: 1.0.0\nstatus: active\n",
			want: []string{
				`c.yaml:1:13 error bad-value: "apiVersion" must be one of v3.1.0, v3.0.2, v3.0.1, v3.0.0, v2.2.2, v2.2.1, v2.2.0, found "v3.2.0"`,
				`c.yaml:2:7 error bad-value: "kind" must be DataContract, found "Contract"`,
			},
		},
		{
			name: "quality rules",
			yaml: head + `schema:
  - name: orders
    quality:
      - metric: rowCount
      - metric: rowCount
        mustBe: 0
        mustBeLessThan: 3
      - metric: rowcount
        mustBe: 1
      - type: custom
        engine: soda
      - type: library
        metric: nullValues
        engine: cel
        mustBe: 0
      - metric: rowCount
        mustBeBetween: [1]
`,
			want: []string{
				`c.yaml:9:9 error missing-key: missing one of the keys mustBe, mustNotBe, mustBeGreaterThan, mustBeGreaterOrEqualTo, mustBeLessThan, mustBeLessOrEqualTo, mustBeBetween, mustNotBeBetween in schema[0].quality[0]`,
				`c.yaml:12:9 error conflicting-keys: keys "mustBe" and "mustBeLessThan" cannot be used together in schema[0].quality[1]`,
				`c.yaml:13:17 error bad-value: "metric" must be one of nullValues, missingValues, invalidValues, duplicateValues, rowCount, found "rowcount"`,
				`c.yaml:15:9 error missing-key: missing required key "implementation" in schema[0].quality[3]`,
				`c.yaml:16:17 info not-evaluated: quality rule schema[0].quality[3] uses engine soda, which meshflow does not evaluate`,
				`c.yaml:19:9 error unknown-key: key "engine" is not allowed here in schema[0].quality[4]`,
				`c.yaml:22:24 error bad-value: "mustBeBetween" must have at least 2 items, found 1`,
			},
		},
		{
			name: "conditional keys",
			yaml: head + "schema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n        items: {logicalType: string}\n",
			want: []string{`c.yaml:11:9 error unknown-key: key "items" is not allowed here in schema[0].properties[0]`},
		},
		{
			name: "team as object or list",
			yaml: head + "team: sales\n",
			want: []string{`c.yaml:6:7 error wrong-type: "team" must be a mapping or a list, found "sales"`},
		},
		{
			name: "pattern and relationship",
			yaml: head + `schema:
  - name: orders
    id: "orders table"
    properties:
      - name: customer
        relationships:
          - from: orders.customer
            to: customers.id
`,
			want: []string{
				`c.yaml:8:9 error bad-value: "id" must match the pattern ^[A-Za-z0-9_-]+$, found "orders table"`,
				`c.yaml:12:13 error unknown-key: key "from" is not allowed here in schema[0].properties[0].relationships[0]`,
			},
		},
		{
			name: "duplicate key",
			yaml: head + "name: a\nname: b\n",
			want: []string{`c.yaml:7:1 error duplicate-key: key "name" appears twice`},
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: []string{`c.yaml:1:1 error wrong-type: the contract must be a mapping, found a list`},
		},
		{
			name: "YAML syntax error",
			yaml: "id: [\n",
			want: []string{`c.yaml:1:1 error yaml-syntax: YAML syntax error: did not find expected node content`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds diag.List
			_, ok := Load("c.yaml", []byte(tt.yaml), &ds)
			checkLines(t, render(&ds), tt.want)
			if ok != !ds.HasErrors() {
				t.Errorf("ok = %v with diagnostics %v", ok, render(&ds))
			}
		})
	}
}

// Every diagnostic of the schema check carries a hint.
func TestHints(t *testing.T) {
	var ds diag.List
	Load("c.yaml", []byte(head+"nmae: x\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: strin\n      - {name: b, logicalType: text}\n"), &ds)
	var hints []string
	for _, d := range ds.Items() {
		hints = append(hints, d.Hint)
	}
	checkLines(t, hints, []string{
		`did you mean "name"? allowed keys here: apiVersion, authoritativeDefinitions, contractCreatedTs, customProperties, dataProduct, description, domain, id, kind, name, price, roles, schema, servers, slaDefaultElement, slaProperties, status, support, tags, team, tenant, version`,
		`did you mean "string"?`,
		"write one of the allowed values",
	})
}

const spec = `apiVersion: meshflow/v1
kind: DataProduct
metadata: {name: regional-sales, domain: sales-china}
contract:
  apiVersion: v3.1.0
  kind: DataContract
  id: regional-sales
  version: 1.0.0
  status: active
  schema:
    - name: regional_sales
      properties:
        - name: region
          logicalType: string
          requird: true
        - name: revenue
          logicalType: number
          quality:
            - type: custom
              engine: cel
              implementation: "revenue >= 0.0"
output: {format: parquet}
`

func TestInlineContract(t *testing.T) {
	var ds diag.List
	doc, ok := yamlfile.Parse("sales/regional-sales.yaml", []byte(spec), &ds)
	if !ok {
		t.Fatal(render(&ds))
	}
	c, ok := FromNode(doc, []any{"contract"}, &ds)
	if ok || c == nil {
		t.Fatalf("ok=%v c=%v", ok, c)
	}
	checkLines(t, render(&ds), []string{
		`sales/regional-sales.yaml:15:11 error unknown-key: unknown key "requird" in schema[0].properties[0]`,
	})
	// Positions of the decoded contract point into the spec.
	q := c.Schema[0].Properties[1].Quality[0]
	if q.Engine != "cel" || q.Implementation != "revenue >= 0.0" {
		t.Errorf("quality = %+v", q)
	}
	if got := doc.ScalarPos(q.ImplementationNode, 1, 9).String(); got != "sales/regional-sales.yaml:21:40" {
		t.Errorf("ScalarPos = %s", got)
	}
	if got := c.Pos("schema", 0, "properties", 1, "name").String(); got != "sales/regional-sales.yaml:16:17" {
		t.Errorf("Pos = %s", got)
	}
	if got := doc.PosAt(q.Path...).String(); got != "sales/regional-sales.yaml:19:15" {
		t.Errorf("PosAt(quality path) = %s", got)
	}

	var missing diag.List
	if c, ok := FromNode(doc, []any{"contracts", 0}, &missing); ok || c != nil {
		t.Errorf("FromNode at a missing path: ok=%v c=%v", ok, c)
	}
	checkLines(t, render(&missing), []string{`sales/regional-sales.yaml:1:1 error missing-contract: there is no contract here`})
}

func TestDecode(t *testing.T) {
	data, err := os.ReadFile("testdata/full.odcs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds diag.List
	c, ok := Load("full.odcs.yaml", data, &ds)
	if !ok {
		t.Fatal(render(&ds))
	}
	checkLines(t, render(&ds), []string{
		`full.odcs.yaml:69:17 info not-evaluated: quality rule schema[0].quality[2] uses engine soda, which meshflow does not evaluate`,
		`full.odcs.yaml:74:15 info not-evaluated: quality rule schema[0].quality[3] is a text description, which meshflow does not evaluate`,
	})

	if c.APIVersion != "v3.1.0" || c.Name != "Regional sales" || c.Domain != "sales-china" || c.Tenant != "china" ||
		c.Version != "1.2.0" || c.Status != "active" || !slices.Equal(c.Tags, []string{"sales", "kpi"}) {
		t.Errorf("header = %+v", c)
	}
	if c.Description.Purpose == "" || c.Description.Usage == "" || c.Description.Limitations == "" {
		t.Errorf("description = %+v", c.Description)
	}
	if c.Team == nil || c.Team.Name != "china-sales-data" || len(c.Team.Members) != 2 || c.Team.Members[0].DateIn != "2025-01-01" {
		t.Errorf("team = %+v", c.Team)
	}
	if len(c.Roles) != 1 || c.Roles[0].Access != "read" || len(c.Support) != 1 || c.Support[0].Tool != "slack" {
		t.Errorf("roles = %+v, support = %+v", c.Roles, c.Support)
	}
	if len(c.SLAProperties) != 2 || c.SLAProperties[0].Value != int64(4) || c.SLAProperties[0].Unit != "h" {
		t.Errorf("sla = %+v", c.SLAProperties)
	}
	if c.Price == nil || c.Price.PriceAmount == nil || *c.Price.PriceAmount != 0 || len(c.Servers) != 1 || c.Servers[0].Raw["format"] != "parquet" {
		t.Errorf("price = %+v, servers = %+v", c.Price, c.Servers)
	}

	// Custom properties survive, typed and in Raw.
	if len(c.CustomProperties) != 2 || c.CustomProperties[0].Value != "CN-042" {
		t.Errorf("custom properties = %+v", c.CustomProperties)
	}
	cps, _ := c.Raw["customProperties"].([]any)
	if len(cps) != 2 {
		t.Fatalf("Raw customProperties = %v", c.Raw["customProperties"])
	}
	if v := cps[1].(map[string]any)["value"].(map[string]any)["timezone"]; v != "Asia/Shanghai" {
		t.Errorf("Raw customProperties[1].value.timezone = %v", v)
	}

	o := c.Schema[0]
	if o.Name != "regional_sales" || o.PhysicalType != "table" || len(o.Properties) != 5 || len(o.Quality) != 4 {
		t.Fatalf("object = %+v", o)
	}
	if len(o.Relationships) != 1 || o.Relationships[0].Type != "foreignKey" || o.Relationships[0].To[0] != "regions.code" {
		t.Errorf("relationships = %+v", o.Relationships)
	}
	if q := o.Quality[0]; q.ID != "enough_rows" || q.Metric != "rowCount" || q.MustBeGreaterThan == nil || *q.MustBeGreaterThan != 0 || q.Severity != "error" {
		t.Errorf("rowCount rule = %+v", q)
	}
	if q := o.Quality[1]; q.Type != "custom" || q.Engine != "cel" || q.Implementation != "sum_revenue_usd >= 0.0" {
		t.Errorf("cel rule = %+v", q)
	}
	// A rule of an engine meshflow does not run is kept whole.
	if q := o.Quality[2]; q.Engine != "soda" || q.Implementation != "" || q.ImplementationNode == nil ||
		q.Raw["implementation"].(map[string]any)["type"] != "duplicate_percent" {
		t.Errorf("soda rule = %+v", q)
	}
	if q := o.Quality[3]; q.Type != "text" || q.Description == "" {
		t.Errorf("text rule = %+v", q)
	}

	region := o.Properties[0]
	if !region.Required || !region.PrimaryKey || region.PrimaryKeyPosition != 1 || region.PartitionKeyPosition != -1 ||
		region.GlossaryTerm != "sales-region" || region.Classification != "public" || region.LogicalTypeOptions["maxLength"] != int64(8) {
		t.Errorf("region = %+v", region)
	}
	if q := region.Quality[0]; q.Type != "library" || q.Metric != "invalidValues" || len(q.ValidValues) != 4 || q.MustBe == nil {
		t.Errorf("validValues rule = %+v", q)
	}
	if day := o.Properties[1]; day.LogicalType != "date" || len(day.Examples) != 1 || day.Examples[0] != "2026-11-01" {
		t.Errorf("day = %+v", day)
	}
	rev := o.Properties[2]
	if !rev.CriticalDataElement || rev.Quality[0].Unit != "percent" || *rev.Quality[0].MustBeLessOrEqualTo != 0.1 ||
		!slices.Equal(rev.Quality[1].MustNotBeBetween, []float64{-1000, -1}) || rev.Quality[1].Name != "revenue in range" {
		t.Errorf("revenue_usd = %+v", rev)
	}
	if ch := o.Properties[3]; ch.Items == nil || ch.Items.LogicalType != "string" || fmt.Sprint(ch.Items.Path) != "[schema 0 properties 3 items]" {
		t.Errorf("channels = %+v", ch)
	}
	if m := o.Properties[4]; len(m.Properties) != 2 || m.Properties[1].Name != "since" {
		t.Errorf("manager = %+v", m)
	}
	if got := c.Doc.PosAt(region.Quality[0].Path...).String(); got != "full.odcs.yaml:92:13" {
		t.Errorf("position of region's rule = %s", got)
	}
}

// Contracts written for ODCS 3.0 keep working where the 3.1 schema still accepts
// them: the list form of team and the deprecated rule key.
func TestDeprecatedForms(t *testing.T) {
	var ds diag.List
	c, ok := Load("c.yaml", []byte(head+`team:
  - username: li.wei
    role: owner
schema:
  - name: t
    quality:
      - type: library
        rule: rowCount
        metric: rowCount
        mustBeGreaterThan: 0
`), &ds)
	if !ok {
		t.Fatal(render(&ds))
	}
	checkLines(t, render(&ds), []string{
		`c.yaml:7:3 warning deprecated: a list of team members is deprecated since ODCS 3.1.0`,
		`c.yaml:13:9 warning deprecated: "rule" is deprecated since ODCS 3.1.0`,
	})
	if c.Team == nil || len(c.Team.Members) != 1 || c.Team.Members[0].Username != "li.wei" {
		t.Errorf("team = %+v", c.Team)
	}
	if c.Schema[0].Quality[0].Metric != "rowCount" {
		t.Errorf("metric = %q", c.Schema[0].Quality[0].Metric)
	}
}

func TestAliasBomb(t *testing.T) {
	bomb := head + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'h'; i++ {
		bomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var ds diag.List
	if _, ok := Load("c.yaml", []byte(bomb), &ds); ok {
		t.Fatal("an alias bomb loaded")
	}
	if items := ds.Items(); len(items) != 1 || items[0].Code != "too-large" {
		t.Errorf("diagnostics = %v", render(&ds))
	}
}
