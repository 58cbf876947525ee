package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/metrics"
	"github.com/meshflow/meshflow/internal/metrics/meshstate"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/sdkmetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newRegistry builds the process's one metrics registry, with the Go runtime's
// and the process's collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// workerMetrics registers what a process running workers exposes on reg: the
// Temporal SDK's metrics (through the handler it sets on conn, so dial it after),
// the refresh metrics, returned for the activities, and the mesh's state read
// from st and from Temporal. close flushes the SDK's buffered metrics.
func workerMetrics(reg *prometheus.Registry, conn *connFlags, logger *slog.Logger) (m *metrics.Metrics, withState func(st storage.Store, runs meshstate.Runs), close func()) {
	handler, closer := sdkmetrics.NewHandler(reg, logger)
	conn.metrics = handler
	withState = func(st storage.Store, runs meshstate.Runs) {
		reg.MustRegister(meshstate.New(meshstate.Config{Store: st, Runs: runs, Logger: logger}))
	}
	return metrics.New(reg), withState, func() { _ = closer.Close() }
}

// serveMetrics serves reg at /metrics on addr until ctx ends and returns its URL.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, stderr io.Writer) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s for /metrics (change --metrics-listen, or --metrics-listen= to not serve metrics): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(api.RouteMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	go func() {
		if err := serveAPI(ctx, ln, mux); err != nil {
			fmt.Fprintln(stderr, "meshflow: metrics:", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/metrics", nil
}
