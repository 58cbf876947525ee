package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// HistoryVersions is how many published versions a product's history holds: the
// latest 20, newest first.
const HistoryVersions = 20

// The built-in anomaly checks. A product whose history holds at least
// AnomalyMinVersions versions gets a warning when the modified z-score
// 0.6745*(x-median)/MAD of its row count, or of a column's null fraction,
// exceeds AnomalyThreshold in absolute value. The MAD (median absolute
// deviation) is floored so that a constant history does not flag a tiny
// change: for the row count at VolumeMADFloor of the median and at least one
// row, for null fractions at NullRateMADFloor (one percentage point). With a
// constant history, the row count is thus flagged when it moves by more than
// about 26% (3.5/0.6745*5%), a null fraction when it moves by more than about
// 5.2 percentage points.
const (
	AnomalyMinVersions = 5
	AnomalyThreshold   = 3.5
	VolumeMADFloor     = 0.05
	NullRateMADFloor   = 0.01
)

// The metrics of anomalies.
const (
	AnomalyRowCount     = "row_count"
	AnomalyNullFraction = "null_fraction"
)

// Observation is what history keeps of one version: its row count (the rows
// its rules saw, before quarantine) and, per column, the fraction of null values
// and the minimum and maximum of numeric columns. Nil means not known.
type Observation struct {
	Version string
	Rows    int64
	Columns map[string]ColumnObservation
}

// ColumnObservation is what history keeps of one column of one version.
type ColumnObservation struct {
	NullFraction *float64
	Min, Max     *float64
}

// Stats summarise one figure over the versions of a history that have it.
// Stddev is the population standard deviation (0 for one version) and MAD the
// median absolute deviation from the median, unscaled.
type Stats struct {
	// N is how many versions have the figure.
	N      int64   `cel:"n" json:"n"`
	Last   float64 `cel:"last" json:"last"`
	Mean   float64 `cel:"mean" json:"mean"`
	Median float64 `cel:"median" json:"median"`
	Stddev float64 `cel:"stddev" json:"stddev"`
	MAD    float64 `cel:"mad" json:"mad"`
	Min    float64 `cel:"min" json:"min"`
	Max    float64 `cel:"max" json:"max"`
}

// ColumnHistory is the history of one column: its null fraction, and the
// minimum and maximum of each version (so min.median is the median of the
// versions' minima).
type ColumnHistory struct {
	NullFraction Stats `cel:"null_fraction" json:"null_fraction"`
	Min          Stats `cel:"min" json:"min"`
	Max          Stats `cel:"max" json:"max"`
}

// History is the variable history of dataset rules: the aggregates of the
// latest published versions of the product (at most HistoryVersions), not
// counting the candidate. Rules read it as history.versions,
// history.row_count.median, history.columns.amount.null_fraction.max and so on.
type History struct {
	// Versions is how many versions the history holds.
	Versions int64 `cel:"versions" json:"versions"`
	// RowCount is the history of the row count.
	RowCount Stats `cel:"row_count" json:"row_count"`
	// Columns is keyed by column name; a column no version had is absent.
	Columns map[string]ColumnHistory `cel:"columns" json:"columns,omitempty"`

	// obs are the observations, newest first.
	obs []Observation
}

