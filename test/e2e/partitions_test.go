package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

const partitioned = "supply-chain/daily-deliveries"

// writeDay writes one day's delivery file of the partitioned example product.
func writeDay(t *testing.T, dir, day string, rows ...string) {
	t.Helper()
	folder := filepath.Join(dir, "day="+day)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "delivery_id,lane,carrier,delivered_at,delay_minutes\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(folder, "deliveries.csv"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// delivery is a row of a delivery file.
func delivery(id int, at string) string {
	return fmt.Sprintf("DLV-%04d,Milan DC > Poznan DC,Nordic Haul,%s,%d", id, at, id%40)
}

// deliveriesByID returns a partitioned product's SQL that keeps each
// delivery's day and ID, and its contract with the one dataset rule given.
func deliveriesByID(rule string) (sql, contract string) {
	return "SELECT CAST(delivered_at AS DATE) AS day, delivery_id FROM deliveries", `apiVersion: v3.1.0
kind: DataContract
id: deliveries-by-id
name: deliveries-by-id
version: 1.0.0
status: active
schema:
  - name: deliveries
    properties:
      - {name: day, logicalType: date, required: true}
      - {name: delivery_id, logicalType: string, required: true}
    quality:
      - ` + rule + "\n"
}

// partitionedEnv runs the example mesh's partitioned product over data the test
// writes in its own folder.
type partitionedEnv struct {
	*env
	data string
	p    refresh.Product
	// extra are products the revision holds besides the example mesh's.
	extra []refresh.Product
}

func newPartitionedEnv(t *testing.T, build ...func(harness.BuildPartitionsFunc) harness.BuildPartitionsFunc) *partitionedEnv {
	e := newEnv(t, harness.LocalStore(t))
	o := harness.WorkerOptions{Threads: 2}
	if len(build) > 0 {
		o.BuildPartitions = build[0]
	}
	e.StartWorkers([]string{e.product(partitioned).TaskQueue}, o)
	pe := &partitionedEnv{env: e, data: t.TempDir(), p: e.product(partitioned)}
	pe.p.Inputs[0].URI = "file://" + filepath.ToSlash(pe.data) + "/day={day}/"
	pt := *pe.p.Partitions
	pt.Lookback = 0
	pe.p.Partitions = &pt
	return pe
}

// TestPartitionedProductBuildsOnlyWhatChanged refreshes a day-partitioned product
// four times: the first run builds every day; the next builds only the new day
// and carries the others over by reference; a changed day file and a requested
// range are rebuilt. Rows whose key is null or another day's are quarantined with
// the reason, and rows in = rows out + rows quarantined per partition and in
// total.
func TestPartitionedProductBuildsOnlyWhatChanged(t *testing.T) {
	pe := newPartitionedEnv(t)
	writeDay(t, pe.data, "2026-06-01", delivery(1, "2026-06-01 08:00:00"), delivery(2, "2026-06-01 09:00:00"))
	writeDay(t, pe.data, "2026-06-02", delivery(3, "2026-06-02 08:00:00"), delivery(4, "2026-06-03 00:30:00")) // late: the next day's
	writeDay(t, pe.data, "2026-06-03", delivery(5, "2026-06-03 10:00:00"), delivery(6, ""))                    // no key
	writeDay(t, pe.data, "2026-06-04", delivery(7, "2026-06-04 11:00:00"))

	m1, idx1 := pe.run("first", "")
	if m1.Version != "1.0.0" || m1.Partitions == nil || m1.Partitions.Built != 4 || m1.Partitions.CarriedOver != 0 || m1.Partitions.Total != 4 {
		t.Fatalf("first run: version %s partitions %+v; want 1.0.0 with 4 built", m1.Version, m1.Partitions)
	}
	var in, out, quarantined int64
	for _, p := range idx1.Partitions {
		if p.RowsIn != p.RowsOut+p.Quarantined {
			t.Errorf("partition %s: %d rows in, %d out, %d quarantined", p.Key, p.RowsIn, p.RowsOut, p.Quarantined)
		}
		in, out, quarantined = in+p.RowsIn, out+p.RowsOut, quarantined+p.Quarantined
		want := int64(0)
		if p.Key == "2026-06-02" || p.Key == "2026-06-03" {
			want = 1
		}
		if p.OutsideRows != want || (want > 0) != (p.Outside != nil) {
			t.Errorf("partition %s: %d rows outside (object %v), want %d", p.Key, p.OutsideRows, p.Outside, want)
		}
	}
	if q := m1.Quality; q.RowsIn != in || q.RowsOut != out || q.Quarantined != quarantined || in != out+quarantined || quarantined != 2 {
		t.Fatalf("version quality %d in, %d out, %d quarantined; partitions %d, %d, %d", q.RowsIn, q.RowsOut, q.Quarantined, in, out, quarantined)
	}

	// A new day: only it is built; the others are the first version's objects.
	writeDay(t, pe.data, "2026-06-05", delivery(8, "2026-06-05 07:00:00"))
	before := pe.partitionObjects()
	m2, idx2 := pe.run("new-day", "")
	if m2.Partitions.Built != 1 || m2.Partitions.CarriedOver != 4 {
		t.Fatalf("second run: %+v; want 1 built, 4 carried over", m2.Partitions)
	}
	st, err := pe.Control.Status(t.Context(), refresh.WorkflowID(partitioned, "new-day"), "")
	if err != nil || !strings.Contains(st.Detail, "1 built, 4 carried over") {
		t.Fatalf("status of the second run: %q, %v; want it to say 1 built, 4 carried over", st.Detail, err)
	}
	for i, p := range idx2.Partitions[:4] {
		if p.Data != idx1.Partitions[i].Data || p.RunID != m1.RunID {
			t.Errorf("partition %s was not carried over: %+v, first version %+v", p.Key, p.Data, idx1.Partitions[i].Data)
		}
	}
	var written []string
	for k := range pe.partitionObjects() {
		if !before[k] {
			written = append(written, k)
		}
	}
	for _, k := range written {
		if !strings.Contains(k, "/day=2026-06-05/") {
			t.Errorf("the incremental run wrote %s, outside the new partition", k)
		}
	}
	if len(written) == 0 {
		t.Fatal("the incremental run wrote no object for the new partition")
	}

	// A changed day file is rebuilt, with the newest day.
	writeDay(t, pe.data, "2026-06-02", delivery(3, "2026-06-02 08:00:00"), delivery(9, "2026-06-02 12:00:00"))
	m3, idx3 := pe.run("changed-day", "")
	if m3.Partitions.Built != 2 || m3.Partitions.CarriedOver != 3 {
		t.Fatalf("third run: %+v; want 2 built (the changed day and the newest), 3 carried over", m3.Partitions)
	}
	if p := idx3.Partitions[1]; p.Key != "2026-06-02" || p.RunID != m3.RunID || p.RowsIn != 1 || p.OutsideRows != 0 {
		t.Fatalf("the changed day: %+v", p)
	}

	// A requested range is rebuilt whatever its state.
	m4, _ := pe.run("requested", "2026-06-01..2026-06-02")
	if m4.Partitions.Built != 3 || m4.Partitions.CarriedOver != 2 {
		t.Fatalf("fourth run: %+v; want 3 built (two asked for and the newest), 2 carried over", m4.Partitions)
	}
	a, err := catalog.AuditProduct(t.Context(), pe.Store, partitioned)
	if err != nil || !a.OK() {
		t.Fatalf("audit: %v %v", a.Problems, err)
	}

	// gc keeps the latest version's data: it removes the partition objects
	// only older versions name, never one the latest names.
	latest, err := catalog.Partitions(t.Context(), pe.Store, m4)
	if err != nil {
		t.Fatal(err)
	}
	namedByLatest := map[string]bool{}
	for _, p := range latest.Partitions {
		namedByLatest[p.Data.Key] = true
	}
	gc, err := catalog.GC(t.Context(), pe.Store, partitioned, 1, false, time.Now().Add(2*catalog.MinGCAge))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gc.Retired, ",") != "1.0.0,1.1.0,1.2.0" || len(gc.Removed) == 0 {
		t.Fatalf("gc retired %v and removed %v; want 1.0.0 to 1.2.0 retired and their partitions removed", gc.Retired, gc.Removed)
	}
	for _, k := range gc.Removed {
		if namedByLatest[k] {
			t.Errorf("gc removed %s, which the latest version names", k)
		}
	}
	for k := range pe.partitionObjects() {
		if !namedByLatest[k] && strings.HasSuffix(k, "/"+layout.Data) {
			t.Errorf("gc left %s, which only retired versions name", k)
		}
	}
	a, err = catalog.AuditProduct(t.Context(), pe.Store, partitioned)
	if err != nil || !a.OK() || len(a.Retired) != 3 || len(a.Unreferenced) != 0 {
		t.Fatalf("audit after gc: problems %v, retired %v, unreferenced %v, %v", a.Problems, a.Retired, a.Unreferenced, err)
	}
	// The next refresh carries over what the kept version names.
	writeDay(t, pe.data, "2026-06-06", delivery(10, "2026-06-06 07:00:00"))
	if m5, _ := pe.run("after-gc", ""); m5.Partitions.Built != 1 || m5.Partitions.CarriedOver != 5 {
		t.Fatalf("after gc: %+v; want 1 built, 5 carried over", m5.Partitions)
	}
}

