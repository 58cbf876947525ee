package spec

import (
	"strings"
	"testing"
)

const baseMesh = `apiVersion: meshflow/v1
kind: Mesh
metadata: {name: test-mesh}
domains:
  - {name: sales, owners: [sales-team], stewards: [ana]}
  - {name: finance, owners: [finance-team], stewards: [bo]}
principals:
  - {name: ana, roles: [steward]}
  - {name: bo, roles: [steward]}
  - {name: sales-team, kind: team, members: [ana]}
  - {name: finance-team, kind: team, members: [bo]}
glossary:
  - {term: revenue, definition: Money in.}
`

const baseContract = `apiVersion: v3.1.0
kind: DataContract
id: c1
version: 1.0.0
status: active
schema:
  - name: t
    properties:
      - {name: amount, logicalType: number}
`

func productSpec(domain, name, inputs string) string {
	return `apiVersion: meshflow/v1
kind: DataProduct
metadata: {name: ` + name + `, domain: ` + domain + `, owner: ana, description: d}
inputs:
` + inputs + `
transform:
  sql: SELECT 1 AS amount
contract: c.odcs.yaml
`
}

func TestBrokenMeshes(t *testing.T) {
	okInput := "  - {name: orders, uri: file://data/o.csv}"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "unknown key and wrong type in a product",
			files: map[string]string{
				"sales/p.yaml": strings.Replace(productSpec("sales", "orders", okInput), "transform:", "transfrom:\n  sql: x\nschedule: {cron: [5]}\ngovernance: {quorum: two}\ntransform:", 1),
			},
			want: `sales/p.yaml:6:1 error unknown-key: unknown key "transfrom"
sales/p.yaml:8:18 error wrong-type: expected a string for "cron", found a list
sales/p.yaml:9:22 error wrong-type: expected a whole number for "quorum", found "two"
`,
		},
		{
			name: "bad rows on inputs that have none, and an unknown mode",
			files: map[string]string{
				"sales/p.yaml": productSpec("sales", "orders", `  - {name: a, uri: file://data/o.csv, badRows: quarantine}
  - {name: b, uri: file://data/o.parquet, badRows: quarantine}
  - {name: c, uri: file://data/o.jsonl, badRows: skip}`),
			},
			want: `sales/p.yaml:6:52 error bad-value: input "b" is not CSV or JSON lines, so it has no bad rows to quarantine
sales/p.yaml:7:50 error bad-value: unknown badRows mode "skip"
`,
		},
		{
			name: "missing required keys",
			files: map[string]string{
				"sales/p.yaml": "apiVersion: meshflow/v1\nkind: DataProduct\nmetadata: {name: orders, domain: sales}\n",
			},
			want: `sales/p.yaml:1:1 error missing-key: missing required key "contract"
sales/p.yaml:1:1 error missing-key: missing required key "inputs"
sales/p.yaml:1:1 error missing-key: missing required key "transform"
sales/p.yaml:3:11 error missing-key: missing required key "owner" in "metadata"
`,
		},
		{
			name: "pins that are not major versions, and a pin on a uri",
			files: map[string]string{
				"sales/up.yaml": productSpec("sales", "upstream", okInput),
				"sales/p.yaml": productSpec("sales", "orders", `  - {name: a, product: sales/upstream@0}
  - {name: b, product: sales/upstream@v2}
  - {name: c, product: sales/upstream@}
  - {name: d, uri: file://data/o.csv@1, format: csv}
  - {name: e, product: sales/upstream@2}
  - {name: f, product: sales/nothing@1}`),
			},
			want: `sales/p.yaml:5:24 error bad-pin: input "a" pins "0", which is not a major version number (1 or more)
sales/p.yaml:6:24 error bad-pin: input "b" pins "v2", which is not a major version number (1 or more)
sales/p.yaml:7:24 error bad-pin: input "c" pins "", which is not a major version number (1 or more)
sales/p.yaml:8:20 error bad-pin: input "d" pins a major version on a uri, which has none
sales/p.yaml:10:24 error unknown-product: input "f" reads unknown product "sales/nothing"
`,
		},
		{
			name: "unknown domain, owner, steward and product",
			files: map[string]string{
				"sales/p.yaml": strings.Replace(strings.Replace(productSpec("salez", "orders", "  - {name: fx, product: finance/fx}"),
					"owner: ana", "owner: anna", 1), "contract: c.odcs.yaml", "contract: c.odcs.yaml\ngovernance: {approval: always, stewards: [carl]}", 1),
			},
			want: `sales/p.yaml:3:34 error unknown-domain: unknown domain "salez"
sales/p.yaml:3:48 error unknown-principal: unknown principal "anna"
sales/p.yaml:5:25 error unknown-product: input "fx" reads unknown product "finance/fx"
sales/p.yaml:9:43 error unknown-principal: unknown principal "carl"
`,
		},
		{
			name: "cycle between products",
			files: map[string]string{
				"sales/a.yaml":        productSpec("sales", "alpha", "  - {name: b, product: finance/beta}"),
				"finance/b.yaml":      productSpec("finance", "beta", "  - {name: a, product: sales/alpha}"),
				"finance/c.odcs.yaml": baseContract,
			},
			want: `sales/a.yaml:5:24 error cycle: products depend on each other in a cycle: finance/beta → sales/alpha → finance/beta
`,
		},
		{
			name: "unsafe names and bad input names",
			files: map[string]string{
				"sales/p.yaml": productSpec("sales", "Orders_2024", "  - {name: Order-Lines, uri: ftp://x/y.csv}"),
			},
			want: `sales/p.yaml:3:18 error unsafe-name: product name "Orders_2024" is not safe for object keys
sales/p.yaml:5:12 error bad-input-name: input name "Order-Lines" is not a plain SQL table name
sales/p.yaml:5:30 error bad-uri: input uri "ftp://x/y.csv" has no supported scheme
`,
		},
		{
			name: "PostgreSQL inputs",
			files: map[string]string{
				"sales/p.yaml": productSpec("sales", "orders", `  - {name: a, uri: "postgresql://db.sales:5432/sales"}
  - {name: b, uri: "postgresql://bob:s3cret@db.sales/sales", table: public.orders}
  - {name: c, uri: "postgres://db.sales/sales", table: "public.orders; drop"}
  - {name: d, uri: "postgresql://db.sales/sales", query: "SELECT 1; DELETE FROM orders"}
  - {name: e, uri: "postgresql://db.sales/sales", table: t, query: SELECT 1}
  - {name: f, uri: "postgresql://db.sales/sales?password=x", query: "UPDATE t SET a = 1", format: csv}
  - {name: g, uri: "file://data/g.csv", table: t}
  - {name: h, uri: "postgresql://bob@db.sales/sales", query: "SELECT ';' AS a -- ;\n;", header: false}
  - {name: i, uri: "postgresql://db.sales/sales?host=evil.example", table: t}
  - {name: j, uri: "postgresql://db1,db2/sales?PASSWORD=x", table: t}`),
			},
			want: `sales/p.yaml:5:5 error missing-key: PostgreSQL input "a" needs a table or a query
sales/p.yaml:6:20 error secret-in-spec: input "b": the PostgreSQL uri carries a password
sales/p.yaml:7:56 error bad-table: input "c": "public.orders; drop" is not a PostgreSQL table name
sales/p.yaml:8:58 error bad-query: input "d": the query holds more than one statement (a ; outside quotes)
sales/p.yaml:9:68 error conflict: PostgreSQL input "e" has both a table and a query
sales/p.yaml:10:20 error bad-uri: input "f": the PostgreSQL uri carries a "password" parameter; a spec may set only sslmode, connect_timeout, application_name
sales/p.yaml:10:69 error bad-query: input "f": the query is not a SELECT: it starts with UPDATE
sales/p.yaml:10:99 error bad-value: PostgreSQL input "f" cannot have format "csv"
sales/p.yaml:11:48 error bad-key: input "g" is not a PostgreSQL input: table does not apply
sales/p.yaml:12:97 error bad-key: PostgreSQL input "h": header does not apply
sales/p.yaml:13:20 error bad-uri: input "i": the PostgreSQL uri carries a "host" parameter; a spec may set only sslmode, connect_timeout, application_name
sales/p.yaml:14:20 error bad-uri: input "j": the PostgreSQL uri carries a "PASSWORD" parameter; a spec may set only sslmode, connect_timeout, application_name
`,
		},
		{
			name: "unknown glossary term in the contract",
			files: map[string]string{
				"sales/p.yaml":      productSpec("sales", "orders", okInput),
				"sales/c.odcs.yaml": strings.Replace(baseContract, "logicalType: number}", "logicalType: number, customProperties: [{property: glossaryTerm, value: revenu}]}", 1),
			},
			want: `sales/c.odcs.yaml:9:96 error unknown-term: column "amount" links to unknown glossary term "revenu"
`,
		},
		{
			name: "missing contract file and bad schedule",
			files: map[string]string{
				"sales/p.yaml": strings.Replace(productSpec("sales", "orders", okInput), "contract: c.odcs.yaml",
					"contract: missing.odcs.yaml\nschedule: {cron: \"61 * * * *\", timezone: Mars/Olympus}", 1),
			},
			want: `sales/p.yaml:8:11 error contract-missing: cannot read contract "missing.odcs.yaml": no such file or directory
sales/p.yaml:9:18 error bad-cron: "61 * * * *" is not a cron expression: end of range (61) above maximum (59): 61
sales/p.yaml:9:42 error bad-timezone: unknown time zone "Mars/Olympus"
`,
		},
		{
			name: "bad schedule options",
			files: map[string]string{
				"sales/p.yaml": productSpec("sales", "orders", okInput) +
					"schedule: {cron: \"CRON_TZ=UTC 0 6 * * *\", overlap: buffer, catchupWindow: 5s, jitter: soon, paused: maybe}\n",
			},
			want: `sales/p.yaml:9:18 error bad-cron: "CRON_TZ=UTC 0 6 * * *" names its time zone in the cron expression
sales/p.yaml:9:52 error bad-value: unknown overlap policy "buffer"
sales/p.yaml:9:75 error bad-duration: catch-up window 5s is shorter than 10s
sales/p.yaml:9:87 error bad-duration: "soon" is not a duration
sales/p.yaml:9:101 error wrong-type: expected true or false for "paused", found "maybe"
`,
		},
		{
			name: "bad output.unchanged",
			files: map[string]string{
				"sales/p.yaml": productSpec("sales", "orders", okInput) + "output: {unchanged: always}\n",
			},
			want: `sales/p.yaml:9:21 error bad-value: unknown output.unchanged "always"
`,
		},
		{
			name: "malformed token hashes",
			files: map[string]string{
				"mesh.yaml": strings.Replace(strings.Replace(baseMesh,
					"{name: ana, roles: [steward]}", "{name: ana, roles: [steward], tokenHash: \"sha256:"+strings.Repeat("ab", 32)+"\"}", 1),
					"{name: bo, roles: [steward]}", "{name: bo, roles: [steward], tokenHash: \"sha256:"+strings.Repeat("AB", 32)+"\"}", 1),
				"sales/p.yaml": productSpec("sales", "orders", okInput),
			},
			want: `mesh.yaml:9:45 error bad-token-hash: tokenHash of "bo" is not sha256:<64 lower-case hex digits>
`,
		},
		{
			name: "bad notifications",
			files: map[string]string{
				"mesh.yaml": baseMesh + `notifications:
  - name: stewards
    webhook: http://hooks.example.com/T000
    format: markdown
    events: [approval-requestd, published]
    domains: [finanse]
  - name: stewards
    email: [maria.rossi@acme.example, "Maria <m@x>", not-an-address]
  - name: nobody
    events: [failed]
  - name: both
    webhook: https://hooks.example.com/T000
    email: [maria.rossi@acme.example]
    events: []
  - {name: local, webhook: "http://127.0.0.1:9000/hook", events: [failed]}
`,
				"sales/p.yaml": productSpec("sales", "orders", okInput),
			},
			want: `mesh.yaml:16:14 error bad-webhook: webhook of "stewards": "http://hooks.example.com/T000" is http: events would cross the network unencrypted
mesh.yaml:17:13 error bad-value: unknown notification format "markdown"
mesh.yaml:18:14 error unknown-event: unknown event "approval-requestd"
mesh.yaml:19:15 error unknown-domain: unknown domain "finanse"
mesh.yaml:20:5 error missing-key: missing required key "events" in "notifications"
mesh.yaml:20:11 error duplicate-notification: notification "stewards" is defined twice
mesh.yaml:21:39 error bad-email: e-mail address "Maria <m@x>" of "stewards" is not an address
mesh.yaml:21:54 error bad-email: e-mail address "not-an-address" of "stewards" is not an address
mesh.yaml:22:5 error no-channel: notification "nobody" has neither a webhook nor e-mail addresses
mesh.yaml:26:12 error two-channels: notification "both" has both a webhook and e-mail addresses
mesh.yaml:27:13 error no-events: notification "both" routes no events
`,
		},
		{
			name: "YAML syntax error",
			files: map[string]string{
				"sales/p.yaml": "apiVersion: meshflow/v1\nkind: DataProduct\nmetadata: {name: x\n",
			},
			want: "sales/p.yaml:3:1 error yaml-syntax: YAML syntax error: did not find expected ',' or '}'\n",
		},
	}
	cases = append(cases, struct {
		name  string
		files map[string]string
		want  string
	}{
		name: "partitions: bad grain, start, lookback and column; placeholders that do not fit",
		files: map[string]string{
			"sales/p.yaml": strings.Replace(productSpec("sales", "orders", `  - {name: a, uri: "file://data/orders/day={week}/", format: csv}
  - {name: b, uri: "file://data/orders/{hour}/", format: csv}`), "contract: c.odcs.yaml",
				"contract: c.odcs.yaml\npartitions: {by: day, column: amount, start: 2026-13-01, lookback: -1, maxParallel: 999}", 1),
			"sales/q.yaml": productSpec("sales", "flat", `  - {name: a, uri: "file://data/orders/day={day}/", format: csv}`),
			"sales/r.yaml": strings.Replace(productSpec("sales", "weekly", `  - {name: a, uri: "file://data/o.csv"}`), "contract: c.odcs.yaml",
				"contract: c.odcs.yaml\npartitions: {by: week, column: day, start: 2026-01-01}", 1),
		},
		want: `sales/p.yaml:5:20 error bad-placeholder: input uri "file://data/orders/day={week}/" has the unknown placeholder {week}: write {hour}, {day} or {month}
sales/p.yaml:6:20 error bad-placeholder: input "b" is split by hour, the product by day
sales/p.yaml:10:31 error bad-partition-column: column "amount" has logicalType "number"
sales/p.yaml:10:46 error bad-value: "2026-13-01" is not a day partition key: write it like 2026-09-01
sales/p.yaml:10:68 error bad-value: lookback -1 is negative
sales/p.yaml:10:85 error bad-value: maxParallel 999 is out of range
sales/q.yaml:5:20 error bad-placeholder: input "a" marks a partition key, but the product is not partitioned
sales/r.yaml:9:18 error bad-value: unknown partition grain "week"
`,
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"mesh.yaml": baseMesh}
			if _, ok := tc.files["sales/c.odcs.yaml"]; !ok {
				files["sales/c.odcs.yaml"] = baseContract
			}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeMesh(t, files)
			_, ds := Load(dir)
			if got := render(dir, ds); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestBadTokenHashHint(t *testing.T) {
	mesh := strings.Replace(baseMesh, "{name: ana, roles: [steward]}", "{name: ana, roles: [steward], tokenHash: abc}", 1)
	dir := writeMesh(t, map[string]string{"mesh.yaml": mesh})
	_, ds := Load(dir)
	for _, d := range ds.Items() {
		if d.Code == "bad-token-hash" {
			if want := "run `meshflow token new ana` and paste the tokenHash line it prints"; d.Hint != want {
				t.Errorf("hint %q, want %q", d.Hint, want)
			}
			return
		}
	}
	t.Fatalf("no bad-token-hash error in:\n%s", render(dir, ds))
}

// TestPinnedInput: a product input pinned to a major version loads as the
// product's reference and the major; the product's consumers include it.
func TestPinnedInput(t *testing.T) {
	dir := writeMesh(t, map[string]string{
		"mesh.yaml":         baseMesh,
		"sales/c.odcs.yaml": baseContract,
		"sales/up.yaml":     productSpec("sales", "upstream", "  - {name: orders, uri: file://data/o.csv}"),
		"sales/p.yaml":      productSpec("sales", "orders", "  - {name: up, product: sales/upstream@2}"),
	})
	set, ds := Load(dir)
	if ds.HasErrors() {
		t.Fatal(render(dir, ds))
	}
	in := set.Product("sales/orders").Inputs[0]
	if in.Product != "sales/upstream" || in.Major != 2 || in.Pin != "@2" {
		t.Errorf("input = %+v, want sales/upstream pinned to 2", in)
	}
	if cs := set.Consumers("sales/upstream"); len(cs) != 1 || cs[0].Ref() != "sales/orders" {
		t.Errorf("consumers of sales/upstream = %v, want sales/orders", cs)
	}
}
