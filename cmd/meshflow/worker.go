package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/control"
	"github.com/meshflow/meshflow/spec"
	"github.com/meshflow/meshflow/worker"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("worker", stderr)
	var conn connFlags
	var sf storeFlags
	conn.register(fs)
	sf.register(fs)
	mesh := fs.String("mesh", defaultMesh(), "mesh folder (to find the domains' task queues)")
	queues := fs.String("task-queues", "", "comma-separated task queues to poll (default: every domain's queue of the mesh)")
	scratch := fs.String("scratch", filepath.Join(os.TempDir(), "meshflow-scratch"), "local scratch folder for running stages")
	metricsAddr := fs.String("metrics-listen", envOr("MESHFLOW_METRICS_LISTEN", "127.0.0.1:9090"), "address to serve Prometheus /metrics on; empty to not serve them")
	verbose := fs.Bool("v", false, "log activity")
	if err := parse(fs, args); err != nil {
		return exitError{2}
	}
	logger := newLogger(stderr, *verbose)
	reg := newRegistry()
	m, withState, closeMetrics := workerMetrics(reg, &conn, logger)
	defer closeMetrics()
	var qs []string
	if *queues != "" {
		qs = strings.Split(*queues, ",")
	} else {
		set, ds := spec.Load(*mesh)
		if set.Mesh == nil {
			return fmt.Errorf("cannot read the mesh at %s to find task queues: %v; pass --task-queues", *mesh, ds.Err())
		}
		for _, d := range set.Mesh.Domains {
			qs = append(qs, d.Queue())
		}
	}
	cl, err := conn.dial(logger)
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	acts := newActivities(st, &sf, *scratch, logger)
	acts.Metrics = m
	withState(st, &control.Client{Temporal: cl, Namespace: conn.namespace})
	metricsURL := "off"
	if *metricsAddr != "" {
		if metricsURL, err = serveMetrics(ctx, *metricsAddr, reg, stderr); err != nil {
			return err
		}
	}
	stop, err := startWorkers(cl, qs, acts)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "meshflow worker polling %s on %s (namespace %s); store %s; metrics %s. Ctrl-C stops it.\n", strings.Join(qs, ", "), conn.address, conn.namespace, st.URI(""), metricsURL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping: running activities finish or heartbeat out")
	return nil
}

// startWorkers starts one worker per task queue.
func startWorkers(cl client.Client, queues []string, acts *activities.Activities) (stop func(), err error) {
	var started []sdkworker.Worker
	stop = func() {
		for _, w := range started {
			w.Stop()
		}
	}
	host, _ := os.Hostname()
	for _, q := range queues {
		w := worker.New(cl, q, acts, worker.Options{Identity: fmt.Sprintf("meshflow@%s/%d/%s", host, os.Getpid(), q)})
		if err := w.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start worker for %s: %w", q, err)
		}
		started = append(started, w)
	}
	return stop, nil
}
