package rules

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

var diffCols = []Column{
	{Name: "id", Type: Int},
	{Name: "i", Type: Int, Nullable: true},
	{Name: "j", Type: Int},
	{Name: "d", Type: Double, Nullable: true},
	{Name: "e", Type: Double},
	{Name: "s", Type: String, Nullable: true},
	{Name: "u", Type: String},
	{Name: "b", Type: Bool, Nullable: true},
	{Name: "ts", Type: Timestamp, Nullable: true},
	{Name: "tz", Type: Timestamp, Nullable: true},
	{Name: "dt", Type: Timestamp},
	{Name: "n", Type: Int}, // an INTEGER column
}

// gen generates well-typed random CEL expressions over diffCols.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) boolean(depth int) string {
	if depth <= 0 {
		return g.pick("b", "true", "false", "i == null", "s != null", "b == null", "ts == null", "d != null")
	}
	d := depth - 1
	switch g.r.IntN(14) {
	case 0:
		return g.integer(d) + " " + g.cmp() + " " + g.integer(d)
	case 1:
		return g.double(d) + " " + g.cmp() + " " + g.double(d)
	case 2:
		return g.str(d) + " " + g.cmp() + " " + g.str(d)
	case 3:
		return "(" + g.boolean(d) + " && " + g.boolean(d) + ")"
	case 4:
		return "(" + g.boolean(d) + " || " + g.boolean(d) + ")"
	case 5:
		return "!(" + g.boolean(d) + ")"
	case 6:
		return g.integer(d) + " in [" + g.intLit() + ", " + g.pick(g.intLit(), "null") + "]"
	case 7:
		return g.str(d) + " in [" + g.strLit() + ", " + g.strLit() + "]"
	case 8:
		return g.str(d) + "." + g.pick("contains", "startsWith", "endsWith") + "(" + g.str(d) + ")"
	case 9:
		return g.str(d) + ".matches(" + g.pick(`"^a"`, `"b$"`, `"[@']"`, `"^$"`, `"(?i)X"`, `"ü."`, `"a.b"`, `"\\d+"`) + ")"
	case 10:
		return "(" + g.boolean(d) + " ? " + g.boolean(d) + " : " + g.boolean(d) + ")"
	case 11:
		return g.pick("ts", "tz", "dt") + " " + g.cmp() + " " + g.pick("ts", "tz", "dt", g.tsLit(), g.tsLit())
	case 12:
		x := g.pick("b", "i", "d", "s", "ts", "tz")
		if g.r.IntN(2) == 0 {
			return "null" + g.pick(" == ", " != ") + x
		}
		return x + g.pick(" == ", " != ") + "null"
	default:
		return g.pick("b == true", "b != false", "b == b", "i == j", "d == e", "s == u", "ts == tz")
	}
}

func (g gen) cmp() string { return g.pick("==", "!=", "<", "<=", ">", ">=") }

func (g gen) intLit() string {
	return g.pick("0", "1", "-1", "7", "9223372036854775807", "-9223372036854775807", "1099511627776", "42")
}

func (g gen) strLit() string {
	return g.pick(`""`, `"a"`, `"x@y"`, `"ünï"`, `"it's"`, `"%_"`, `"abc"`, `"a\nb"`, `'"q"'`)
}

func (g gen) tsLit() string {
	return g.pick(`timestamp("2024-01-01T00:00:00Z")`, `timestamp("2023-06-30T23:59:59.5+02:00")`, `timestamp("1970-01-01T00:00:00Z")`)
}

func (g gen) integer(depth int) string {
	if depth <= 0 {
		return g.pick("i", "j", "n", "id", g.intLit())
	}
	d := depth - 1
	switch g.r.IntN(8) {
	case 0, 1:
		return "(" + g.integer(d) + " " + g.pick("+", "-", "*") + " " + g.integer(d) + ")"
	case 2:
		return "-" + g.integer(d)
	case 3:
		return "size(" + g.str(d) + ")"
	case 4:
		return "int(" + g.pick("d", "e", "(d * 0.5)", "-2.75") + ")"
	case 5:
		return "(" + g.boolean(d) + " ? " + g.integer(d) + " : " + g.integer(d) + ")"
	case 6:
		return "(" + g.integer(d) + " " + g.pick("/", "%") + " " + g.integer(d) + ")"
	default:
		return g.integer(0)
	}
}

func (g gen) double(depth int) string {
	if depth <= 0 {
		return g.pick("d", "e", "0.0", "1.5", "-2.25", "1e308", "3.0")
	}
	d := depth - 1
	switch g.r.IntN(6) {
	case 0, 1:
		return "(" + g.double(d) + " " + g.pick("+", "-", "*", "/") + " " + g.double(d) + ")"
	case 2:
		return "double(" + g.integer(d) + ")"
	case 3:
		return "(" + g.boolean(d) + " ? " + g.double(d) + " : " + g.double(d) + ")"
	default:
		return g.double(0)
	}
}

