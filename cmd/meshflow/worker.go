package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/temporal/control"
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
	scratch := fs.String("scratch", envOr("MESHFLOW_SCRATCH", filepath.Join(os.TempDir(), "meshflow-scratch")), "local scratch folder for running stages")
	var wo worker.Options
	fs.IntVar(&wo.MaxConcurrentActivities, "max-activities", 8, "activities running at once on each task queue's worker")
	fs.IntVar(&wo.MaxConcurrentSessions, "max-sessions", 2, "refreshes staging at once on each task queue's worker (each holds DuckDB and scratch files)")
	scratchLimit := fs.String("scratch-limit", "", "scratch disk budgeted for this worker, e.g. 20Gi (match a Kubernetes emptyDir sizeLimit): the worker warns at start if --scratch has less free, and each run staging at once gets an equal share (the limit divided by --max-sessions and the task queues): a run that outgrows its share fails with ScratchExceeded instead of filling the disk; empty: no bound")
	fs.DurationVar(&wo.StopTimeout, "stop-timeout", time.Minute, "on SIGTERM, how long running activities may finish before they are cancelled (heartbeating ones then time out and retry elsewhere); keep it below Kubernetes' terminationGracePeriodSeconds")
	metricsAddr := fs.String("metrics-listen", envOr("MESHFLOW_METRICS_LISTEN", "127.0.0.1:9090"), "address to serve Prometheus /metrics on; empty to not serve them")
	verbose := fs.Bool("v", false, "log activity")
	var lf lineageFlags
	lf.register(fs)
	var nf notifyFlags
	nf.register(fs, true)
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	logger := newLogger(stderr, *verbose)
	if wo.MaxConcurrentActivities < 1 || wo.MaxConcurrentSessions < 1 || wo.StopTimeout < 0 {
		return fmt.Errorf("--max-activities and --max-sessions must be at least 1 and --stop-timeout not negative (got %d, %d, %s)", wo.MaxConcurrentActivities, wo.MaxConcurrentSessions, wo.StopTimeout)
	}
	var limit int64
	if *scratchLimit != "" {
		var err error
		limit, err = parseSize(*scratchLimit)
		if err != nil {
			return fmt.Errorf("--scratch-limit: %w", err)
		}
		if err := os.MkdirAll(*scratch, 0o700); err != nil {
			return fmt.Errorf("create scratch folder: %w", err)
		}
		if warn := checkScratch(*scratch, limit); warn != "" {
			fmt.Fprintln(stderr, "meshflow worker: warning:", warn)
		}
	}
	reg := newRegistry()
	m, withState, closeMetrics := workerMetrics(reg, &conn, logger)
	defer closeMetrics()
	var qs []string
	meshName := ""
	if set, _ := spec.Load(*mesh); set.Mesh != nil {
		meshName = set.Mesh.Metadata.Name
	}
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
	if limit > 0 {
		acts.ScratchPerRun = limit / int64(wo.MaxConcurrentSessions*len(qs))
		logger.Info("scratch budget", "limit", limit, "perRun", acts.ScratchPerRun, "sessions", wo.MaxConcurrentSessions*len(qs))
	}
	if err := lf.start(ctx, st, meshName, acts, logger); err != nil {
		return err
	}
	nf.start(ctx, st, acts, reg, logger)
	ctl := &control.Client{Temporal: cl, Namespace: conn.namespace}
	acts.RunStatus = ctl.Status
	acts.Runs = ctl
	withState(st, ctl)
	metricsURL := "off"
	if *metricsAddr != "" {
		if metricsURL, err = serveMetrics(ctx, *metricsAddr, reg, stderr); err != nil {
			return err
		}
	}
	stop, err := startWorkers(cl, qs, acts, wo)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "meshflow worker polling %s on %s (namespace %s); store %s; metrics %s. Ctrl-C stops it.\n", strings.Join(qs, ", "), conn.address, conn.namespace, st.URI(""), metricsURL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping: running activities finish or heartbeat out")
	return nil
}

// startWorkers starts one worker per task queue. stop stops them all at once, so
// that their running activities share one --stop-timeout.
func startWorkers(cl client.Client, queues []string, acts *activities.Activities, opt worker.Options) (stop func(), err error) {
	var started []sdkworker.Worker
	stop = func() {
		var wg sync.WaitGroup
		for _, w := range started {
			wg.Go(w.Stop)
		}
		wg.Wait()
	}
	host, _ := os.Hostname()
	for _, q := range queues {
		o := opt
		o.Identity = fmt.Sprintf("meshflow@%s/%d/%s", host, os.Getpid(), q)
		w := worker.New(cl, q, acts, o)
		if err := w.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start worker for %s: %w", q, err)
		}
		started = append(started, w)
	}
	return stop, nil
}

// parseSize reads a byte size: a number with an optional Ki, Mi, Gi, Ti (powers
// of 1024, as in Kubernetes) or K, M, G, T (powers of 1000) suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	num, mult := s, int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional Ki, Mi, Gi, Ti, K, M, G or T suffix", s)
	}
	return n * mult, nil
}

// checkScratch returns a warning when dir's filesystem has less than limit
// bytes free, or when its free space cannot be read; "" when all is well.
func checkScratch(dir string, limit int64) string {
	free, err := freeBytes(dir)
	if err != nil {
		return fmt.Sprintf("cannot check free space of scratch %s: %v", dir, err)
	}
	if free < limit {
		return fmt.Sprintf("scratch %s has %d MiB free, less than --scratch-limit %d MiB: large refreshes may fail with a full disk (give the worker more scratch, or lower --max-sessions)", dir, free>>20, limit>>20)
	}
	return ""
}
