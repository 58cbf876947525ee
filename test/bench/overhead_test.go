package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sys/unix"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/store/storage/s3test"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/test/harness"
)

// flightsContract checks the route/day aggregate of the flights: five rules.
const flightsContract = `apiVersion: v3.1.0
kind: DataContract
id: route-days
name: route-days
version: 1.0.0
status: active
schema:
  - name: route_days
    properties:
      - {name: origin, logicalType: string, required: true}
      - {name: dest, logicalType: string, required: true}
      - {name: day, logicalType: date, required: true}
      - name: flights
        logicalType: integer
        required: true
        quality:
          - {type: custom, engine: cel, implementation: "flights >= 1", severity: error}
      - name: avg_delay
        logicalType: number
        quality:
          - {type: custom, engine: cel, implementation: "avg_delay > -120.0", severity: error}
      - name: distance
        logicalType: number
        required: true
        quality:
          - {type: custom, engine: cel, implementation: "distance >= 0.0", severity: error}
          - {type: library, metric: nullValues, mustBe: 0, severity: error}
    quality:
      - {type: library, metric: rowCount, mustBeGreaterThan: 0, severity: error}
`

const flightsSQL = `SELECT origin, dest, day, count(*) AS flights, avg(dep_delay) AS avg_delay,
  sum(distance) AS distance FROM flights GROUP BY origin, dest, day`

// flightChecks are flightsContract's five rules written by hand, as a bare
// DuckDB program would check them: each query counts the violations.
var flightChecks = []string{
	"SELECT count(*) FROM out WHERE NOT (flights >= 1)",
	"SELECT count(*) FROM out WHERE avg_delay IS NOT NULL AND NOT (avg_delay > -120.0)",
	"SELECT count(*) FROM out WHERE NOT (distance >= 0.0)",
	"SELECT count(*) FROM out WHERE distance IS NULL",
	"SELECT CASE WHEN count(*) > 0 THEN 0 ELSE 1 END FROM out",
}

// bareSteps is the length of the bare pipeline: the six stages of a refresh
// (ingest, transform, validate, govern, publish, clean up), each an activity.
const bareSteps = 6

const (
	barePipeline = "BarePipeline"
	bareStep     = "BareStep"
	bareQueue    = "bare"
)

