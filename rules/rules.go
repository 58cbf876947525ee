package rules

import (
	"encoding/json"
	"fmt"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// Type is the CEL-facing type of a column.
type Type int

// The column types. Timestamp covers DuckDB TIMESTAMP, TIMESTAMPTZ and DATE, which
// rules see as google.protobuf.Timestamp. Dyn is for columns of any other type: they
// are declared dyn and rules using them are always evaluated by cel-go.
const (
	Dyn Type = iota
	Int
	Double
	String
	Bool
	Timestamp
	Bytes
)

var typeNames = [...]string{Dyn: "dyn", Int: "int", Double: "double", String: "string", Bool: "bool", Timestamp: "timestamp", Bytes: "bytes"}

// String returns the CEL name of the type.
func (t Type) String() string {
	if t < 0 || int(t) >= len(typeNames) {
		return fmt.Sprintf("Type(%d)", int(t))
	}
	return typeNames[t]
}

// Column describes one column of the table the rules run over.
type Column struct {
	Name     string
	Type     Type
	Nullable bool
}

// Kind says whether a rule sees one row or the aggregates of the whole table.
type Kind int

// The rule kinds.
const (
	Row Kind = iota
	Dataset
)

// String returns "row" or "dataset".
func (k Kind) String() string {
	if k == Dataset {
		return "dataset"
	}
	return "row"
}

// MarshalJSON encodes the kind by name.
func (k Kind) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// UnmarshalJSON decodes a kind written by MarshalJSON.
func (k *Kind) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	switch name {
	case "row":
		*k = Row
	case "dataset":
		*k = Dataset
	default:
		return fmt.Errorf("rule kind %q is not row or dataset", name)
	}
	return nil
}

// Severity says what a failing rule does to publication.
type Severity int

// The severities: a failing Error rule blocks publication, a failing Warning rule is
// only reported.
const (
	Error Severity = iota
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalJSON encodes the severity by name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON decodes a severity written by MarshalJSON.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	switch name {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("rule severity %q is not error or warning", name)
	}
	return nil
}

// Threshold is how many failing rows a row rule tolerates: at most Max rows, or at
// most Max percent of the rows when Percent is set.
type Threshold struct {
	Max     float64
	Percent bool
}

// allows reports whether failing rows out of rows are within the threshold. A nil
// threshold allows no failing row.
func (t *Threshold) allows(failing, rows int64) bool {
	if t == nil {
		return failing == 0
	}
	if t.Percent {
		return rows == 0 || float64(failing)*100 <= t.Max*float64(rows)
	}
	return float64(failing) <= t.Max
}

// Rule is one CEL integrity rule.
type Rule struct {
	// ID is unique in a set. Reports name rules by ID, and dataset rules read row
	// rules' results as failing_fraction.<ID>.
	ID string
	// Column is set for property-level rules, which are always row rules; it is ""
	// for schema-level rules.
	Column string
	// Expr is the CEL source.
	Expr     string
	Severity Severity
	// Threshold applies to row rules only; nil means no failing row is allowed.
	Threshold *Threshold
	// Locate maps a 1-based line and column inside Expr to a position in the file
	// the rule came from. When nil, problems are reported at Pos.
	Locate func(line, col int) diag.Pos
	// Pos is where the rule is, for problems that are not inside the expression.
	Pos diag.Pos
}

// at returns the file position of a 1-based line and column inside the expression.
func (r *Rule) at(line, col int) diag.Pos {
	if r.Locate == nil || line <= 0 {
		return r.Pos
	}
	return r.Locate(line, max(col, 1))
}

// Options bound the cost of rules. The zero value of a field means its default.
type Options struct {
	// RuleCostLimit is the CEL cost one rule may spend on one row (or, for a dataset
	// rule, on its single evaluation). Default 1,000,000.
	RuleCostLimit uint64
	// DatasetBudget is the total CEL cost all rules evaluated by cel-go may spend on
	// one Evaluate call. Default 10,000,000,000 (minutes of CPU, not hours).
	DatasetBudget uint64
	// EstimateLimit is the largest static worst-case cost per row accepted by
	// Compile. Default: RuleCostLimit.
	EstimateLimit uint64
	// MaxStringLength is the string and bytes length the static estimate assumes
	// for column values. Default 65,536.
	MaxStringLength uint64
	// SampleSize is how many failing rows a report keeps per rule. Default 5; a
	// negative value keeps none.
	SampleSize int
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions() Options {
	return Options{
		RuleCostLimit:   1_000_000,
		DatasetBudget:   10_000_000_000,
		EstimateLimit:   1_000_000,
		MaxStringLength: 65_536,
		SampleSize:      5,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.RuleCostLimit == 0 {
		o.RuleCostLimit = d.RuleCostLimit
	}
	if o.DatasetBudget == 0 {
		o.DatasetBudget = d.DatasetBudget
	}
	if o.EstimateLimit == 0 {
		o.EstimateLimit = o.RuleCostLimit
	}
	if o.MaxStringLength == 0 {
		o.MaxStringLength = d.MaxStringLength
	}
	if o.SampleSize == 0 {
		o.SampleSize = d.SampleSize
	}
	if o.SampleSize < 0 {
		o.SampleSize = 0
	}
	return o
}
