package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

const benchTable = `CREATE TABLE orders AS SELECT
	i AS order_id,
	CASE WHEN hash(i, 1) % 1000 = 0 THEN -1.0 ELSE CAST(hash(i, 2) % 100000 AS DOUBLE) / 100 END AS amount,
	CAST(hash(i, 3) % 50 AS INTEGER) AS quantity,
	['CN', 'DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'XX'][CAST(1 + hash(i, 4) % 9 AS BIGINT)] AS country,
	CASE WHEN hash(i, 5) % 10 = 0 THEN NULL
		WHEN hash(i, 6) % 200 = 0 THEN 'user' || i || '.example.com'
		ELSE 'user' || i || '@example.com' END AS email,
	TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i, 7) % 31536000 AS BIGINT)) AS order_ts,
	['paid', 'shipped', 'cancelled', 'refunded'][CAST(1 + hash(i, 8) % 4 AS BIGINT)] AS status
FROM range(NROWS) t(i)`

var benchCols = []Column{
	{Name: "order_id", Type: Int},
	{Name: "amount", Type: Double},
	{Name: "quantity", Type: Int},
	{Name: "country", Type: String},
	{Name: "email", Type: String, Nullable: true},
	{Name: "order_ts", Type: Timestamp},
	{Name: "status", Type: String},
}

var benchRules = []Rule{
	{ID: "amount_nonneg", Expr: `amount >= 0.0`},
	{ID: "quantity_range", Expr: `quantity > 0 && quantity < 10000`, Threshold: &Threshold{Max: 5, Percent: true}},
	{ID: "country_known", Expr: `country in ["CN", "DE", "FR", "US", "GB", "JP", "BR", "IN"]`, Severity: Warning},
	{ID: "email_valid", Expr: `email == null || email.contains("@")`, Severity: Warning},
	{ID: "cancelled_zero", Expr: `status != "cancelled" || amount == 0.0`, Severity: Warning},
	{ID: "enough_rows", Expr: `row_count > 1000`},
	{ID: "few_missing_emails", Expr: `null_count.email * 100 / row_count < 20`},
	{ID: "few_negative", Expr: `failing_fraction.amount_nonneg < 0.01`},
}

// The same checks written by hand as one DuckDB query.
const benchSQL = `SELECT count(*),
	count(*) FILTER (WHERE NOT (amount >= 0)),
	count(*) FILTER (WHERE NOT (quantity > 0 AND quantity < 10000)),
	count(*) FILTER (WHERE country NOT IN ('CN', 'DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN')),
	count(*) FILTER (WHERE NOT (email IS NULL OR contains(email, '@'))),
	count(*) FILTER (WHERE NOT (status <> 'cancelled' OR amount = 0)),
	count(*) - count(email)
FROM orders`

// BenchmarkRulesVsSQL compares Set.Evaluate over 3,000,000 rows with the
// equivalent hand-written query, run side by side, and cel-go alone on a slice.
//
//	go test ./rules -run XXX -bench BenchmarkRulesVsSQL -benchtime 3x
func BenchmarkRulesVsSQL(b *testing.B) {
	ctx := context.Background()
	db := openDB(b)
	exec(b, db, strings.Replace(benchTable, "NROWS", "3000000", 1), "CREATE TABLE orders_slice AS SELECT * FROM orders LIMIT 100000")
	var ds diag.List
	set := Compile(benchCols, benchRules, Options{}, &ds)
	if ds.Len() > 0 {
		b.Fatal(ds.Err())
	}
	var rules, hand time.Duration
	var rep *Report
	for b.Loop() {
		start := time.Now()
		var err error
		if rep, err = set.Evaluate(ctx, db, "orders", EvalOptions{}); err != nil {
			b.Fatal(err)
		}
		rules += time.Since(start)
		start = time.Now()
		vals := make([]any, 7)
		ptrs := make([]any, 7)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := db.QueryRowContext(ctx, benchSQL).Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		hand += time.Since(start)
		for i, r := range rep.Rules[:5] {
			if want := toInt64(vals[i+1]); r.Failing != want || r.Engine != EngineSQL {
				b.Fatalf("%s: %d failing (%s), hand-written query says %d", r.ID, r.Failing, r.Engine, want)
			}
		}
	}
	start := time.Now()
	celRep, err := set.Evaluate(ctx, db, "orders_slice", EvalOptions{ForceCEL: true})
	if err != nil {
		b.Fatal(err)
	}
	celTime := time.Since(start)
	n := float64(b.N)
	ratio := rules.Seconds() / hand.Seconds()
	b.ReportMetric(rules.Seconds()*1000/n, "rules-ms/op")
	b.ReportMetric(hand.Seconds()*1000/n, "sql-ms/op")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(celTime.Seconds()*1000*30, "cel-ms/3M-rows")
	fmt.Printf("rows %d: Set.Evaluate %.1f ms, hand-written SQL %.1f ms, ratio %.2f; cel-go only: %.1f ms for %d rows (~%.0f ms for 3M); blocked %t, quarantined %d\n",
		rep.Rows, rules.Seconds()*1000/n, hand.Seconds()*1000/n, ratio, celTime.Seconds()*1000, celRep.Rows, celTime.Seconds()*1000*30, rep.Blocked(), rep.Quarantined)
	if rep.Rows != rep.Passing+rep.Quarantined {
		b.Fatalf("rows %d != passing %d + quarantined %d", rep.Rows, rep.Passing, rep.Quarantined)
	}
}
