// Package sdkmetrics bridges the Temporal SDK's own metrics (requests, polls,
// activity and workflow task latencies) into meshflow's Prometheus registry, so
// that workers and serve expose them on the same /metrics as meshflow's.
package sdkmetrics

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// ReportInterval is how often the Temporal SDK's buffered counters reach the
// registry.
const ReportInterval = time.Second

// NewHandler bridges the Temporal SDK's metrics into reg: pass the handler as
// client.Options.MetricsHandler. Names follow Prometheus conventions
// (temporal_request_total, temporal_activity_execution_latency_seconds…); timers
// are histograms, so dashboards can take quantiles across workers. Close flushes
// what is buffered and stops the reporting loop.
func NewHandler(reg prometheus.Registerer, logger *slog.Logger) (client.MetricsHandler, io.Closer) {
	if logger == nil {
		logger = slog.Default()
	}
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(err error) {
			// The reporter's default panics; a metric the SDK emits with two tag
			// sets is not worth a crash of the worker.
			logger.Warn("metrics: cannot register a Temporal SDK metric", "error", err)
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:         reporter,
		Separator:              tallyprom.DefaultSeparator,
		SanitizeOptions:        &tallyprom.DefaultSanitizerOpts,
		OmitCardinalityMetrics: true,
	}, ReportInterval)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