// TestPartitionedDatasetRulesSeeTheWholeVersion checks that the dataset rules of
// a partitioned product are exact over the version: a delivery in two days'
// files is no duplicate within either partition, but is one in the version, and
// the rule that forbids duplicates blocks publication.
func TestPartitionedDatasetRulesSeeTheWholeVersion(t *testing.T) {
	pe := newPartitionedEnv(t)
	pe.p.SQL, pe.p.Contract = deliveriesByID(`{type: custom, engine: cel, implementation: "duplicate_count.delivery_id == 0", severity: error}`)
	writeDay(t, pe.data, "2026-06-01", delivery(1, "2026-06-01 08:00:00"), delivery(2, "2026-06-01 09:00:00"))
	writeDay(t, pe.data, "2026-06-02", delivery(2, "2026-06-02 08:00:00"))
	run := pe.start("duplicates", "")
	_, err := pe.Result(run, 2*time.Minute)
	if err == nil || harness.ErrType(err) != refresh.ErrQuality {
		t.Fatalf("got %v (%s); want the run to fail its quality check", err, harness.ErrType(err))
	}
	st, _ := pe.Control.Status(t.Context(), run.GetID(), "")
	found := false
	for _, r := range st.Rules {
		found = found || (r.Status == "fail" && !strings.Contains(r.ID, " in "))
	}
	if !found || st.RowsIn != 3 {
		t.Fatalf("status rules %+v, %d rows in; want the version-wide rule failing over 3 rows", st.Rules, st.RowsIn)
	}
	if objs := pe.partitionObjects(); len(objs) != 0 {
		t.Fatalf("a run that published nothing left partition objects: %v", objs)
	}
}

