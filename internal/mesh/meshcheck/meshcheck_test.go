package meshcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
)

// edit is one textual change to a file of the mesh: old must occur exactly once.
type edit struct {
	file, old, new string
}

func applyEdits(t *testing.T, dir string, edits []edit) {
	t.Helper()
	for _, e := range edits {
		meshtest.Edit(t, dir, e.file, e.old, e.new)
	}
}

// render writes each diagnostic as "file:line:col severity code: message", with the
// file relative to dir, followed by its hint on a line of its own.
func render(dir string, items []diag.Diagnostic) string {
	var b strings.Builder
	for _, d := range items {
		rel, err := filepath.Rel(dir, d.File)
		if err != nil {
			rel = d.File
		}
		fmt.Fprintf(&b, "%s:%d:%d %s %s: %s\n", filepath.ToSlash(rel), d.Line, d.Col, d.Severity, d.Code, d.Message)
		if d.Hint != "" {
			fmt.Fprintf(&b, "  = help: %s\n", d.Hint)
		}
	}
	return b.String()
}

func TestExampleMeshIsClean(t *testing.T) {
	dir := meshtest.CopyExample(t)
	res := Check(context.Background(), dir)
	if got := render(dir, res.Diagnostics.Items()); got != "" {
		t.Fatalf("the example mesh has diagnostics:\n%s", got)
	}
	if n := len(res.Set.Products); n != 6 {
		t.Errorf("%d products, want 6", n)
	}
	for _, p := range res.Set.Products {
		if res.Rules[p.Ref()] == nil {
			t.Errorf("no compiled rules for %s", p.Ref())
		}
	}
}

