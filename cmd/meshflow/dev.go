package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devproc"
	"github.com/meshflow/meshflow/worker"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stderr)
	mesh := fs.String("mesh", defaultMesh(), "mesh folder to load and refresh")
	dataDir := fs.String("data-dir", ".meshflow", "folder for Temporal's SQLite, the object store and scratch")
	host := fs.String("host", devproc.DefaultHost, "address to listen on")
	temporalPort := fs.Int("temporal-port", devproc.DefaultFrontendPort, "Temporal frontend port")
	uiPort := fs.Int("ui-port", devproc.DefaultUIPort, "Temporal Web UI port")
	noRefresh := fs.Bool("no-refresh", false, "start everything but do not refresh the mesh's products")
	apiAddr := fs.String("api", "127.0.0.1:8080", "address of the web pages (catalog, approvals inbox) and the API (meshflow serve), with dev tokens printed at start; empty to not serve them")
	metricsAddr := fs.String("metrics-listen", "127.0.0.1:9464", "address to serve Prometheus /metrics on (worker, SDK, catalog freshness, approvals); empty to not serve them")
	verbose := fs.Bool("v", false, "log what the worker does")
	var lf lineageFlags
	lf.register(fs)
	var nf notifyFlags
	nf.register(fs, false)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow dev [flags]\n\nRuns everything on this machine: a Temporal server with its Web UI, a worker for every domain,\na local object store, and refreshes of the example mesh.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	res, err := loadMesh(ctx, *mesh, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, *verbose)
	bin, err := devproc.Find(filepath.Join(*dataDir, "bin"), stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "starting Temporal (state in %s) …\n", filepath.Join(*dataDir, "temporal"))
	var serverLog io.Writer
	if *verbose {
		serverLog = stderr
	}
	srv, err := devproc.Start(ctx, devproc.Config{
		Bin: bin, DataDir: filepath.Join(*dataDir, "temporal"), Host: *host, FrontendPort: *temporalPort, UIPort: *uiPort,
		Verbose: *verbose, Log: serverLog,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(stderr, "stop Temporal:", err)
		}
	}()
	// meshflow dev ends when its Temporal server does.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-srv.Exited():
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(stderr, "Temporal stopped:", err)
			}
			cancel()
		case <-ctx.Done():
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
	signer, err := devSigner(*dataDir)
	if err != nil {
		return err
	}
	c.Signer = signer
	rev, err := devApply(ctx, res.Set, st, signer)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %s as mesh revision %s (runs read their products from it; editing the folder applies it again)\n", *mesh, meshrev.Short(rev))
	acts := newActivities(st, &sf, filepath.Join(*dataDir, "scratch"), logger)
	acts.Metrics = m
	acts.RunStatus = c.Status
	acts.Runs = c
	if err := lf.start(ctx, st, res.Set.Mesh.Metadata.Name, acts, logger); err != nil {
		return err
	}
	if *apiAddr != "" {
		nf.publicURL = "http://" + *apiAddr
	}
	if nf.file == "" {
		nf.file = filepath.Join(*dataDir, "notifications.jsonl")
	}
	nf.start(ctx, st, acts, reg, logger)
	withState(st, c)
	stop, err := startWorkers(c.Temporal, queues, acts, worker.Options{})
	if err != nil {
		return err
	}
	defer stop()

	ui := srv.UIAddress()
	devAPI := ""
	if *apiAddr != "" {
		if devAPI, err = startDevAPI(ctx, reg, *apiAddr, *dataDir, res.Set, st, ui, c, logger, stdout, stderr); err != nil {
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
  notifications      %s
  mesh               %s (%d products, %d domains)

`, srv.FrontendAddress(), srv.Namespace(), ui, srv.Namespace(), ui, srv.Namespace(),
		url.QueryEscape(fmt.Sprintf("%s=%q", refresh.SearchStage, refresh.StageAwaitingApproval)),
		st.URI(""), nf.summary(), *mesh, len(res.Set.Products), len(queues))

	started := time.Now().Add(-time.Second)
	if !*noRefresh {
		suffix := "dev-" + time.Now().UTC().Format("20060102T150405")
		for _, p := range res.Set.Order() {
			if hasProductInput(p.Inputs) {
				continue // refreshed when its inputs publish
			}
			rq := control.Refresh{Ref: p.Ref(), TaskQueue: res.Set.Domain(p.Metadata.Domain).Queue(), Revision: rev,
				Principal: devPrincipal, Reason: "meshflow dev", Suffix: suffix}
			if _, err := c.Start(ctx, rq); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "refreshing %s; its consumers follow when it publishes\n", p.Ref())
		}
	}
	fmt.Fprint(stdout, "\nNext, in another terminal:\n")
	for _, h := range devHints(res.Set) {
		fmt.Fprintln(stdout, "  "+h)
	}
	fmt.Fprint(stdout, devAPI, "\n")
	go watchMesh(ctx, *mesh, st, signer, stdout, stderr)
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
				case refresh.StageUnchanged:
					line += " since " + r.Version + " (nothing published)"
				case refresh.StageAwaitingApproval:
					if st, err := c.Status(ctx, r.WorkflowID, r.RunID); err == nil {
						line += fmt.Sprintf(" — approve with: go run ./cmd/meshflow approve %s --as %s", r.Product, strings.Join(st.Approvers, "|"))
					}
				case refresh.StageAwaitingAccess:
					if st, err := c.Status(ctx, r.WorkflowID, r.RunID); err == nil {
						line += " — " + st.Detail + "; the producer's owner or steward grants it with: go run ./cmd/meshflow access approve <domain>/<product> --as <them>"
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

// devPrincipal applies the mesh in meshflow dev and submits its first runs; it
// is no person, so every steward may approve them.
const devPrincipal = "meshflow-dev"

// devSigner returns the dev API's signing key, kept in the data folder so that
// runs waiting for approval still accept decisions after a restart.
func devSigner(dataDir string) (*signing.Signer, error) {
	file := filepath.Join(dataDir, "serve.key")
	if s, err := signing.LoadSigner(file); err == nil {
		// An older file may have looser permissions: the key is serve's alone.
		return s, os.Chmod(file, 0o600)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	s, err := signing.NewSigner()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	return s, os.WriteFile(file, []byte(s.MarshalPrivate()), 0o600)
}

// devApply publishes the mesh as the current revision, trusting the dev key.
func devApply(ctx context.Context, set *spec.Set, st storage.Store, signer *signing.Signer) (string, error) {
	rev, err := meshrev.Build(set, devPrincipal, []signing.PublicKey{signer.PublicKey()})
	if err != nil {
		return "", err
	}
	p, err := meshrev.Publish(ctx, st, rev, time.Now())
	return p.ID, err
}

// watchMesh applies the mesh folder again whenever one of its files changes,
// so that editing a spec and running it again works; a mesh that no longer
// validates is reported and not applied.
//
// The API keeps the products it started with: a product added meanwhile runs
// after a restart of meshflow dev.
func watchMesh(ctx context.Context, dir string, st storage.Store, signer *signing.Signer, stdout, stderr io.Writer) {
	last := meshStamp(dir)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		stamp := meshStamp(dir)
		if stamp == last {
			continue
		}
		last = stamp
		res, err := loadMesh(ctx, dir, stderr)
		if err != nil {
			fmt.Fprintf(stdout, "%s  mesh changed but does not validate (see above); runs keep the current revision\n", time.Now().Format("15:04:05"))
			continue
		}
		id, err := devApply(ctx, res.Set, st, signer)
		if err != nil {
			fmt.Fprintf(stdout, "%s  mesh changed; applying it failed: %v\n", time.Now().Format("15:04:05"), err)
			continue
		}
		fmt.Fprintf(stdout, "%s  mesh changed: applied revision %s; new runs use it\n", time.Now().Format("15:04:05"), meshrev.Short(id))
	}
}

// meshStamp sums up the names, sizes and times of the mesh folder's files.
func meshStamp(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// devHints are the commands meshflow dev suggests, taken from the mesh it runs:
// an access approval for a restricted product another domain reads, a sign-off
// for a product that needs one, and a refresh of a product that reads no other,
// each as a person who may do it.
func devHints(set *spec.Set) []string {
	const cmd = "go run ./cmd/meshflow "
	hints := []string{cmd + "status                 # every run and its stage"}
	first := func(names []string) string {
		if people := set.People(names); len(people) > 0 {
			return people[0]
		}
		return "<principal>"
	}
	order := set.Order()
	access := ""
	for _, p := range order {
		if p.AccessMode() != spec.AccessRestricted || access != "" {
			continue
		}
		for _, c := range set.Consumers(p.Ref()) {
			if c.Metadata.Domain != p.Metadata.Domain {
				access = fmt.Sprintf("%saccess approve %s --as %s   # %s's access to it", cmd, p.Ref(),
					first(append([]string{p.Metadata.Owner}, set.Stewards(p)...)), c.Metadata.Owner)
				break
			}
		}
	}
	if access != "" {
		hints = append(hints, access)
	}
	if ref, steward, ok := signOffHint(set); ok {
		hints = append(hints, fmt.Sprintf("%sapprove %s --as %s --comment \"numbers reconcile\"", cmd, ref, steward))
	}
	hints = append(hints, cmd+"catalog list           # what is published")
	for _, p := range order {
		if !hasProductInput(p.Inputs) {
			hints = append(hints, fmt.Sprintf("%srun %s --as %s --wait", cmd, p.Ref(), first(append([]string{p.Metadata.Owner}, set.Stewards(p)...))))
			break
		}
	}
	return hints
}
