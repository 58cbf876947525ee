// Package metrics defines the Prometheus metrics the refresh activities record:
// stage durations, rows, rule failures, outcomes and time to decision. Two
// neighbours complete the set: package meshstate, a collector that reads the
// mesh's state at scrape time (freshness and lateness of published products
// against their contracts' slaProperties, approvals waiting in Temporal), and
// package sdkmetrics, the bridge that puts the Temporal SDK's own metrics into the
// same registry. They are apart so that the activities link no Temporal client.
//
// Everything registers on the prometheus.Registerer it is given; main builds one
// registry and serves it on /metrics. Workflow code records nothing: the
// activities, which run once per attempt outside the workflow's replay, do.
//
// # Metrics
//
//	meshflow_refresh_runs_total{domain,product,outcome}            counter: finished runs (published, rejected, expired, failed)
//	meshflow_refresh_stage_duration_seconds{domain,product,stage}  histogram: successful stage activities (ingesting, transforming, validating, publishing)
//	meshflow_refresh_rows_total{domain,product,kind}               counter: rows validated (in, out, quarantined)
//	meshflow_rule_failing_rows{domain,product,rule,severity}       gauge: failing rows of each rule in the last validation
//	meshflow_rule_failures_total{domain,product,rule,severity}     counter: validations where the rule failed, warned or errored (not skipped)
//	meshflow_quality_anomalies{domain,product,metric}              gauge: built-in anomaly warnings of the last validation (row_count, null_fraction)
//	meshflow_approval_decision_seconds{domain,product,decision}    histogram: from waiting for approval to the decision (approved, rejected, expired)
//	meshflow_approvals_pending{domain,product}                     gauge: runs waiting for approval (from Temporal visibility, at scrape time)
//	meshflow_approval_oldest_pending_seconds{domain,product}       gauge: age of the oldest run waiting for approval
//	meshflow_product_last_publish_timestamp_seconds{domain,product} gauge: when the latest version was published (from the catalog)
//	meshflow_product_freshness_seconds{domain,product}             gauge: seconds since the latest publication or the later check that found it unchanged, at scrape time
//	meshflow_product_freshness_sla_seconds{domain,product}         gauge: the contract's frequency + latency
//	meshflow_product_late{domain,product}                          gauge: 1 when freshness exceeds the SLA, else 0
//	meshflow_state_up{source}                                      gauge: 1 when the last read of the catalog or of Temporal worked
//	temporal_*                                                     the Temporal SDK's metrics (package sdkmetrics)
package metrics