func (g gen) str(depth int) string {
	if depth <= 0 {
		return g.pick("s", "u", g.strLit())
	}
	d := depth - 1
	switch g.r.IntN(5) {
	case 0:
		return "(" + g.str(d) + " + " + g.str(d) + ")"
	case 1:
		return "string(" + g.pick(g.integer(d), g.boolean(d)) + ")"
	default:
		return g.str(0)
	}
}

func diffTable(t testing.TB, r *rand.Rand, rows int) *sql.DB {
	db := openDB(t)
	exec(t, db, `CREATE TABLE t (id BIGINT, i BIGINT, j BIGINT, d DOUBLE, e DOUBLE, s VARCHAR, u VARCHAR, b BOOLEAN,
		ts TIMESTAMP, tz TIMESTAMPTZ, dt DATE, n INTEGER)`)
	ints := []any{int64(0), int64(1), int64(-1), int64(7), int64(math.MaxInt64), int64(math.MinInt64), int64(1 << 40), int64(42)}
	dbls := []any{0.0, math.Copysign(0, -1), 1.5, -2.25, 1e308, math.Inf(1), math.Inf(-1), math.NaN(), 3.0}
	strs := []any{"", "a", "x@y", "ünï", "it's", "a\nb", "%_", "abc", "ab", "XbX", "123"}
	tss := []any{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 6, 30, 21, 59, 59, 500000000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 12, 31, 23, 0, 0, 123000, time.UTC),
	}
	pick := func(xs []any, nullable bool) any {
		if nullable && r.IntN(5) == 0 {
			return nil
		}
		return xs[r.IntN(len(xs))]
	}
	for id := range rows {
		_, err := db.Exec("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", int64(id),
			pick(ints, true), pick(ints, false), pick(dbls, true), pick(dbls, false), pick(strs, true), pick(strs, false),
			pick([]any{true, false}, true), pick(tss, true), pick(tss, true), pick(tss, false), int32(r.IntN(5)-2))
		if err != nil {
			t.Fatal(err)
		}
	}
	exec(t, db, "UPDATE t SET dt = CAST(dt AS DATE)")
	return db
}

// TestDifferential checks that, for random expressions the translator accepts,
// DuckDB computes the same three-valued result on every row as cel-go.
func TestDifferential(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 100
	}
	seed := uint64(1)
	if v := os.Getenv("RULES_DIFF_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
		n = 3000
	}
	differential(t, rand.New(rand.NewPCG(seed, 2)), n)
}

func differential(t testing.TB, r *rand.Rand, n int) {
	db := diffTable(t, r, 60)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ev := &evaluation{set: &Set{cols: diffCols}, conn: conn, table: "t"}
	tr, err := ev.translator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, conn)
	g := gen{r}
	var compared, untranslated, raised, bad int
	for range n {
		expr := g.boolean(3)
		var ds diag.List
		set := Compile(diffCols, []Rule{{ID: "r", Expr: expr}}, Options{}, &ds)
		if ds.HasErrors() {
			// Constant folding can find an error (int(1e308)): fine, but rare.
			if bad++; bad > n/20 {
				t.Fatalf("generated %s: %v", expr, ds.Err())
			}
			continue
		}
		rule := set.rules[0]
		pred, err := tr.rule(rule.ast.NativeRep().Expr())
		if err != nil {
			if !isUntranslatable(err) {
				t.Fatal(err)
			}
			untranslated++
			continue
		}
		got, err := sqlResults(conn, pred)
		if err != nil {
			raised++ // Evaluate falls back to cel-go for this rule.
			continue
		}
		compared++
		for k, row := range rows {
			want := celResult(rule, row)
			if got[k] != want {
				t.Errorf("%s\nrow %v\nSQL %s\nSQL says %s, cel-go says %s", expr, row, pred, got[k], want)
				break
			}
		}
	}
	t.Logf("%d expressions: %d compared, %d not translated, %d raised in DuckDB, %d did not compile", n, compared, untranslated, raised, bad)
	if compared < n/3 {
		t.Errorf("only %d of %d expressions were translated and compared", compared, n)
	}
}

func readAll(t testing.TB, conn *sql.Conn) [][]any {
	names := make([]string, len(diffCols))
	for i, c := range diffCols {
		names[i] = quoteIdent(c.Name)
	}
	rows, err := conn.QueryContext(context.Background(), "SELECT "+strings.Join(names, ", ")+" FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(diffCols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	return out
}

func sqlResults(conn *sql.Conn, pred string) ([]string, error) {
	rows, err := conn.QueryContext(context.Background(), "SELECT "+pred+" FROM t ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullBool
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, map[bool]string{true: fmt.Sprint(v.Bool), false: "unknown"}[v.Valid])
	}
	return out, rows.Err()
}

func celResult(r *compiled, row []any) string {
	act := &rowActivation{idx: map[string]int{}, vals: make([]ref.Val, len(diffCols))}
	for i, c := range diffCols {
		act.idx[c.Name] = i
		act.vals[i] = celValue(c.Type, row[i])
	}
	out, _, err := r.prg.ContextEval(context.Background(), act)
	switch {
	case err != nil:
		return "unknown"
	case out == types.True:
		return "true"
	case out == types.False:
		return "false"
	}
	return "unknown"
}