// BenchmarkOverhead measures meshflow's overhead over doing the same work by
// hand, both sides in this one process on one Temporal server, and prints each
// ratio:
//
//  1. a product of a few million generated flights, refreshed end to end,
//     against a bare DuckDB program doing the same read, transform, checks,
//     Parquet and checksum, plus a bare Temporal pipeline of six activities,
//     one per stage of a refresh;
//  2. a tiny product against the bare pipeline, one run after the other;
//  3. N tiny refreshes at once against N bare pipelines at once;
//  4. publishing 100 MiB to versitygw against a raw PUT of the same bytes;
//  5. the peak memory of the refresh of the large product against the bare
//     DuckDB program's;
//  6. the client commands status, validate and diff: wall time and peak RSS.
//
// Run it with
//
//	go test ./test/bench -run '^$' -bench Overhead -benchtime 1x -timeout 60m
//
// MESHFLOW_BENCH_FLIGHTS (default 3,000,000), MESHFLOW_BENCH_CONCURRENT
// (default 50) and MESHFLOW_BENCH_REPEAT (default 5; medians are printed)
// change its size.
func BenchmarkOverhead(b *testing.B) {
	flights := envInt(b, "MESHFLOW_BENCH_FLIGHTS", 3_000_000)
	concurrent := envInt(b, "MESHFLOW_BENCH_CONCURRENT", 50)
	repeat := envInt(b, "MESHFLOW_BENCH_REPEAT", 5)

	h := harness.New(b, "bench", harness.LocalStore(b))
	const queue = "bench"
	h.StartWorkers([]string{queue}, harness.WorkerOptions{Threads: 2})
	startBareWorker(b, h.Temporal)
	fmt.Printf("\nmeshflow against bare DuckDB and bare Temporal (%s; medians of %d)\n", time.Now().Format(time.DateOnly), repeat)
	fmt.Printf("  %-44s %12s %12s %8s  %s\n", "measure", "meshflow", "bare", "ratio", "target")

	// 1 and 5: the large product.
	dir := b.TempDir()
	csv := filepath.Join(dir, "flights.csv")
	large := refresh.Product{Domain: "bench", Name: "route-days", Owner: "ana", TaskQueue: queue,
		Inputs:   []refresh.Input{{Name: "flights", URI: "file://" + filepath.ToSlash(csv), Format: refresh.FormatCSV}},
		SQL:      flightsSQL,
		Contract: flightsContract, ContractFile: "route-days.odcs.yaml",
		Governance: refresh.Governance{Approval: refresh.ApprovalNever}}
	rev := h.Mesh.Products(b, large)
	var mesh, duck, duckWhole []time.Duration
	var meshPeak, duckPeak []float64
	var activities int
	for i := range repeat {
		// New data each time, so that every refresh publishes a version.
		generateFlights(b, csv, flights, i)
		took, mib, id := peakOf(b, func() string { return refreshOnce(b, h, large, rev, fmt.Sprintf("large-%d", i)) })
		mesh, meshPeak = append(mesh, took), append(meshPeak, mib)
		activities = activitiesOf(b, h.Temporal, id)
		took, mib, _ = peakOf(b, func() string { bareDuckDB(b, csv, dir, false); return "" })
		duck, duckPeak = append(duck, took), append(duckPeak, mib)
		duckWhole = append(duckWhole, timeIt(func() { bareDuckDB(b, csv, dir, true) }))
	}
	var bare []time.Duration
	for i := range repeat {
		bare = append(bare, timeIt(func() { runBare(b, h.Temporal, fmt.Sprintf("large-%d", i), bareSteps) }))
	}
	rows := fmt.Sprintf("%d flights", flights)
	row("whole refresh ("+rows+")", median(mesh), median(duck)+median(bare), "<= 1.3x",
		fmt.Sprintf("bare = DuckDB %.2f s + pipeline %.2f s; the refresh ran %d activities", median(duck).Seconds(), median(bare).Seconds(), activities))
	row("  against DuckDB sniffing the whole file", median(mesh), median(duckWhole)+median(bare), "",
		fmt.Sprintf("bare = DuckDB %.2f s + pipeline %.2f s; meshflow sniffs the CSV's types from the whole file, DuckDB from its first 20,480 rows", median(duckWhole).Seconds(), median(bare).Seconds()))
	fmt.Printf("  %-44s %9.0f MiB %9.0f MiB %7.2fx  %s\n", "peak RSS above the process's before the run", medianF(meshPeak), medianF(duckPeak),
		medianF(meshPeak)/medianF(duckPeak), "(the worker's share; the bare side is the DuckDB program)")

	// 2: a tiny product, one run after the other.
	tiny := tinyProduct(b, dir, "tiny", queue, 0)
	rev = h.Mesh.Products(b, tiny)
	var tinyMesh, tinyBare []time.Duration
	for i := range repeat {
		tinyProduct(b, dir, "tiny", queue, i+1)
		tinyMesh = append(tinyMesh, timeIt(func() { refreshOnce(b, h, tiny, rev, fmt.Sprintf("tiny-%d", i)) }))
		tinyBare = append(tinyBare, timeIt(func() { runBare(b, h.Temporal, fmt.Sprintf("tiny-%d", i), bareSteps) }))
	}
	row("tiny refresh, sequential", median(tinyMesh), median(tinyBare), "<= 1.3x", "")
	profile(b, h.Temporal, refresh.WorkflowID(tiny.Ref(), fmt.Sprintf("tiny-%d", repeat-1)))

	// 3: many tiny refreshes at once.
	var many []refresh.Product
	for i := range concurrent {
		many = append(many, tinyProduct(b, dir, fmt.Sprintf("tiny-%03d", i), queue, i))
	}
	rev = h.Mesh.Products(b, many...)
	meshLat, meshWall := inParallel(concurrent, func(i int) { refreshOnce(b, h, many[i], rev, "many") })
	bareLat, bareWall := inParallel(concurrent, func(i int) { runBare(b, h.Temporal, fmt.Sprintf("many-%d", i), bareSteps) })
	meshRate, bareRate := float64(concurrent)/meshWall.Seconds(), float64(concurrent)/bareWall.Seconds()
	fmt.Printf("  %-44s %8.1f / s %8.1f / s %7.2fx  %s\n", fmt.Sprintf("throughput, %d tiny refreshes at once", concurrent), meshRate, bareRate, meshRate/bareRate, ">= 0.8x")
	fmt.Printf("    latency p50 / p95 / max: meshflow %s, bare %s\n", percentiles(meshLat), percentiles(bareLat))

	// 4: publishing 100 MiB.
	pub, stageAndPub, put := publishAgainstPut(b, repeat)
	row("publish 100 MiB to versitygw", median(pub), median(put), "<= 1.2x", "the Publish step against one raw PUT")
	row("  staged and published", median(stageAndPub), median(put), "", "the validate stage's upload to staging, then Publish")

	// 6: client commands.
	clientCommands(b, h)

	b.ReportMetric(median(mesh).Seconds()/(median(duck)+median(bare)).Seconds(), "whole/bare")
	b.ReportMetric(median(tinyMesh).Seconds()/median(tinyBare).Seconds(), "tiny/bare")
	b.ReportMetric(meshRate/bareRate, "throughput/bare")
	b.ReportMetric(median(pub).Seconds()/median(put).Seconds(), "publish/put")
}

