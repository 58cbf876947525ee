package contractdiff

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// load reads a contract whose schema is the given YAML (the list under schema:).
func load(t *testing.T, schema string) *contract.Contract {
	t.Helper()
	return loadWith(t, "version: 1.0.0\nstatus: active\n", schema)
}

// loadWith reads a contract with the given top-level fields and schema.
func loadWith(t *testing.T, fields, schema string) *contract.Contract {
	t.Helper()
	src := "apiVersion: v3.1.0\nkind: DataContract\nid: c1\n" + fields + "schema:\n" + schema
	var ds diag.List
	c, ok := contract.Load("test.odcs.yaml", []byte(src), &ds)
	if !ok {
		t.Fatalf("contract does not load: %v\n%s", ds.Err(), src)
	}
	return c
}

// lines renders changes as "severity kind path".
func lines(r Result) string {
	var b strings.Builder
	for _, c := range r.Changes {
		b.WriteString(string(c.Severity) + " " + c.Kind + " " + c.Path + "\n")
	}
	return b.String()
}

const orders = `
  - name: orders
    properties:
      - name: id
        logicalType: integer
        required: true
        unique: true
      - name: amount
        logicalType: number
      - name: status
        logicalType: string
        quality:
          - id: status_valid
            metric: invalidValues
            arguments: {validValues: [open, paid, shipped]}
            mustBe: 0
`

func TestCompare(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"identical", orders, orders, ""},
		{"column removed", orders, strings.Replace(orders, "      - name: amount\n        logicalType: number\n", "", 1),
			"breaking column-removed schema.orders.properties.amount\n"},
		{"optional column added", orders, orders + "      - name: note\n        logicalType: string\n",
			"non-breaking column-added schema.orders.properties.note\n"},
		{"required column added", orders, orders + "      - name: note\n        logicalType: string\n        required: true\n",
			"breaking required-column-added schema.orders.properties.note\n"},
		{"type changed", orders, strings.Replace(orders, "logicalType: number", "logicalType: string", 1),
			"breaking type-changed schema.orders.properties.amount\n"},
		{"physical type changed", orders, strings.Replace(orders, "logicalType: number", "logicalType: number\n        physicalType: decimal(10,2)", 1),
			"info type-added schema.orders.properties.amount\n"},
		{"required added", orders, strings.Replace(orders, "logicalType: number", "logicalType: number\n        required: true", 1),
			"breaking required-added schema.orders.properties.amount\n"},
		{"required removed", orders, strings.Replace(orders, "        required: true\n", "", 1),
			"non-breaking required-removed schema.orders.properties.id\n"},
		{"unique and primary key", orders,
			strings.Replace(strings.Replace(orders, "        unique: true\n", "        primaryKey: true\n", 1), "logicalType: number", "logicalType: number\n        unique: true", 1),
			"breaking unique-added schema.orders.properties.amount\n" +
				"breaking primary-key-added schema.orders.properties.id\n" +
				"non-breaking unique-removed schema.orders.properties.id\n"},
		{"enum value removed and added", orders, strings.Replace(orders, "[open, paid, shipped]", "[open, paid, cancelled]", 1),
			"non-breaking enum-value-added schema.orders.properties.status.quality.status_valid.arguments.validValues\n" +
				"breaking enum-value-removed schema.orders.properties.status.quality.status_valid.arguments.validValues\n"},
		{"description and tags", orders, strings.Replace(orders, "logicalType: number", "logicalType: number\n        description: Gross amount.\n        tags: [money]", 1),
			"info description-changed schema.orders.properties.amount\ninfo tags-changed schema.orders.properties.amount\n"},
		{"object removed", orders + strings.Replace(orders, "name: orders", "name: refunds", 1), orders,
			"breaking object-removed schema.refunds\n"},
		{"object added", orders, orders + "  - name: refunds\n    properties: [{name: id, logicalType: integer}]\n",
			"non-breaking object-added schema.refunds\n"},
		{"physical name changed", orders, strings.Replace(orders, "- name: amount", "- name: amount\n        physicalName: amt", 1),
			"breaking physical-name-changed schema.orders.properties.amount\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(load(t, tt.old), load(t, tt.new))
			if got := lines(r); got != tt.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tt.want)
			}
			if r.Breaking != strings.Contains("\n"+tt.want, "\nbreaking ") {
				t.Errorf("Breaking = %v", r.Breaking)
			}
		})
	}
}