// NewHistory summarises observations of published versions, newest first. It
// returns nil for none: rules reading history are then skipped.
func NewHistory(obs []Observation) *History {
	if len(obs) == 0 {
		return nil
	}
	h := &History{Versions: int64(len(obs)), Columns: map[string]ColumnHistory{}, obs: slices.Clone(obs)}
	rows := make([]float64, len(obs))
	for i, o := range obs {
		rows[i] = float64(o.Rows)
	}
	h.RowCount = summarise(rows)
	var names []string
	for _, o := range obs {
		for name := range o.Columns {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	for _, name := range names {
		var nulls, mins, maxs []float64
		for _, o := range obs {
			c, ok := o.Columns[name]
			if !ok {
				continue
			}
			if c.NullFraction != nil {
				nulls = append(nulls, *c.NullFraction)
			}
			if c.Min != nil {
				mins = append(mins, *c.Min)
			}
			if c.Max != nil {
				maxs = append(maxs, *c.Max)
			}
		}
		h.Columns[name] = ColumnHistory{NullFraction: summarise(nulls), Min: summarise(mins), Max: summarise(maxs)}
	}
	return h
}

// summarise computes the statistics of values, newest first.
func summarise(values []float64) Stats {
	if len(values) == 0 {
		return Stats{}
	}
	s := Stats{N: int64(len(values)), Last: values[0], Min: math.Inf(1), Max: math.Inf(-1)}
	sum := 0.0
	for _, v := range values {
		sum += v
		s.Min, s.Max = math.Min(s.Min, v), math.Max(s.Max, v)
	}
	s.Mean = sum / float64(len(values))
	sq := 0.0
	for _, v := range values {
		sq += (v - s.Mean) * (v - s.Mean)
	}
	s.Stddev = math.Sqrt(sq / float64(len(values)))
	s.Median = median(values)
	dev := make([]float64, len(values))
	for i, v := range values {
		dev[i] = math.Abs(v - s.Median)
	}
	s.MAD = median(dev)
	return s
}

func median(values []float64) float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// stat returns the figure a path inside history names ("row_count", "median"
// or "columns", "amount", "min", "max"), and false when the history lacks it.
func (h *History) stat(path []string) (float64, bool) {
	if h == nil || len(path) == 0 {
		return 0, false
	}
	var s Stats
	switch path[0] {
	case "versions":
		return float64(h.Versions), true
	case "row_count":
		s, path = h.RowCount, path[1:]
	case "columns":
		if len(path) < 3 {
			return 0, false
		}
		c, ok := h.Columns[path[1]]
		if !ok {
			return 0, false
		}
		switch path[2] {
		case "null_fraction":
			s = c.NullFraction
		case "min":
			s = c.Min
		case "max":
			s = c.Max
		default:
			return 0, false
		}
		path = path[3:]
	default:
		return 0, false
	}
	if s.N == 0 || len(path) == 0 {
		return 0, false
	}
	switch path[0] {
	case "n":
		return float64(s.N), true
	case "last":
		return s.Last, true
	case "mean":
		return s.Mean, true
	case "median":
		return s.Median, true
	case "stddev":
		return s.Stddev, true
	case "mad":
		return s.MAD, true
	case "min":
		return s.Min, true
	case "max":
		return s.Max, true
	}
	return 0, false
}

// missing says why a rule reading the paths cannot be evaluated on this
// history, or "" when it can: there is no history, or no version had a figure
// the rule reads.
func (h *History) missing(paths [][]string) string {
	if h == nil || h.Versions == 0 {
		return "no published version to compare with yet"
	}
	for _, p := range paths {
		if len(p) == 0 || p[0] == "versions" || slices.Contains(p, anyKey) {
			continue
		}
		if p[0] == "columns" && len(p) >= 2 {
			c, ok := h.Columns[p[1]]
			if !ok {
				return fmt.Sprintf("no published version has column %s", p[1])
			}
			if len(p) < 3 {
				continue
			}
			var s Stats
			switch p[2] {
			case "null_fraction":
				s = c.NullFraction
			case "min":
				s = c.Min
			case "max":
				s = c.Max
			}
			if s.N == 0 {
				return fmt.Sprintf("no published version has a %s of column %s", strings.ReplaceAll(p[2], "_", " "), p[1])
			}
		}
	}
	return ""
}

// Anomaly is a built-in warning: a figure of the candidate far from its
// history.
type Anomaly struct {
	// Metric is AnomalyRowCount or AnomalyNullFraction.
	Metric string `json:"metric"`
	// Column is the column of a null-fraction anomaly.
	Column string  `json:"column,omitempty"`
	Value  float64 `json:"value"`
	Median float64 `json:"median"`
	// MAD is the median absolute deviation the score divides by, after its floor.
	MAD float64 `json:"mad"`
	// Score is the modified z-score, 0.6745*(Value-Median)/MAD.
	Score    float64 `json:"score"`
	Versions int64   `json:"versions"`
	Message  string  `json:"message"`
}

// ID names the anomaly as a rule of the quality report: "anomaly_row_count" or
// "anomaly_null_fraction_<column>".
func (a Anomaly) ID() string {
	if a.Column == "" {
		return "anomaly_" + a.Metric
	}
	return "anomaly_" + a.Metric + "_" + a.Column
}

// Anomalies compares a candidate with the history: its row count, and the null
// fraction of each of its columns that at least AnomalyMinVersions versions
// had. It returns nothing for a history of fewer versions.
func (h *History) Anomalies(cur Observation) []Anomaly {
	if h == nil || h.Versions < AnomalyMinVersions {
		return nil
	}
	var out []Anomaly
	rows := make([]float64, len(h.obs))
	for i, o := range h.obs {
		rows[i] = float64(o.Rows)
	}
	if a, ok := score(float64(cur.Rows), rows, func(med float64) float64 { return math.Max(VolumeMADFloor*math.Abs(med), 1) }); ok {
		a.Metric, a.Versions = AnomalyRowCount, h.Versions
		a.Message = fmt.Sprintf("volume anomaly: %d rows against a median of %s over the last %d versions (MAD %s, modified z-score %.1f, threshold %g)",
			cur.Rows, num(a.Median), h.Versions, num(a.MAD), a.Score, AnomalyThreshold)
		out = append(out, a)
	}
	names := make([]string, 0, len(cur.Columns))
	for name := range cur.Columns {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := cur.Columns[name]
		if c.NullFraction == nil {
			continue
		}
		var past []float64
		for _, o := range h.obs {
			if pc, ok := o.Columns[name]; ok && pc.NullFraction != nil {
				past = append(past, *pc.NullFraction)
			}
		}
		if len(past) < AnomalyMinVersions {
			continue
		}
		if a, ok := score(*c.NullFraction, past, func(float64) float64 { return NullRateMADFloor }); ok {
			a.Metric, a.Column, a.Versions = AnomalyNullFraction, name, int64(len(past))
			a.Message = fmt.Sprintf("null-rate anomaly: column %s is %.2f%% null against a median of %.2f%% over the last %d versions (MAD %.2f points, modified z-score %.1f, threshold %g)",
				name, 100*a.Value, 100*a.Median, len(past), 100*a.MAD, a.Score, AnomalyThreshold)
			out = append(out, a)
		}
	}
	return out
}

// score returns the anomaly of x against past when its modified z-score
// exceeds the threshold; floor gives the least MAD for a median.
func score(x float64, past []float64, floor func(median float64) float64) (Anomaly, bool) {
	s := summarise(past)
	mad := math.Max(s.MAD, floor(s.Median))
	z := 0.6745 * (x - s.Median) / mad
	if math.Abs(z) <= AnomalyThreshold {
		return Anomaly{}, false
	}
	return Anomaly{Value: x, Median: s.Median, MAD: mad, Score: z}, true
}

// num formats a figure without a needless fraction.
func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.4g", f)
}