// row prints one measure with its ratio.
func row(what string, mesh, bare time.Duration, target, note string) {
	fmt.Printf("  %-44s %10.3f s %10.3f s %7.2fx  %s", what, mesh.Seconds(), bare.Seconds(), mesh.Seconds()/bare.Seconds(), target)
	if note != "" {
		fmt.Printf("  (%s)", note)
	}
	fmt.Println()
}

// generateFlights writes n flights to a CSV file with DuckDB; seed varies the
// delays, so that every file holds other data.
func generateFlights(b *testing.B, file string, n, seed int) {
	b.Helper()
	db, err := engine.Open(b.Context(), filepath.Join(b.TempDir(), "gen"), 2, "", 0, filepath.Dir(file))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	q := fmt.Sprintf(`COPY (SELECT i AS flight_id, DATE '2026-01-01' + CAST(i %% 180 AS INTEGER) AS day,
		'A' || lpad(CAST(i %% 41 AS VARCHAR), 2, '0') AS origin, 'B' || lpad(CAST((i * 7) %% 53 AS VARCHAR), 2, '0') AS dest,
		CASE WHEN i %% 97 = 0 THEN NULL ELSE CAST((i * 31 + %d) %% 240 AS INTEGER) - 60 END AS dep_delay,
		CAST(200 + (i * 13) %% 4000 AS DOUBLE) AS distance FROM range(%d) t(i)) TO %s (FORMAT csv, HEADER)`,
		seed, n, engine.Quote(file))
	if _, err := db.ExecContext(b.Context(), q); err != nil {
		b.Fatal(err)
	}
}

// bareDuckDB does by hand what the refresh of the large product does: read the
// CSV, transform, check the five rules, write Parquet and its checksum. With
// whole, it sniffs the CSV's types from the whole file, as meshflow does;
// otherwise from its first rows, DuckDB's default.
func bareDuckDB(b *testing.B, csv, dir string, whole bool) {
	b.Helper()
	ctx := b.Context()
	db, err := engine.Open(ctx, filepath.Join(b.TempDir(), "bare"), 2, "", 0, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	out := filepath.Join(dir, "out.parquet")
	sniff := ""
	if whole {
		sniff = ", sample_size = -1"
	}
	steps := []string{
		"CREATE TABLE flights AS SELECT * FROM read_csv(" + engine.Quote(csv) + sniff + ")",
		"CREATE TABLE out AS " + flightsSQL,
	}
	for _, q := range steps {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range flightChecks {
		var bad int64
		if err := db.QueryRowContext(ctx, q).Scan(&bad); err != nil || bad != 0 {
			b.Fatalf("%s: %d violations, %v", q, bad, err)
		}
	}
	if _, err := db.ExecContext(ctx, "COPY out TO "+engine.Quote(out)+" (FORMAT parquet)"); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(sha256.New(), f); err != nil {
		b.Fatal(err)
	}
}

// tinyProduct writes a CSV of a few rows (version varies one value) and returns
// a product reading it.
func tinyProduct(b *testing.B, dir, name, queue string, version int) refresh.Product {
	b.Helper()
	f := filepath.Join(dir, name+".csv")
	if err := os.WriteFile(f, fmt.Appendf(nil, "id,amount\n1,10.5\n2,3\n3,%d\n", version), 0o644); err != nil {
		b.Fatal(err)
	}
	return refresh.Product{Domain: "bench", Name: name, Owner: "ana", TaskQueue: "bench",
		Inputs:   []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(f), Format: refresh.FormatCSV}},
		SQL:      "SELECT id, amount FROM orders",
		Contract: harness.OrdersContract, ContractFile: name + ".odcs.yaml",
		Governance: refresh.Governance{Approval: refresh.ApprovalNever}}
}

