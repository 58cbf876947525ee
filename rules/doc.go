// Package rules compiles and evaluates the CEL integrity rules of a data product
// over a table held in DuckDB.
//
// Compile type-checks rules at validate time against the table's columns and
// reports every problem, positioned inside the rule's expression. Evaluate then
// checks a table: row rules that the translator understands become DuckDB SQL and
// are counted in one scan; the rest are evaluated row by row by cel-go, whose
// semantics are the reference. The package knows nothing of contracts: callers map
// their schema and quality sections to Column and Rule.
//
// # Row and dataset rules
//
// Row rules see one row: each column whose name is a CEL identifier (and not a
// CEL keyword or type name such as int or string) is a top-level variable, typed
// from Column.Type; every column, whatever its name, is also in the map variable
// row (row["order id"], row.amount), unless a column is itself named row.
// Nullable columns have nullable CEL types, so `email == null` type-checks.
//
// Dataset rules see aggregates: row_count (int), and maps keyed by column name
// null_count, distinct_count, duplicate_count (non-null count minus distinct
// count), min and max (dyn), plus failing_fraction keyed by row rule ID (double,
// failing rows divided by rows, 0 for an empty table). A rule with a Column is a
// row rule; a rule without one is a dataset rule when it reads any of those names
// and no column, and a row rule otherwise. Constant keys on these maps must name
// columns or row rules (checked at compile time); only the aggregates rules read
// are computed, in the same SQL scan as the translated row rules.
//
// # History
//
// Dataset rules also see history (a History): the aggregates of the product's
// latest published versions, at most HistoryVersions, which the caller reads and
// passes in EvalOptions.History (or to Judge). history.versions is their number;
// history.row_count, history.columns.<column>.null_fraction, .min and .max are
// Stats of each version's row count, null fraction, minimum and maximum, with the
// fields n, last, mean, median, stddev (population), mad, min and max. History is
// a CEL object type (rules.History), so a misspelt field is a type error at
// compile time, positioned like any other, and a constant column key of
// history.columns must name a column. A rule reading history is a dataset rule;
// when the history is nil, or lacks a figure the rule reads (no version had the
// column, or a null fraction, minimum or maximum of it), the rule is not
// evaluated and its status is skipped, which does not block. A failing rule's
// message names the history figures it read.
//
// The built-in anomaly checks (History.Anomalies) need AnomalyMinVersions
// versions: they score the candidate's row count and each column's null
// fraction by the modified z-score 0.6745*(x-median)/MAD over the history and
// flag scores beyond AnomalyThreshold, with the MAD floored (VolumeMADFloor,
// NullRateMADFloor) so that constant histories do not flag tiny changes.
// Report.AddAnomalies records them as warning rules (engine builtin, status
// warn), so they count as warnings wherever rules are counted — which, under
// approval on-breaking-change, sends the run to its stewards. A contract turns
// them off with the custom property meshflow.anomalies: off (AnomaliesEnabled).
//
// # Nulls and errors
//
// A row fails a row rule only when the rule evaluates to false. When cel-go stops
// with an error on a row — an operand is null (null > 0), an integer division by
// zero or overflow, an invalid regular expression — or the rule returns null, the
// rule is unknown on that row and does not fail it, as NULL does not fail a SQL
// check. && and || absorb errors as CEL's commutative logic does (false && error
// is false), which is SQL's three-valued logic. x == null and x != null test for
// null; x == 5 is false when x is null (CEL's heterogeneous equality), and so is
// x in [1, 2]. Double division follows IEEE 754 (1.0/0.0 is +Inf, 0.0/0.0 is NaN)
// and every comparison with NaN except != is false. Integer overflow and int()
// of NaN or of a double out of range are errors, so unknown. RuleResult.Checked counts the
// rows on which a rule was true or false.
//
// A dataset rule is evaluated once; if it errors (say min of an all-null column
// compared with a number) or runs out of budget, its status is error.
//
// # Translation to SQL
//
// The translated subset: int, double, string, bool and null literals, columns
// (cast to BIGINT, DOUBLE, VARCHAR or BOOLEAN so arithmetic is 64-bit as in CEL),
// == != < <= > >= between operands of one type, + - * on numbers, + on strings,
// / on doubles when DuckDB's ieee_floating_point_ops is on, unary -, && || !,
// the conditional operator (CASE WHEN c THEN a WHEN NOT c THEN b END, so an
// unknown condition stays unknown), x in [literals], size, startsWith, endsWith,
// contains, matches with a literal RE2 pattern (DuckDB's regexp_matches is RE2
// with partial matching too), int(double) (truncating), double(int),
// string(int), string(bool), and timestamp("RFC 3339") literals compared with
// TIMESTAMP, TIMESTAMPTZ or DATE columns. Anything else — comprehensions,
// integer division and modulo, cross-type comparisons, bytes, dyn columns — is
// left to cel-go, and the report says so (Engine "cel" and Fallback). Integer
// arithmetic is computed in HUGEINT and made NULL outside the int64 range, which
// is CEL's overflow error. When DuckDB raises an error running a translation
// (say, a cast it refuses), that rule alone falls back to cel-go for the run. A
// differential test checks the translation against cel-go row by row on random
// expressions and data with nulls, NaN, infinities and extreme integers.
//
// # Cost
//
// Compile rejects a rule whose static worst-case cost per row, assuming strings
// of up to Options.MaxStringLength bytes, exceeds Options.EstimateLimit. At run
// time every cel-go evaluation has a cost limit (Options.RuleCostLimit), checks
// the caller's context, and adds its actual cost to a per-evaluation total capped
// by Options.DatasetBudget. A rule that exceeds either fails closed: its status
// is error, and any rule with status error blocks publication. Programs are
// compiled once per rule and cached by rule ID and a hash of the source, the
// columns and the limits; they are never compiled per row.
//
// # Reports and quarantine
//
// A row rule passes when its failing rows are within its Threshold (none by
// default); a failing error-severity rule has status fail and blocks
// publication, a failing warning rule has status warn. A row is quarantined when
// it fails any error-severity row rule, whether or not the rule is within its
// threshold: the threshold decides whether the product may be published, the
// quarantine keeps the bad rows out of it. Rows == Passing + Quarantined always.
// Evaluate can write the passing and the quarantined rows as Parquet files.
// Rules evaluated by cel-go identify quarantined rows by DuckDB's rowid; a view
// is first copied to a temporary table.
package rules