const typed = `
  - name: t
    properties:
      - name: code
        logicalType: string
        logicalTypeOptions: {minLength: 2, maxLength: 10, pattern: "^[A-Z]+$"}
      - name: day
        logicalType: date
        logicalTypeOptions: {minimum: "2020-01-01"}
      - name: tags
        logicalType: array
        logicalTypeOptions: {maxItems: 5}
        items: {logicalType: string, logicalTypeOptions: {maxLength: 20}}
`

func TestLogicalTypeOptions(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"maxLength lowered", "maxLength: 10", "maxLength: 5",
			"breaking constraint-tightened schema.t.properties.code.logicalTypeOptions.maxLength\n"},
		{"maxLength raised", "maxLength: 10", "maxLength: 50",
			"non-breaking constraint-loosened schema.t.properties.code.logicalTypeOptions.maxLength\n"},
		{"minLength raised", "minLength: 2", "minLength: 3",
			"breaking constraint-tightened schema.t.properties.code.logicalTypeOptions.minLength\n"},
		{"bound removed", "minLength: 2, ", "",
			"non-breaking constraint-removed schema.t.properties.code.logicalTypeOptions.minLength\n"},
		{"pattern changed", `"^[A-Z]+$"`, `"^[A-Z0-9]+$"`,
			"breaking constraint-changed schema.t.properties.code.logicalTypeOptions.pattern\n"},
		{"date minimum raised", `"2020-01-01"`, `"2021-01-01"`,
			"breaking constraint-tightened schema.t.properties.day.logicalTypeOptions.minimum\n"},
		{"date minimum lowered", `"2020-01-01"`, `"2019-06-30"`,
			"non-breaking constraint-loosened schema.t.properties.day.logicalTypeOptions.minimum\n"},
		{"array items", "maxItems: 5}", "maxItems: 5, uniqueItems: true}",
			"breaking constraint-added schema.t.properties.tags.logicalTypeOptions.uniqueItems\n"},
		{"array element", "maxLength: 20", "maxLength: 30",
			"non-breaking constraint-loosened schema.t.properties.tags.items.logicalTypeOptions.maxLength\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(typed, tt.from) {
				t.Fatalf("%q is not in the contract", tt.from)
			}
			r := Compare(load(t, typed), load(t, strings.Replace(typed, tt.from, tt.to, 1)))
			if got := lines(r); got != tt.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestEnumOption covers value lists in logicalTypeOptions, which ODCS v3.1.0 does
// not define but contracts of other tools carry: the loader reports them and
// still reads them.
func TestEnumOption(t *testing.T) {
	lenient := func(values string) *contract.Contract {
		src := "apiVersion: v3.1.0\nkind: DataContract\nid: c1\nversion: 1.0.0\nstatus: active\nschema:\n" +
			"  - name: t\n    properties:\n      - name: kind\n        logicalType: string\n        logicalTypeOptions: {enum: " + values + "}\n"
		c, _ := contract.Load("test.odcs.yaml", []byte(src), &diag.List{})
		return c
	}
	got := lines(Compare(lenient("[a, b]"), lenient("[a, c]")))
	want := "non-breaking enum-value-added schema.t.properties.kind.logicalTypeOptions.enum\n" +
		"breaking enum-value-removed schema.t.properties.kind.logicalTypeOptions.enum\n"
	if got != want {
		t.Errorf("changes:\n%s\nwant:\n%s", got, want)
	}
}

