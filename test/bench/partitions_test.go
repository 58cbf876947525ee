// Package bench holds meshflow's benchmarks. They run real refreshes on an
// in-process Temporal server with DuckDB and print figures with their ratios
// against a baseline measured in the same process, since machines are noisy.
// They are not run by the test suite:
//
//	go test ./test/bench -run '^$' -bench Partitions -benchtime 1x -timeout 60m
//
// MESHFLOW_BENCH_ROWS and MESHFLOW_BENCH_DAYS change the size (default 30,000,000
// rows in 180 daily partitions).
package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/test/harness"
)

// ordersContract checks order lines: four row rules and a dataset rule.
const ordersContract = `apiVersion: v3.1.0
kind: DataContract
id: order-lines
name: order-lines
version: 1.0.0
status: active
schema:
  - name: order_lines
    properties:
      - {name: order_id, logicalType: integer, required: true}
      - {name: day, logicalType: date, required: true}
      - {name: region, logicalType: string, required: true}
      - name: amount_usd
        logicalType: number
        required: true
        quality:
          - {type: custom, engine: cel, implementation: "amount_usd >= 0.0", severity: error}
    quality:
      - {type: library, metric: rowCount, mustBeGreaterThan: 0, severity: error}
`

const ordersSQL = "SELECT order_id, day, region, amount * 1.1 AS amount_usd FROM orders"

// BenchmarkPartitions measures a partitioned product against the same product
// refreshed whole: the full build, an incremental refresh of one new partition,
// the objects that refresh writes, and the peak memory for the full size next to a
// tenth of it.
func BenchmarkPartitions(b *testing.B) {
	rows, days := envInt(b, "MESHFLOW_BENCH_ROWS", 30_000_000), envInt(b, "MESHFLOW_BENCH_DAYS", 180)
	h := harness.New(b, "bench", harness.LocalStore(b))
	const queue = "bench"
	h.StartWorkers([]string{queue}, harness.WorkerOptions{Threads: 2, MaxConcurrentActivities: 4})

	small, large := b.TempDir(), b.TempDir()
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	generate(b, large, first, 0, days, rows/days)
	// A tenth of the product: a tenth of the days, each as large. Memory
	// should follow the batch, not the product.
	generate(b, small, first, 0, max(1, days/10), rows/days)
	b.Logf("generated %d rows in %d daily partitions (and a tenth of them in a tenth of the days)", rows, days)

	whole := product("orders-whole", queue, "file://"+filepath.ToSlash(large)+"/", nil)
	parted := product("orders-by-day", queue, "file://"+filepath.ToSlash(large)+"/day={day}/",
		&refresh.Partitioning{By: "day", Column: "day", Start: first.Format(time.DateOnly), MaxParallel: 2})
	tenth := product("orders-tenth", queue, "file://"+filepath.ToSlash(small)+"/day={day}/", parted.Partitions)

	peakTenth := measure(b, h, tenth, "tenth")
	tWhole := timed(b, h, whole, "whole")
	peakFull := measure(b, h, parted, "full")
	tFull := peakFull.took
	generate(b, large, first, days, 1, rows/days)
	before := objects(b, h, parted.Ref())
	tIncr := timed(b, h, parted, "incremental")
	var written []string
	for k := range objects(b, h, parted.Ref()) {
		if !before[k] {
			written = append(written, k)
		}
	}
	head, _, err := catalog.ReadLatest(b.Context(), h.Store, parted.Ref())
	if err != nil {
		b.Fatal(err)
	}

	fmt.Printf("\npartitioned products, %d rows in %d daily partitions (%s)\n", rows, days, time.Now().Format(time.DateOnly))
	fmt.Printf("  full build, partitioned      %8.2f s   %.2fx the same data refreshed whole (%.2f s; target <= 1.5x)\n", tFull.Seconds(), tFull.Seconds()/tWhole.Seconds(), tWhole.Seconds())
	fmt.Printf("  one new partition            %8.2f s   %.3fx the full build (target <= 0.05x): %s\n", tIncr.Seconds(), tIncr.Seconds()/tFull.Seconds(), head.Manifest.Partitions.Words())
	fmt.Printf("  objects the incremental run wrote: %d, all in the new partition: %t (%s)\n", len(written), inOnePartition(written, first.AddDate(0, 0, days)), strings.Join(written, ", "))
	fmt.Printf("  peak RSS, full size          %8.0f MiB  %.2fx the peak for a tenth of the rows in a tenth of the days (%.0f MiB; target <= 1.2x)\n", peakFull.mib, peakFull.mib/peakTenth.mib, peakTenth.mib)
	fmt.Printf("    (the process holds the Temporal server too; above its %.0f MiB before each run: %.0f MiB and %.0f MiB, %.2fx)\n",
		peakFull.before, peakFull.mib-peakFull.before, peakTenth.mib-peakTenth.before, (peakFull.mib-peakFull.before)/(peakTenth.mib-peakTenth.before))
	b.ReportMetric(tFull.Seconds()/tWhole.Seconds(), "full/whole")
	b.ReportMetric(tIncr.Seconds()/tFull.Seconds(), "incremental/full")
	b.ReportMetric(peakFull.mib/peakTenth.mib, "rss-full/tenth")
}

