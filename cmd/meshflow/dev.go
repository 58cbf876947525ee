//go:build !nodev

package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshflow/meshflow/control"
	"github.com/meshflow/meshflow/devserver"
	"github.com/meshflow/meshflow/refresh"
	"github.com/meshflow/meshflow/spec"
	"github.com/meshflow/meshflow/worker"
	enumspb "go.temporal.io/api/enums/v1"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stderr)
	mesh := fs.String("mesh", defaultMesh(), "mesh folder to load and refresh")
	dataDir := fs.String("data-dir", ".meshflow", "folder for Temporal's SQLite, the object store and scratch")
	host := fs.String("host", devserver.DefaultHost, "address to listen on")
	temporalPort := fs.Int("temporal-port", devserver.DefaultFrontendPort, "Temporal frontend port")
	uiPort := fs.Int("ui-port", devserver.DefaultUIPort, "Temporal Web UI port")
	noRefresh := fs.Bool("no-refresh", false, "start everything but do not refresh the mesh's products")
	apiAddr := fs.String("api", "127.0.0.1:8080", "address of the web pages (catalog, approvals inbox) and the API (meshflow serve), with dev tokens printed at start; empty to not serve them")
	metricsAddr := fs.String("metrics-listen", "127.0.0.1:9464", "address to serve Prometheus /metrics on (worker, SDK, catalog freshness, approvals); empty to not serve them")
	verbose := fs.Bool("v", false, "log what the worker does")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow dev [flags]\n\nRuns everything on this machine: a Temporal server with its Web UI, a worker for every domain,\na local object store, and refreshes of the example mesh.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return exitError{2}
	}
	res, err := loadMesh(ctx, *mesh, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, *verbose)
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range refresh.SearchAttributes {
		attrs[a] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	fmt.Fprintf(stdout, "starting Temporal (state in %s) …\n", filepath.Join(*dataDir, "temporal"))
	srv, err := devserver.Start(ctx, devserver.Config{
		DataDir: filepath.Join(*dataDir, "temporal"), Host: *host, FrontendPort: *temporalPort, UIPort: *uiPort,
		SearchAttributes: attrs, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(stderr, "stop Temporal:", err)
		}
	}()
	conn := connFlags{address: srv.FrontendAddress(), namespace: srv.Namespace()}
	reg := newRegistry()
	m, withState, closeMetrics := workerMetrics(reg, &conn, logger)
	defer closeMetrics()
	c, closeFn, err := conn.control(logger)
	if err != nil {
		return err
	}
	defer closeFn()
	sf := storeFlags{uri: filepath.Join(*dataDir, "objects")}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	var queues []string
	for _, d := range res.Set.Mesh.Domains {
		queues = append(queues, d.Queue())
	}
	acts := newActivities(st, &sf, filepath.Join(*dataDir, "scratch"), logger)
	acts.Metrics = m
	withState(st, c)
	stop, err := startWorkers(c.Temporal, queues, acts, worker.Options{})
	if err != nil {
		return err
	}
	defer stop()

	ui := srv.UIAddress()
	devAPI := ""
	if *apiAddr != "" {
		if devAPI, err = startDevAPI(ctx, reg, *apiAddr, res.Set, st, ui, c, logger, stdout, stderr); err != nil {
			return err
		}
	}
	webURL := "(off: --api is empty)"
	if *apiAddr != "" {
		webURL = "http://" + *apiAddr + "/"
	}
	metricsURL := "(off: --metrics-listen is empty)"
	if *metricsAddr != "" {
		if metricsURL, err = serveMetrics(ctx, *metricsAddr, reg, stderr); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, `
meshflow dev is running. Ctrl-C stops it.
  Catalog and inbox  %s
  Metrics            %s
`, webURL, metricsURL)
	fmt.Fprintf(stdout, `  Temporal frontend  %s (namespace %s)
  Temporal Web UI    %s/namespaces/%s/workflows
  awaiting approval  %s/namespaces/%s/workflows?query=%s
  object store       %s
  mesh               %s (%d products, %d domains)

`, srv.FrontendAddress(), srv.Namespace(), ui, srv.Namespace(), ui, srv.Namespace(),
		url.QueryEscape(fmt.Sprintf("%s=%q", refresh.SearchStage, refresh.StageAwaitingApproval)),
		st.URI(""), *mesh, len(res.Set.Products), len(queues))

	started := time.Now().Add(-time.Second)
	if !*noRefresh {
		suffix := "dev-" + time.Now().UTC().Format("20060102T150405")
		for _, p := range res.Set.Order() {
			if hasProductInput(p.Inputs) {
				continue // refreshed when its inputs publish
			}
			in, err := control.Input(res.Set, p, "meshflow", "meshflow dev")
			if err != nil {
				return err
			}
			if _, err := c.Start(ctx, in, suffix); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "refreshing %s; its consumers follow when it publishes\n", p.Ref())
		}
	}
	fmt.Fprintf(stdout, `
Next, in another terminal:
  go run ./cmd/meshflow status                      # every run and its stage
  go run ./cmd/meshflow approve finance/global-kpis --as maria.rossi --comment "numbers reconcile"
%s  go run ./cmd/meshflow catalog list                # what is published
  go run ./cmd/meshflow run sales-emea/regional-sales --as anna.schmidt --wait

`, devAPI)
	watch(ctx, c, started, stdout)
	fmt.Fprintln(stdout, "\nstopping meshflow dev …")
	return nil
}

func hasProductInput(ins []spec.Input) bool {
	for _, in := range ins {
		if in.Product != "" {
			return true
		}
	}
	return false
}

// watch prints the stage changes of the runs started since a time, until ctx ends.
func watch(ctx context.Context, c *control.Client, since time.Time, stdout io.Writer) {
	seen := map[string]refresh.Stage{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		runs, err := c.Runs(ctx, "", "", 100)
		if err == nil {
			for i := len(runs) - 1; i >= 0; i-- {
				r := runs[i]
				if r.Start.Before(since) || seen[r.WorkflowID] == r.Stage || r.Stage == "" {
					continue
				}
				seen[r.WorkflowID] = r.Stage
				line := fmt.Sprintf("%s  %-34s %s", time.Now().Format("15:04:05"), r.Product, r.Stage)
				switch r.Stage {
				case refresh.StagePublished:
					line += " " + r.Version
				case refresh.StageAwaitingApproval:
					if st, err := c.Status(ctx, r.WorkflowID, r.RunID); err == nil {
						line += fmt.Sprintf(" — approve with: go run ./cmd/meshflow approve %s --as %s", r.Product, strings.Join(st.Approvers, "|"))
					}
				case refresh.StageFailed:
					if st, err := c.Status(ctx, r.WorkflowID, r.RunID); err == nil {
						line += " — " + st.Error
					}
				}
				fmt.Fprintln(stdout, line)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
