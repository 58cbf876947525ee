package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Status is the outcome of one rule.
type Status string

// The rule statuses. Error means the rule could not be evaluated to the end (its
// cost limit or the dataset budget ran out, or a dataset rule hit an error): it
// fails closed and blocks publication whatever its severity. Skipped means a
// dataset rule reads the product's history and the history lacks what it reads
// (no version is published yet, or none had the column): it neither passes nor
// blocks.
const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusWarn    Status = "warn"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
)

// Engine says what evaluated a rule.
type Engine string

// The engines: DuckDB SQL translated from CEL, cel-go, or meshflow's built-in
// anomaly checks.
const (
	EngineSQL     Engine = "sql"
	EngineCEL     Engine = "cel"
	EngineBuiltin Engine = "builtin"
)

// Report is the outcome of evaluating a rule set over a table. It is meant to be
// stored next to the data as JSON. Rows == Passing + Quarantined always holds.
type Report struct {
	Table string `json:"table"`
	// Rows is the number of rows in the table.
	Rows int64 `json:"rows"`
	// Passing is the number of rows that fail no error-severity row rule.
	Passing int64 `json:"passing"`
	// Quarantined is the number of rows that fail at least one error-severity row
	// rule, whether or not the rule is within its threshold.
	Quarantined int64 `json:"quarantined"`
	// CELCost is the CEL cost spent by rules evaluated with cel-go.
	CELCost uint64       `json:"cel_cost"`
	Rules   []RuleResult `json:"rules"`
	// History is the product's history the dataset rules read, if any.
	History *History `json:"history,omitempty"`
	// Anomalies are the built-in anomaly warnings (AddAnomalies).
	Anomalies []Anomaly `json:"anomalies,omitempty"`
}

// AddAnomalies records anomaly warnings in the report: in Anomalies, and each
// as a warning rule of its own (Anomaly.ID, engine builtin, status warn), so
// that they count as warnings wherever rules are counted.
func (r *Report) AddAnomalies(as []Anomaly) {
	for _, a := range as {
		r.Anomalies = append(r.Anomalies, a)
		r.Rules = append(r.Rules, RuleResult{ID: a.ID(), Column: a.Column, Kind: Dataset, Severity: Warning,
			Engine: EngineBuiltin, Status: StatusWarn, Message: a.Message})
	}
}

// RuleResult is the outcome of one rule.
type RuleResult struct {
	ID       string   `json:"id"`
	Column   string   `json:"column,omitempty"`
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	Engine   Engine   `json:"engine"`
	// Fallback says why a row rule was evaluated by cel-go instead of SQL.
	Fallback string `json:"fallback,omitempty"`
	// Checked is the number of rows on which a row rule evaluated to true or
	// false; on the others it was unknown (an operand was null, or another
	// evaluation error), which does not fail the row.
	Checked int64 `json:"checked"`
	// Failing is the number of rows on which a row rule evaluated to false.
	Failing int64 `json:"failing"`
	// FailingFraction is Failing divided by the table's rows (0 for no rows).
	FailingFraction float64 `json:"failing_fraction"`
	Status          Status  `json:"status"`
	Message         string  `json:"message,omitempty"`
	// Samples are failing rows, with every column, in table order.
	Samples []map[string]any `json:"samples,omitempty"`
}

// Blocked reports whether the report blocks publication: an error-severity rule
// failed, or any rule could not be evaluated.
func (r *Report) Blocked() bool {
	for _, x := range r.Rules {
		if x.Status == StatusError || x.Status == StatusFail && x.Severity == Error {
			return true
		}
	}
	return false
}

// Rule returns the result of the rule with the given ID, or nil.
func (r *Report) Rule(id string) *RuleResult {
	for i := range r.Rules {
		if r.Rules[i].ID == id {
			return &r.Rules[i]
		}
	}
	return nil
}

// jsonValue turns a value read from DuckDB into one encoding/json can encode.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, []byte, time.Time,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return v
	case float32:
		return jsonValue(float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	case fmt.Stringer:
		return v.String()
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}