// refreshOnce starts a refresh of p from revision rev, as meshflow serve does,
// waits until it published and returns its workflow ID.
func refreshOnce(b *testing.B, h *harness.Env, p refresh.Product, rev, suffix string) string {
	b.Helper()
	run, err := h.Control.Start(context.Background(), control.Refresh{Ref: p.Ref(), TaskQueue: p.TaskQueue, Revision: rev,
		Principal: "chen.jie", Reason: "bench", Suffix: suffix})
	if err != nil {
		b.Fatal(err)
	}
	h.Published(run, time.Hour)
	return run.GetID()
}

// profile prints where the time of run id went: each activity with its wait
// for a worker (scheduled to started) and its work (started to closed), and
// the workflow tasks between them, from the run's history.
func profile(b *testing.B, tc client.Client, id string) {
	b.Helper()
	it := tc.GetWorkflowHistory(b.Context(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	type act struct {
		name               string
		scheduled, started time.Time
	}
	acts := map[int64]*act{}
	var first, last, wftScheduled, wftStarted time.Time
	var wfts int
	var wftWait, wftWork time.Duration
	var lines []string
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		at := ev.GetEventTime().AsTime()
		if first.IsZero() {
			first = at
		}
		last = at
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			wftScheduled = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wftStarted = at
			wftWait += at.Sub(wftScheduled)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			wfts++
			wftWork += at.Sub(wftStarted)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			acts[ev.GetEventId()] = &act{name: ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), scheduled: at}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if a := acts[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()]; a != nil {
				a.started = at
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			var sid int64
			switch {
			case ev.GetActivityTaskCompletedEventAttributes() != nil:
				sid = ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			case ev.GetActivityTaskFailedEventAttributes() != nil:
				sid = ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
			default:
				sid = ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
			}
			if a := acts[sid]; a != nil && !a.started.IsZero() {
				lines = append(lines, fmt.Sprintf("      %-30s at %5.0f ms  waited %4.0f ms  worked %5.0f ms", a.name,
					ms(a.scheduled.Sub(first)), ms(a.started.Sub(a.scheduled)), ms(at.Sub(a.started))))
			}
		}
	}
	fmt.Printf("    profile of %s: %.0f ms from start to close, %d workflow tasks (%.0f ms waiting for a worker, %.0f ms in the worker)\n",
		id, ms(last.Sub(first)), wfts, ms(wftWait), ms(wftWork))
	for _, l := range lines {
		fmt.Println(l)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// activitiesOf counts the activities a run scheduled, its session's included.
func activitiesOf(b *testing.B, tc client.Client, id string) int {
	b.Helper()
	it := tc.GetWorkflowHistory(b.Context(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			n++
		}
	}
	return n
}

// startBareWorker runs the bare pipeline on its own queue with the SDK's
// default worker options: what a hand-written Temporal program would do.
func startBareWorker(b *testing.B, tc client.Client) {
	b.Helper()
	w := sdkworker.New(tc, bareQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: barePipeline})
	w.RegisterActivityWithOptions(func(_ context.Context, step int) (int, error) { return step + 1, nil },
		activity.RegisterOptions{Name: bareStep})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
}

// bareWorkflow runs n activities one after the other, each given the result of
// the one before: the shape of a refresh without its work.
func bareWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	step := 0
	for range n {
		if err := workflow.ExecuteActivity(ctx, bareStep, step).Get(ctx, &step); err != nil {
			return step, err
		}
	}
	return step, nil
}

// runBare runs one bare pipeline of n activities and waits for it.
func runBare(b *testing.B, tc client.Client, suffix string, n int) {
	b.Helper()
	run, err := tc.ExecuteWorkflow(b.Context(), client.StartWorkflowOptions{ID: "bare/" + suffix, TaskQueue: bareQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, barePipeline, n)
	if err != nil {
		b.Fatal(err)
	}
	var steps int
	if err := run.Get(b.Context(), &steps); err != nil || steps != n {
		b.Fatalf("bare pipeline %s: %d steps, %v", suffix, steps, err)
	}
}

// inParallel runs f(0..n-1) at once and returns each call's latency and the
// wall time of all of them.
func inParallel(n int, f func(i int)) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t := time.Now()
			f(i)
			lat[i] = time.Since(t)
		})
	}
	wg.Wait()
	return lat, time.Since(start)
}