// start applies a revision with the product as the test edited it and starts a
// refresh of it, building the partitions of requested too.
func (pe *partitionedEnv) start(suffix, requested string) client.WorkflowRun {
	t := pe.T
	t.Helper()
	_, id := pe.Mesh.Apply(t, pe.set, func(rev *meshrev.Revision) {
		rev.Products[partitioned] = pe.p
		for _, p := range pe.extra {
			rev.Products[p.Ref()] = p
		}
	})
	run, err := pe.Control.Start(t.Context(), control.Refresh{Ref: partitioned, TaskQueue: pe.p.TaskQueue, Revision: id,
		Principal: "chen.jie", Reason: pe.Name, Suffix: suffix, Partitions: requested})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// run refreshes the product and returns the published manifest and index.
func (pe *partitionedEnv) run(suffix, requested string) (refresh.Manifest, *refresh.PartitionIndex) {
	t := pe.T
	t.Helper()
	pe.Published(pe.start(suffix, requested), 3*time.Minute)
	head, found, err := catalog.ReadLatest(t.Context(), pe.Store, partitioned)
	if err != nil || !found {
		t.Fatalf("read latest: %v %v", found, err)
	}
	idx, err := catalog.Partitions(t.Context(), pe.Store, head.Manifest)
	if err != nil || idx == nil {
		t.Fatalf("read the partition index: %v", err)
	}
	return head.Manifest, idx
}

// partitionObjects lists the product's partition objects.
func (pe *partitionedEnv) partitionObjects() map[string]bool {
	objs, err := pe.Store.List(pe.T.Context(), layout.PartitionsPrefix(partitioned))
	if err != nil {
		pe.T.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range objs {
		out[o.Key] = true
	}
	return out
}

// TestPartitionedRunSurvivesALostBatch loses one batch's first attempt, as a
// worker that dies mid-batch does (its heartbeat stops and Temporal retries the
// activity elsewhere): only that batch runs again, the others run once, and the
// version is complete.
func TestPartitionedRunSurvivesALostBatch(t *testing.T) {
	var mu sync.Mutex
	calls := map[int]int{}
	pe := newPartitionedEnv(t, func(real harness.BuildPartitionsFunc) harness.BuildPartitionsFunc {
		return func(ctx context.Context, in refresh.BatchInput) (refresh.BatchResult, error) {
			mu.Lock()
			calls[in.Batch]++
			n := calls[in.Batch]
			mu.Unlock()
			if in.Batch == 1 && n == 1 {
				return refresh.BatchResult{}, errors.New("worker lost in the middle of the batch")
			}
			return real(ctx, in)
		}
	})
	pt := *pe.p.Partitions
	pt.MaxParallel = 2 // 12 days in batches of 3: four batches
	pe.p.Partitions = &pt
	for d := 1; d <= 12; d++ {
		day := fmt.Sprintf("2026-06-%02d", d)
		writeDay(t, pe.data, day, delivery(d, day+" 08:00:00"))
	}
	m, idx := pe.run("lost-batch", "")
	if m.Partitions.Built != 12 || len(idx.Partitions) != 12 {
		t.Fatalf("%+v, %d partitions; want all 12 built", m.Partitions, len(idx.Partitions))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 4 || calls[1] != 2 || calls[0] != 1 || calls[2] != 1 || calls[3] != 1 {
		t.Fatalf("batch attempts %v; want four batches, only batch 1 twice", calls)
	}
}

// TestPartitionedConsumerRebuildsOnlyChangedUpstream propagates a partitioned
// product to a consumer partitioned by the same grain: each partition of the
// consumer reads the same partition of the producer, and after the producer adds a
// day, the consumer builds only that day.
func TestPartitionedConsumerRebuildsOnlyChangedUpstream(t *testing.T) {
	pe := newPartitionedEnv(t)
	consumer := refresh.Product{Domain: "supply-chain", Name: "daily-volume", Owner: pe.p.Owner, TaskQueue: pe.p.TaskQueue,
		Description: "Deliveries per day.", Tags: []string{"test"}, Access: refresh.AccessOpen,
		Inputs:     []refresh.Input{{Name: "daily", Product: partitioned, Major: 1, Format: refresh.FormatParquet, Access: refresh.AccessOpen, Partitioned: true}},
		SQL:        "SELECT day, CAST(sum(deliveries) AS BIGINT) AS deliveries FROM daily GROUP BY day",
		Partitions: &refresh.Partitioning{By: "day", Column: "day", Start: "2026-06-01"},
		Contract: `apiVersion: v3.1.0
kind: DataContract
id: daily-volume
name: daily-volume
version: 1.0.0
status: active
schema:
  - name: daily_volume
    properties:
      - {name: day, logicalType: date, required: true}
      - name: deliveries
        logicalType: integer
        required: true
        quality:
          - {type: custom, engine: cel, implementation: "deliveries > 0", severity: error}
`, ContractFile: "daily-volume.odcs.yaml", Governance: refresh.Governance{Approval: refresh.ApprovalNever}}
	pe.p.Consumers = []string{consumer.Ref()}
	for d := 1; d <= 4; d++ {
		day := fmt.Sprintf("2026-06-%02d", d)
		writeDay(t, pe.data, day, delivery(d, day+" 08:00:00"), delivery(10+d, day+" 09:00:00"))
	}
	pe.extra = []refresh.Product{consumer}
	pe.run("first", "")
	m1 := pe.waitVersion(consumer.Ref(), "1.0.0")
	if m1.Partitions == nil || m1.Partitions.Built != 4 || m1.Quality.RowsOut != 4 {
		t.Fatalf("consumer's first version: %+v, %d rows", m1.Partitions, m1.Quality.RowsOut)
	}
	writeDay(t, pe.data, "2026-06-05", delivery(5, "2026-06-05 08:00:00"))
	pe.run("new-day", "")
	m2 := pe.waitVersion(consumer.Ref(), "1.1.0")
	if m2.Partitions.Built != 1 || m2.Partitions.CarriedOver != 4 {
		t.Fatalf("consumer after a new upstream day: %+v; want 1 built, 4 carried over", m2.Partitions)
	}

	// The consumer pins @1: once it is deprecated, its partitioned runs warn.
	on := time.Now().UTC().AddDate(1, 0, 0).Format(refresh.DateLayout)
	if err := catalog.Deprecate(t.Context(), pe.Store, refresh.Deprecation{Product: partitioned, Major: 1, On: on, Note: "moving", By: "tom.baker", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	writeDay(t, pe.data, "2026-06-06", delivery(6, "2026-06-06 08:00:00"))
	pe.run("deprecated", "")
	m3 := pe.waitVersion(consumer.Ref(), "1.2.0")
	st, err := pe.Control.Status(t.Context(), m3.WorkflowID, "")
	if err != nil || len(st.Deprecated) != 1 || st.Deprecated[0].Input != "daily" || st.Deprecated[0].On != on {
		t.Fatalf("status of the consumer's run with @1 deprecated: %+v, %v", st.Deprecated, err)
	}
}

// waitVersion waits until ref's latest version is version and returns its manifest.
func (pe *partitionedEnv) waitVersion(ref, version string) refresh.Manifest {
	t := pe.T
	t.Helper()
	var m refresh.Manifest
	defer func() {
		if t.Failed() {
			if runs, _ := pe.Control.Runs(context.Background(), ref, "", 5); len(runs) > 0 {
				t.Log(pe.Explain(runs[0].WorkflowID))
			}
		}
	}()
	testwait.For(t, 2*time.Minute, ref+" "+version, func() bool {
		head, found, err := catalog.ReadLatest(t.Context(), pe.Store, ref)
		m = head.Manifest
		return err == nil && found && m.Version == version
	})
	return m
}

// TestBackfillOfTenThousandPartitionsStaysWithinTemporalLimits plans and runs a
// backfill of 10,000 daily partitions and checks the run's history against
// Temporal's limits (51,200 events, 2 MB per payload): plans and batch results
// travel as staged objects, so the history holds a few events per batch and
// small payloads. The batches' DuckDB work is replaced by a stand-in that
// records what a batch of empty partitions would; planning, the combined check
// and publication are the real activities.
func TestBackfillOfTenThousandPartitionsStaysWithinTemporalLimits(t *testing.T) {
	const days = 10_000
	var st storage.Store
	pe := newPartitionedEnv(t, func(harness.BuildPartitionsFunc) harness.BuildPartitionsFunc {
		return func(ctx context.Context, in refresh.BatchInput) (refresh.BatchResult, error) {
			var plan struct {
				BatchSize int `json:"batchSize"`
				Build     []struct {
					Key    string            `json:"key"`
					Inputs map[string]string `json:"inputs"`
				} `json:"build"`
			}
			if err := catalog.ReadObjectJSON(ctx, st, in.Plan, &plan); err != nil {
				return refresh.BatchResult{}, err
			}
			var doc struct {
				Partitions []refresh.PartitionEntry `json:"partitions"`
			}
			for _, p := range plan.Build[in.Batch*plan.BatchSize : min((in.Batch+1)*plan.BatchSize, len(plan.Build))] {
				doc.Partitions = append(doc.Partitions, refresh.PartitionEntry{Key: p.Key, Inputs: p.Inputs, RunID: in.RunID,
					Data: refresh.ObjectRef{Key: layout.PartitionObjectKey(in.Product.Ref(), "day="+p.Key, in.RunID, layout.Data)}})
			}
			b, _ := json.Marshal(doc)
			key := layout.BatchResultKey(in.Product.Ref(), in.RunID, in.Batch)
			if _, err := st.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{}); err != nil {
				return refresh.BatchResult{}, err
			}
			sum := sha256.Sum256(b)
			return refresh.BatchResult{Result: refresh.ObjectRef{Key: key, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, Partitions: len(doc.Partitions)}, nil
		}
	})
	st = pe.Store
	pe.p.Contract = `apiVersion: v3.1.0
kind: DataContract
id: daily-deliveries
name: daily-deliveries
version: 1.0.0
status: active
schema:
  - name: daily_deliveries
    properties:
      - {name: day, logicalType: date, required: true}
      - {name: lane, logicalType: string, required: true}
      - {name: carrier, logicalType: string, required: true}
      - {name: deliveries, logicalType: integer, required: true, quality: [{type: custom, engine: cel, implementation: "deliveries > 0", severity: error}]}
      - {name: avg_delay_minutes, logicalType: number, required: true}
`
	pt := *pe.p.Partitions
	pt.Start, pt.MaxParallel = "1990-01-01", 8
	pe.p.Partitions = &pt
	first := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range days {
		day := first.AddDate(0, 0, i).Format(time.DateOnly)
		writeDay(t, pe.data, day, delivery(i, day+" 08:00:00"))
	}
	last := first.AddDate(0, 0, days-1).Format(time.DateOnly)
	m, idx := pe.run("backfill", "1990-01-01.."+last)
	if m.Partitions.Built != days || len(idx.Partitions) != days {
		t.Fatalf("%+v with %d partitions; want %d built", m.Partitions, len(idx.Partitions), days)
	}
	id := refresh.WorkflowID(partitioned, "backfill")
	d, err := pe.Temporal.DescribeWorkflowExecution(t.Context(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	events := d.GetWorkflowExecutionInfo().GetHistoryLength()
	largest := 0
	it := pe.Temporal.GetWorkflowHistory(t.Context(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, proto.Size(ev))
	}
	t.Logf("a backfill of %d partitions: %d history events, largest event %d bytes", days, events, largest)
	if events > 2_000 || largest > 256<<10 {
		t.Fatalf("%d history events and a %d-byte event; want far below 51,200 events and 2 MB", events, largest)
	}
}