func TestBrokenVariants(t *testing.T) {
	const (
		china   = "sales-china/regional-sales.odcs.yaml"
		fxODCS  = "finance/fx-rates.odcs.yaml"
		fxSpec  = "finance/fx-rates.yaml"
		kpiSpec = "finance/global-kpis.yaml"
		emea    = "sales-emea/regional-sales.yaml"
		scm     = "supply-chain/delivery-performance.yaml"
		fxSQL   = "sql: SELECT day, currency, usd_rate FROM rates"
		sqlHelp = "  = help: the transform is one query over the inputs, as tables by their names (use WITH for intermediate steps); meshflow reads the inputs and writes the output itself, and runs the query in a sandbox without COPY, ATTACH, SET, PRAGMA, INSTALL, LOAD or any other command"
	)
	cases := []struct {
		name  string
		edits []edit
		// want holds the rendered diagnostics, a hint after each.
		want []string
	}{
		{"CEL typo in a column name", []edit{{china, "implementation: units > 0", "implementation: unts > 0"}}, []string{
			"sales-china/regional-sales.odcs.yaml:42:29 error cel: rule units_1: undeclared reference to 'unts' (did you mean 'units'?)",
			"  = help: columns are: day, city, sku, units, net_revenue, currency, orders",
		}},
		{"CEL that does not parse", []edit{{china, "implementation: units > 0", "implementation: units > > 0"}}, []string{
			"sales-china/regional-sales.odcs.yaml:42:37 error cel: rule units_1: Syntax error: extraneous input '>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}",
			"  = help: fix the expression at the caret: a rule is a CEL condition such as `units > 0 && city != \"\"`",
		}},
		{"CEL rule that is not a bool", []edit{{china, "implementation: units > 0", "implementation: units + 1"}}, []string{
			"sales-china/regional-sales.odcs.yaml:42:29 error cel-type: rule units_1 must return a bool, it returns int",
			"  = help: write a condition that is true for good data, such as `x > 0`",
		}},
		{"CEL rule over the cost budget", []edit{{china, "implementation: units > 0",
			`implementation: '[1,2,3,4,5,6,7,8,9,10].all(x, [1,2,3,4,5,6,7,8,9,10].all(y, sku.contains(string(x) + string(y))))'`}}, []string{
			"sales-china/regional-sales.odcs.yaml:42:30 error cel-cost: rule units_1: estimated cost 8591246351 exceeds the budget 1000000",
			"  = help: avoid nested comprehensions and work over long strings or lists, or raise the estimate limit",
		}},
		{"unknown key in a contract", []edit{{fxODCS, "physicalType: table", "physicalTyp: table"}}, []string{
			"finance/fx-rates.odcs.yaml:10:5 error unknown-key: unknown key \"physicalTyp\" in schema[0]",
			"  = help: did you mean \"physicalType\"? allowed keys here: authoritativeDefinitions, businessName, customProperties, dataGranularityDescription, description, id, logicalType, name, physicalName, physicalType, properties, quality, relationships, tags",
		}},
		{"missing key in a contract", []edit{{fxODCS, "version: 1.0.0\n", ""}}, []string{
			"finance/fx-rates.odcs.yaml:1:1 error missing-key: missing required key \"version\"",
			"  = help: add \"version: …\"",
		}},
		{"bad ODCS enum value", []edit{{fxODCS, "{name: currency, logicalType: string", "{name: currency, logicalType: text"}}, []string{
			"finance/fx-rates.odcs.yaml:13:39 error bad-value: \"logicalType\" must be one of string, date, timestamp, time, number, integer, object, array, boolean, found \"text\"",
			"  = help: write one of the allowed values",
		}},
		{"unknown glossary term", []edit{{fxODCS, "value: fx-rate}", "value: fx-rates}"}}, []string{
			"finance/fx-rates.odcs.yaml:17:60 error unknown-term: column \"usd_rate\" links to unknown glossary term \"fx-rates\"",
			"  = help: did you mean \"fx-rate\"? or add it to glossary in mesh.yaml",
		}},
		{"unknown product", []edit{{kpiSpec, "product: finance/fx-rates}", "product: finance/fx-rate}"}}, []string{
			"finance/global-kpis.yaml:12:25 error unknown-product: input \"fx\" reads unknown product \"finance/fx-rate\"",
			"  = help: did you mean \"finance/fx-rates\"? or add it to the products in the mesh folder",
		}},
		{"cycle", []edit{{fxSpec, "format: csv}", "format: csv}\n  - {name: kpis, product: finance/global-kpis}"}}, []string{
			"finance/global-kpis.yaml:12:25 error cycle: products depend on each other in a cycle: finance/fx-rates → finance/global-kpis → finance/fx-rates",
			"  = help: a product cannot read itself, directly or through other products: remove one of these inputs",
		}},
		{"unsafe product name", []edit{{scm, "name: delivery-performance", "name: delivery/performance"}}, []string{
			"supply-chain/delivery-performance.yaml:4:9 error unsafe-name: product name \"delivery/performance\" is not safe for object keys",
			"  = help: use 2-63 lower-case letters, digits and hyphens, starting with a letter (it becomes part of object keys and workflow IDs)",
		}},
		{"failing mesh policy", []edit{{scm, "description: Every shipment with its delivery delay and the highest cargo temperature the truck's sensors measured on the way.", `description: ""`}}, []string{
			"supply-chain/delivery-performance.yaml:4:3 error policy: product supply-chain/delivery-performance breaks policy product-has-description: Every data product says what it is for in its metadata description.",
			"  = help: change the product so that the policy holds, or ask the governance team about the policy",
		}},
		{"unknown key in a product spec", []edit{{emea, "governance:\n  approval: never", "governance:\n  aproval: never"}}, []string{
			"sales-emea/regional-sales.yaml:67:3 error unknown-key: unknown key \"aproval\"",
			"  = help: did you mean \"approval\"? allowed keys here: approval, stewards, quorum, timeout, escalateTo, escalateAfter",
		}},
		{"COPY as the transform", []edit{{fxSpec, fxSQL, "sql: COPY rates TO '/tmp/rates.csv'"}}, []string{
			"finance/fx-rates.yaml:12:8 error sql-statement: transform.sql must be one SELECT or WITH statement; found COPY", sqlHelp,
		}},
		{"a forged grant after the query", []edit{{emea, "    FROM orders\n", "    FROM orders;\n    COPY (SELECT 'sales-emea' AS grantee) TO 'store/_grants/forged.json'\n"}}, []string{
			"sales-emea/regional-sales.yaml:24:5 error sql-statement: transform.sql must be one SELECT or WITH statement; found COPY (statement 2 of 2)", sqlHelp,
		}},
		{"two queries", []edit{{fxSpec, fxSQL, "sql: SELECT 1 AS a; SELECT 2 AS b"}}, []string{
			"finance/fx-rates.yaml:12:23 error sql-statement: transform.sql must be one SELECT or WITH statement; found a second query (statement 2 of 2)", sqlHelp,
		}},
		{"ATTACH in a quoted scalar", []edit{{fxSpec, fxSQL, `sql: "SELECT 1 AS a; ATTACH 'x.db'"`}}, []string{
			"finance/fx-rates.yaml:12:24 error sql-statement: transform.sql must be one SELECT or WITH statement; found ATTACH (statement 2 of 2)", sqlHelp,
		}},
		{"SET as the transform", []edit{{fxSpec, fxSQL, "sql: SET enable_external_access = true"}}, []string{
			"finance/fx-rates.yaml:12:8 error sql-statement: transform.sql must be one SELECT or WITH statement; found SET", sqlHelp,
		}},
		{"SQL that does not parse", []edit{{fxSpec, fxSQL, "sql: SELECT day, FROM rates WHERE"}}, []string{
			"finance/fx-rates.yaml:12:36 error sql-syntax: transform.sql does not parse: syntax error at end of input",
			"  = help: fix the SQL at the caret",
		}},
		{"wrong type", []edit{{kpiSpec, "quorum: 1", "quorum: one"}}, []string{
			"finance/global-kpis.yaml:30:11 error wrong-type: expected a whole number for \"quorum\", found \"one\"",
			"  = help: write a whole number here",
		}},
		{"missing required field", []edit{{emea, "  owner: emea-sales-data\n", ""}}, []string{
			"sales-emea/regional-sales.yaml:4:3 error missing-key: missing required key \"owner\" in \"metadata\"",
			"  = help: add \"owner: …\"",
		}},
		{"unknown principal and domain", []edit{
			{kpiSpec, "stewards: [maria.rossi, omar.haddad]", "stewards: [maria.rossi, omar.hadad]"},
			{scm, "domain: supply-chain", "domain: supply-chian"},
		}, []string{
			"finance/global-kpis.yaml:29:27 error unknown-principal: unknown principal \"omar.hadad\"",
			"  = help: did you mean \"omar.haddad\"? or add it to principals in mesh.yaml",
			"supply-chain/delivery-performance.yaml:5:11 error unknown-domain: unknown domain \"supply-chian\"",
			"  = help: did you mean \"supply-chain\"? or add it to domains in mesh.yaml",
		}},
		{"several problems in several files", []edit{
			{scm, "description: Every shipment with its delivery delay and the highest cargo temperature the truck's sensors measured on the way.", `description: ""`},
			{"mesh.yaml", "roles: [steward, governance]", "roles: [steward, governor]"},
			{china, "implementation: units > 0", "implementation: unts > 0"},
			{china, "implementation: net_revenue >= 0.0", "implementation: net_revenue + 1.0"},
			{fxODCS, "value: fx-rate}", "value: fx-rates}"},
			{kpiSpec, "quorum: 1", "quorum: one"},
		}, []string{
			"finance/fx-rates.odcs.yaml:17:60 error unknown-term: column \"usd_rate\" links to unknown glossary term \"fx-rates\"",
			"  = help: did you mean \"fx-rate\"? or add it to glossary in mesh.yaml",
			"finance/global-kpis.yaml:30:11 error wrong-type: expected a whole number for \"quorum\", found \"one\"",
			"  = help: write a whole number here",
			"mesh.yaml:31:75 error unknown-role: unknown role \"governor\"",
			"  = help: known roles: owner, steward, consumer, governance, engineer",
			"sales-china/regional-sales.odcs.yaml:42:29 error cel: rule units_1: undeclared reference to 'unts' (did you mean 'units'?)",
			"  = help: columns are: day, city, sku, units, net_revenue, currency, orders",
			"sales-china/regional-sales.odcs.yaml:52:29 error cel-type: rule net_revenue_1 must return a bool, it returns double",
			"  = help: write a condition that is true for good data, such as `x > 0`",
			"supply-chain/delivery-performance.yaml:4:3 error policy: product supply-chain/delivery-performance breaks policy product-has-description: Every data product says what it is for in its metadata description.",
			"  = help: change the product so that the policy holds, or ask the governance team about the policy",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := meshtest.CopyExample(t)
			applyEdits(t, dir, tc.edits)
			res := Check(context.Background(), dir)
			got := render(dir, res.Diagnostics.Items())
			if want := strings.Join(tc.want, "\n") + "\n"; got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			if !res.Diagnostics.HasErrors() {
				t.Errorf("HasErrors() = %v", res.Diagnostics.HasErrors())
			}
		})
	}
}