// generate writes per day rows of order lines for the days from day first+from on,
// one Parquet file per day folder, with DuckDB.
func generate(b *testing.B, dir string, first time.Time, from, days, per int) {
	b.Helper()
	db, err := engine.Open(b.Context(), filepath.Join(b.TempDir(), "gen"), 2, "", 0, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for d := from; d < from+days; d++ {
		day := first.AddDate(0, 0, d).Format(time.DateOnly)
		folder := filepath.Join(dir, "day="+day)
		if err := os.MkdirAll(folder, 0o755); err != nil {
			b.Fatal(err)
		}
		q := fmt.Sprintf(`COPY (SELECT %d + i AS order_id, DATE '%s' AS day, 'region-' || (i %% 7) AS region,
			CAST((i * 7919) %% 100000 AS DOUBLE) / 100 AS amount FROM range(%d) t(i)) TO %s (FORMAT parquet)`,
			d*per, day, per, engine.Quote(filepath.Join(folder, "orders.parquet")))
		if _, err := db.ExecContext(b.Context(), q); err != nil {
			b.Fatal(err)
		}
	}
}

func product(name, queue, uri string, parts *refresh.Partitioning) refresh.Product {
	return refresh.Product{Domain: "bench", Name: name, Owner: "ana", TaskQueue: queue,
		Inputs:   []refresh.Input{{Name: "orders", URI: uri, Format: refresh.FormatParquet, Partitioned: parts != nil}},
		SQL:      ordersSQL,
		Contract: ordersContract, ContractFile: name + ".odcs.yaml", Partitions: parts,
		Governance: refresh.Governance{Approval: refresh.ApprovalNever}}
}

var runs int

// timed refreshes p and returns how long the run took.
func timed(b *testing.B, h *harness.Env, p refresh.Product, what string) time.Duration {
	b.Helper()
	runs++
	start := time.Now()
	h.Published(h.Start(p, fmt.Sprintf("%s-%d", what, runs), "chen.jie"), time.Hour)
	return time.Since(start)
}

// peak is the process's peak resident memory during one run.
type peak struct {
	mib, before float64
	took        time.Duration
}

// measure refreshes p and reports the process's peak RSS during the run, reset
// before it (Linux: /proc/self/clear_refs).
func measure(b *testing.B, h *harness.Env, p refresh.Product, what string) peak {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
	before := status(b, "VmRSS")
	took := timed(b, h, p, what)
	return peak{mib: status(b, "VmHWM"), before: before, took: took}
}

// status reads a memory figure of /proc/self/status, in MiB.
func status(b *testing.B, field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func objects(b *testing.B, h *harness.Env, ref string) map[string]bool {
	objs, err := h.Store.List(b.Context(), layout.PartitionsPrefix(ref))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range objs {
		out[o.Key] = true
	}
	return out
}

func inOnePartition(keys []string, day time.Time) bool {
	for _, k := range keys {
		if !strings.Contains(k, "/day="+day.Format(time.DateOnly)+"/") {
			return false
		}
	}
	return len(keys) > 0
}

func envInt(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, v)
		}
		return n
	}
	return def
}