// publishAgainstPut stages 100 MiB in versitygw and publishes it as a version,
// as the validate and publish stages do, against a raw PUT of the same bytes.
// It returns the Publish step's times, the staging upload's and Publish's
// together, and the raw PUT's.
func publishAgainstPut(b *testing.B, repeat int) (pub, stageAndPub, put []time.Duration) {
	b.Helper()
	srv := s3test.Start(b)
	srv.Bucket(b, "bench")
	st, err := storage.OpenS3(b.Context(), "bench", "", srv.Config)
	if err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 100<<20)
	if _, err := rand.Read(blob); err != nil {
		b.Fatal(err)
	}
	p := &publish.Publisher{Store: st, Scratch: b.TempDir()}
	const ref = "bench/blob"
	for i := range repeat {
		put = append(put, timeIt(func() {
			if _, err := st.Put(b.Context(), fmt.Sprintf("raw/%d/data.parquet", i), bytes.NewReader(blob), storage.PutOptions{}); err != nil {
				b.Fatal(err)
			}
		}))
		stageAndPub = append(stageAndPub, timeIt(func() {
			runID := fmt.Sprintf("run-%d", i)
			data, err := st.Put(b.Context(), layout.StagedKey(ref, runID, layout.Data), bytes.NewReader(blob), storage.PutOptions{})
			if err != nil {
				b.Fatal(err)
			}
			report, err := st.Put(b.Context(), layout.StagedKey(ref, runID, layout.Report), strings.NewReader("{}"), storage.PutOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m := refresh.Manifest{Product: ref, RunID: runID,
				Data:   refresh.ObjectRef{Key: data.Key, Size: data.Size, SHA256: data.SHA256},
				Report: refresh.ObjectRef{Key: report.Key, Size: report.Size, SHA256: report.SHA256}}
			previous := ""
			if i > 0 {
				previous = fmt.Sprintf("1.%d.0", i-1)
			}
			pub = append(pub, timeIt(func() {
				if _, err := p.Publish(b.Context(), refresh.PublishInput{Manifest: m, Previous: previous, Bump: refresh.BumpMinor}); err != nil {
					b.Fatal(err)
				}
			}))
		}))
	}
	return pub, stageAndPub, put
}

// clientCommands times meshflow status, validate and diff as a user runs them,
// from a built binary, and prints each one's wall time and peak RSS.
func clientCommands(b *testing.B, h *harness.Env) {
	b.Helper()
	bin := harness.BuildMeshflow(b)
	evict(b, bin)
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	contracts := filepath.Join(root, "examples", "mesh", "finance", "fx-rates.odcs.yaml")
	cmds := []struct {
		name string
		args []string
	}{
		{"status", []string{"status", "--temporal-address", h.Addr, "--namespace", h.Namespace, "bench/route-days"}},
		{"validate", []string{"validate", filepath.Join(root, "examples", "mesh")}},
		{"diff", []string{"diff", contracts, contracts}},
	}
	wrap := filepath.Join(b.TempDir(), "maxrss")
	if out, err := exec.Command("go", "build", "-o", wrap, "./maxrss").CombinedOutput(); err != nil {
		b.Fatalf("build maxrss: %v\n%s", err, out)
	}
	for _, c := range cmds {
		var took []time.Duration
		var rss []float64
		for range 5 {
			cmd := exec.Command(wrap, append([]string{bin}, c.args...)...)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			start := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatalf("meshflow %s: %v\n%s%s", strings.Join(c.args, " "), err, out.String(), errOut.String())
			}
			took = append(took, time.Since(start))
			rss = append(rss, maxRSS(b, errOut.String()))
		}
		fmt.Printf("  %-44s %10.3f s %9.0f MiB %8s  %s\n", "meshflow "+c.name, median(took).Seconds(), medianF(rss), "", "<= 0.050 s, <= 50 MiB")
	}
}

// evict writes a just-built binary to disk and drops it from the page cache,
// so that the commands map it as they map an installed binary. Mapped from
// the large page-cache folios a fresh write leaves, every page fault would
// bring in a whole folio and a command's peak RSS would come out about 20 MiB
// higher than a user sees.
func evict(b *testing.B, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatalf("drop %s from the page cache: %v", path, err)
	}
}

// maxRSS reads the peak the maxrss command printed last, in MiB.
func maxRSS(b *testing.B, stderr string) float64 {
	b.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var kib float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "maxrss-kib %f", &kib); err != nil {
		b.Fatalf("no peak RSS in %q: %v", stderr, err)
	}
	return kib / 1024
}

// peakOf runs f and returns how long it took and the process's peak RSS above
// what it held before, reset first (Linux: /proc/self/clear_refs), with what f
// returned.
func peakOf(b *testing.B, f func() string) (time.Duration, float64, string) {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
	before := status(b, "VmRSS")
	start := time.Now()
	s := f()
	took := time.Since(start)
	return took, status(b, "VmHWM") - before, s
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("%.2f / %.2f / %.2f s", at(0.5).Seconds(), at(0.95).Seconds(), s[len(s)-1].Seconds())
}