// TestSQLBindsOverKnownInputs: a column the transform SQL names that its inputs
// do not have is an error at validate time, at the column in the SQL, whether
// the input is an upstream product (its contract's columns) or a file of the
// mesh folder (the file's columns); a product whose inputs cannot be known
// before a run is not bound. The KPIs pin a major of the EMEA sales, whose
// columns may differ from its spec's: their bind error is a warning.
func TestSQLBindsOverKnownInputs(t *testing.T) {
	dir := meshtest.CopyExample(t, meshtest.WithData())
	meshtest.Edit(t, dir, "finance/global-kpis.yaml", "SELECT day, 'china' AS region, units, net_revenue", "SELECT day, 'china' AS region, units, net_revenu")
	meshtest.Edit(t, dir, "finance/fx-rates.yaml", "SELECT day, currency, usd_rate FROM rates", "SELECT day, currency, usd_rat FROM rates")
	res := Check(t.Context(), dir)
	var got []string
	for _, d := range res.Diagnostics.Items() {
		if d.Code == "sql-bind" {
			rel, _ := filepath.Rel(dir, d.File)
			got = append(got, fmt.Sprintf("%s:%d:%d %s", filepath.ToSlash(rel), d.Line, d.Col, d.Message))
		}
	}
	want := []string{
		`finance/fx-rates.yaml:12:30 transform.sql does not bind over its inputs: Binder Error: Referenced column "usd_rat" not found in FROM clause!`,
		`finance/global-kpis.yaml:16:45 transform.sql does not bind over its inputs as their specs stand (emea pins sales-emea/regional-sales@1): Binder Error: Referenced column "net_revenu" not found in FROM clause!`,
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("bind errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res := Check(t.Context(), meshtest.Example(t)); res.Diagnostics.HasErrors() {
		t.Fatalf("the example mesh: %v", res.Diagnostics.Err())
	}
}

// TestALinkedInputIsNeitherReadNorBound: a local input file that is a
// symbolic link out of the mesh folder is an error at its uri, and validate
// does not read it to bind the SQL, so that no diagnostic shows what the
// file outside holds (here a column name the SQL nearly names).
func TestALinkedInputIsNeitherReadNorBound(t *testing.T) {
	dir := meshtest.CopyExample(t, meshtest.WithData())
	outside := filepath.Join(t.TempDir(), "fx.csv")
	if err := os.WriteFile(outside, []byte("day,currency,usd_rate,secret_column_xyz\n2026-01-01,EUR,1.1,42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fx := filepath.Join(dir, "data", "finance", "fx.csv")
	if err := os.Remove(fx); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, fx); err != nil {
		t.Fatal(err)
	}
	meshtest.Edit(t, dir, "finance/fx-rates.yaml", "SELECT day, currency, usd_rate FROM rates", "SELECT day, currency, secret_column_xy FROM rates")
	res := Check(t.Context(), dir)
	found := false
	for _, d := range res.Diagnostics.Items() {
		if strings.Contains(d.Message+d.Hint, "secret_column_xyz") {
			t.Errorf("a diagnostic shows the linked file's content: %s (%s)", d.Message, d.Hint)
		}
		if d.Code == "file-outside-mesh" && strings.HasSuffix(d.File, "fx-rates.yaml") && strings.Contains(d.Message, outside) {
			found = true
		}
	}
	if !found {
		t.Errorf("no file-outside-mesh error at fx-rates.yaml's input: %v", res.Diagnostics.Err())
	}
}