const rules = `
  - name: sales
    properties:
      - name: units
        logicalType: integer
        quality:
          - type: custom
            engine: cel
            implementation: units > 0
            severity: error
          - metric: nullValues
            mustBeLessThan: 10
            severity: warning
    quality:
      - id: enough_rows
        metric: rowCount
        mustBeGreaterThan: 100
      - id: bad_units
        metric: invalidValues
        arguments: {properties: [units], validValues: [1, 2, 3]}
        unit: percent
        mustBeLessOrEqualTo: 1
`

func TestQuality(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"row threshold raised", "mustBeGreaterThan: 100", "mustBeGreaterThan: 200",
			"breaking quality-tightened schema.sales.quality.enough_rows\n"},
		{"row threshold lowered", "mustBeGreaterThan: 100", "mustBeGreaterThan: 50",
			"non-breaking quality-loosened schema.sales.quality.enough_rows\n"},
		{"equivalent whole-number threshold", "mustBeGreaterThan: 100", "mustBeGreaterOrEqualTo: 101", ""},
		{"operator replaced by a wider one", "mustBeGreaterThan: 100", "mustBeGreaterOrEqualTo: 0",
			"non-breaking quality-loosened schema.sales.quality.enough_rows\n"},
		{"between not comparable", "mustBeGreaterThan: 100", "mustBeBetween: [10, 1000]",
			"breaking quality-changed schema.sales.quality.enough_rows\n"},
		{"null threshold lowered", "mustBeLessThan: 10", "mustBeLessThan: 5",
			"breaking quality-tightened schema.sales.properties.units.quality.units_2\n"},
		{"null threshold to none", "mustBeLessThan: 10", "mustBe: 0",
			"breaking quality-tightened schema.sales.properties.units.quality.units_2\n"},
		{"percent threshold raised", "mustBeLessOrEqualTo: 1", "mustBeLessOrEqualTo: 2.5",
			"non-breaking quality-loosened schema.sales.quality.bad_units\n"},
		{"unit changed", "unit: percent", "unit: rows",
			"breaking quality-changed schema.sales.quality.bad_units\n"},
		{"severity warning to error", "severity: warning", "severity: error",
			"breaking quality-tightened schema.sales.properties.units.quality.units_2\n"},
		{"severity error to warning", "severity: error", "severity: warning",
			"non-breaking quality-loosened schema.sales.properties.units.quality.units_1\n"},
		{"CEL implementation changed", "units > 0", "units >= 0",
			"breaking quality-changed schema.sales.properties.units.quality.units_1\n"},
		{"numeric valid value removed", "[1, 2, 3]", "[1, 2.0]",
			"breaking enum-value-removed schema.sales.quality.bad_units.arguments.validValues\n"},
		{"rule removed", "      - id: enough_rows\n        metric: rowCount\n        mustBeGreaterThan: 100\n", "",
			"non-breaking quality-removed schema.sales.quality.enough_rows\n"},
		{"error rule added", "      - id: enough_rows\n", "      - id: fresh\n        type: custom\n        engine: cel\n        implementation: row_count > 0\n      - id: enough_rows\n",
			"breaking quality-added schema.sales.quality.fresh\n"},
		{"warning rule added", "      - id: enough_rows\n", "      - id: fresh\n        type: custom\n        engine: cel\n        implementation: row_count > 0\n        severity: warning\n      - id: enough_rows\n",
			"non-breaking quality-added schema.sales.quality.fresh\n"},
		{"rule description", "      - id: enough_rows\n", "      - id: enough_rows\n        description: Enough rows.\n",
			"info quality-metadata-changed schema.sales.quality.enough_rows\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(rules, tt.from) {
				t.Fatalf("%q is not in the contract", tt.from)
			}
			r := Compare(load(t, rules), load(t, strings.Replace(rules, tt.from, tt.to, 1)))
			if got := lines(r); got != tt.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	const base = "  - name: p\n    properties:\n      - name: email\n        logicalType: string\n"
	with := func(c string) string {
		if c == "" {
			return base
		}
		return base + "        classification: " + c + "\n"
	}
	tests := []struct{ from, to, want string }{
		{"confidential", "internal", "breaking classification-lowered"},
		{"internal", "confidential", "non-breaking classification-raised"},
		{"", "pii", "non-breaking classification-added"},
		{"pii", "", "breaking classification-removed"},
		{"pii", "gdpr-art9", "breaking classification-changed"},
		{"Confidential", "confidential", ""},
	}
	for _, tt := range tests {
		got := strings.TrimSuffix(lines(Compare(load(t, with(tt.from)), load(t, with(tt.to)))), " schema.p.properties.email\n")
		if got != tt.want {
			t.Errorf("%q → %q: %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestContractMetadata(t *testing.T) {
	old := load(t, orders)
	cur := loadWith(t, "version: 2.0.0\nstatus: deprecated\ntags: [sales]\n", orders)
	r := Compare(old, cur)
	want := "info status-changed status\ninfo tags-changed tags\ninfo version-changed version\n"
	if got := lines(r); got != want {
		t.Errorf("changes:\n%s\nwant:\n%s", got, want)
	}
	if r.Breaking || r.Counts != (Counts{Info: 3}) {
		t.Errorf("Breaking %v, counts %+v", r.Breaking, r.Counts)
	}
	if r.Changes[2].Message != "contract version changed from 1.0.0 to 2.0.0" {
		t.Errorf("message %q", r.Changes[2].Message)
	}
}

func TestMessagesAndJSON(t *testing.T) {
	r := Compare(load(t, orders), load(t, strings.Replace(orders, "logicalType: number", "logicalType: string", 1)))
	c := r.Changes[0]
	if c.Message != "logical type changed from number to string" || c.Old != "number" || c.New != "string" {
		t.Errorf("change %+v", c)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[{"severity":"breaking","kind":"type-changed","path":"schema.orders.properties.amount","message":"logical type changed from number to string","old":"number","new":"string"}],"breaking":true,"counts":{"breaking":1,"nonBreaking":0,"info":0}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	if b, _ := json.Marshal(Compare(nil, nil)); string(b) != `{"changes":[],"breaking":false,"counts":{"breaking":0,"nonBreaking":0,"info":0}}` {
		t.Errorf("empty JSON %s", b)
	}
}

// TestExamples compares every example contract with itself.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../../examples/mesh/*/*.odcs.yaml")
	if len(files) == 0 {
		t.Fatal("no example contracts")
	}
	read := func(file string) *contract.Contract {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ds diag.List
		c, ok := contract.Load(file, data, &ds)
		if !ok {
			t.Fatalf("%s: %v", file, ds.Err())
		}
		return c
	}
	for _, f := range files {
		if r := Compare(read(f), read(f)); len(r.Changes) != 0 {
			t.Errorf("%s against itself: %v", f, r.Changes)
		}
	}
}

// TestSLAEntriesSharingAProperty: several slaProperties entries with the same
// property, told apart by element and driver, compare with themselves as equal,
// and a change to one of them is reported on that one.
func TestSLAEntriesSharingAProperty(t *testing.T) {
	sla := func(second string) string {
		return "version: 1.0.0\nstatus: active\nslaProperties:\n" +
			"  - {property: timeOfAvailability, value: '09:00-08:00', element: tab1.txn_ref_dt, driver: regulatory}\n" +
			"  - {property: timeOfAvailability, value: '" + second + "', element: tab1.txn_ref_dt, driver: analytics}\n" +
			"  - {property: latency, value: 4, unit: d, element: tab1.txn_ref_dt}\n"
	}
	same := Compare(loadWith(t, sla("08:00-20:00"), orders), loadWith(t, sla("08:00-20:00"), orders))
	if len(same.Changes) != 0 {
		t.Fatalf("a contract compared with itself: %s", lines(same))
	}
	changed := Compare(loadWith(t, sla("08:00-20:00"), orders), loadWith(t, sla("07:00-20:00"), orders))
	if got, want := lines(changed), "info sla-changed slaProperties.timeOfAvailability[tab1.txn_ref_dt](analytics)\n"; got != want {
		t.Fatalf("changes:\n%s\nwant:\n%s", got, want)
	}
}
