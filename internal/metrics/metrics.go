package metrics

import (
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Kinds of rows, the values of the kind label of meshflow_refresh_rows_total.
const (
	RowsIn          = "in"
	RowsOut         = "out"
	RowsQuarantined = "quarantined"
)

// Metrics are the metrics the refresh activities record. A nil *Metrics records
// nothing, so activities built without metrics need no checks.
type Metrics struct {
	runs         *prometheus.CounterVec
	stage        *prometheus.HistogramVec
	rows         *prometheus.CounterVec
	ruleFailing  *prometheus.GaugeVec
	ruleFailures *prometheus.CounterVec
	decision     *prometheus.HistogramVec
	partitions   *prometheus.CounterVec
	anomalies    *prometheus.GaugeVec
}

// Kinds of partitions, the values of the kind label of
// meshflow_refresh_partitions_total.
const (
	PartitionsBuilt       = "built"
	PartitionsCarriedOver = "carried_over"
)

// New registers the refresh metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	product := []string{"domain", "product"}
	return &Metrics{
		runs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_refresh_runs_total",
			Help: "Refresh runs that ended, by outcome (published, rejected, expired, failed).",
		}, append(product, "outcome")),
		stage: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshflow_refresh_stage_duration_seconds",
			Help: "Duration of the successful attempt of each refresh stage (ingesting, transforming, validating, publishing).",
			// 100ms to about 4.5h.
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 12),
		}, append(product, "stage")),
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_refresh_rows_total",
			Help: "Rows checked against the contract, by kind: in (the transform's output), out (passed), quarantined.",
		}, append(product, "kind")),
		ruleFailing: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshflow_rule_failing_rows",
			Help: "Rows failing each quality rule in the product's last validation (0 for a rule that passed).",
		}, append(product, "rule", "severity")),
		ruleFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_rule_failures_total",
			Help: "Validations in which the rule failed, warned or could not be evaluated.",
		}, append(product, "rule", "severity")),
		decision: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshflow_approval_decision_seconds",
			Help: "Time from the start of the wait for approval to the decision, by decision (approved, rejected, expired).",
			// 1 minute to about 17 days.
			Buckets: prometheus.ExponentialBuckets(60, 3, 10),
		}, append(product, "decision")),
		partitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_refresh_partitions_total",
			Help: "Partitions of partitioned products' checked versions, by kind: built by the run, or carried_over by reference from an earlier version.",
		}, append(product, "kind")),
		anomalies: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshflow_quality_anomalies",
			Help: "Built-in anomaly warnings in the product's last validation, by metric (row_count, null_fraction: how many columns).",
		}, append(product, "metric")),
	}
}

// Partitioned records what a partitioned run did with its partitions.
func (m *Metrics) Partitioned(ref string, s refresh.PartitionSummary) {
	if m == nil {
		return
	}
	domain, name := split(ref)
	m.partitions.WithLabelValues(domain, name, PartitionsBuilt).Add(float64(s.Built))
	m.partitions.WithLabelValues(domain, name, PartitionsCarriedOver).Add(float64(s.CarriedOver))
}

// split returns the domain and name of "<domain>/<name>".
func split(ref string) (domain, name string) {
	domain, name, _ = strings.Cut(ref, "/")
	return domain, name
}

// Stage records how long a successful stage activity took.
func (m *Metrics) Stage(ref string, stage refresh.Stage, d time.Duration) {
	if m == nil {
		return
	}
	domain, name := split(ref)
	m.stage.WithLabelValues(domain, name, string(stage)).Observe(d.Seconds())
}

// Validated records a validation: its rows, every rule's outcome (a skipped
// rule is no failure) and its anomalies.
func (m *Metrics) Validated(ref string, q refresh.Quality) {
	if m == nil {
		return
	}
	domain, name := split(ref)
	m.rows.WithLabelValues(domain, name, RowsIn).Add(float64(q.RowsIn))
	m.rows.WithLabelValues(domain, name, RowsOut).Add(float64(q.RowsOut))
	m.rows.WithLabelValues(domain, name, RowsQuarantined).Add(float64(q.Quarantined))
	for _, r := range q.Rules {
		m.ruleFailing.WithLabelValues(domain, name, r.ID, r.Severity).Set(float64(r.Failing))
		if r.Status != "pass" && r.Status != "skipped" {
			m.ruleFailures.WithLabelValues(domain, name, r.ID, r.Severity).Inc()
		}
	}
	counts := map[string]int{AnomalyRowCount: 0, AnomalyNullFraction: 0}
	for _, a := range q.Anomalies {
		counts[a.Metric]++
	}
	for metric, n := range counts {
		m.anomalies.WithLabelValues(domain, name, metric).Set(float64(n))
	}
}

// The metrics of anomalies, the values of the metric label of
// meshflow_quality_anomalies (rules.AnomalyRowCount and
// rules.AnomalyNullFraction).
const (
	AnomalyRowCount     = "row_count"
	AnomalyNullFraction = "null_fraction"
)

// Finished records the end of a run in a final stage; other stages are ignored.
func (m *Metrics) Finished(ref string, stage refresh.Stage) {
	if m == nil || !stage.Final() {
		return
	}
	domain, name := split(ref)
	m.runs.WithLabelValues(domain, name, string(stage)).Inc()
}

// Decided records how long a run waited for its decision.
func (m *Metrics) Decided(ref string, decision refresh.WaitOutcome, waited time.Duration) {
	if m == nil || waited < 0 {
		return
	}
	domain, name := split(ref)
	m.decision.WithLabelValues(domain, name, string(decision)).Observe(waited.Seconds())
}
