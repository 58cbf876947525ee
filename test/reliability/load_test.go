package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/test/harness"
)

// TestLoadManyProducts refreshes MESHFLOW_LOAD tiny products at once through
// one worker, and reports the throughput and the slowest refresh. Every product
// must publish exactly one version. MESHFLOW_LOAD_SESSIONS sets the worker's
// concurrent sessions (default 16).
//
//	MESHFLOW_LOAD=1000 go test -run TestLoadManyProducts -v -timeout 30m ./test/reliability
func TestLoadManyProducts(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MESHFLOW_LOAD"))
	if n <= 0 {
		t.Skip("load test: set MESHFLOW_LOAD=N (e.g. 1000) to refresh N tiny products at once through one worker; it is too long for CI")
	}
	sessions := 16
	if s, err := strconv.Atoi(os.Getenv("MESHFLOW_LOAD_SESSIONS")); err == nil && s > 0 {
		sessions = s
	}
	e := newEnv(t, harness.LocalStore(t))
	const queue = "rel-load"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{MaxConcurrentSessions: sessions, MaxConcurrentActivities: 4 * sessions})
	dir := t.TempDir()
	products := make([]refresh.Product, n)
	for i := range products {
		products[i] = harness.TinyProduct(t, dir, "load", fmt.Sprintf("p%05d", i), queue)
	}

	type outcome struct {
		ref, runID, version string
		took                time.Duration
		err                 error
	}
	outcomes := make([]outcome, n)
	timeout := time.Duration(n)*time.Second + 2*time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	started := time.Now()
	var wg sync.WaitGroup
	for i, p := range products {
		wg.Go(func() {
			o := &outcomes[i]
			o.ref = p.Ref()
			t0 := time.Now()
			run, err := e.Mesh.Start(t, e.Control, p, "load", "load", "load test")
			if err != nil {
				o.err = err
				return
			}
			o.runID = run.GetRunID()
			var res refresh.Result
			if err := run.Get(ctx, &res); err != nil {
				o.err = err
				return
			}
			o.took, o.version = time.Since(t0), res.Version
			if res.Stage != refresh.StagePublished {
				o.err = fmt.Errorf("ended %s: %s", res.Stage, res.Reason)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)

	var took []time.Duration
	slowest := outcomes[0]
	for _, o := range outcomes {
		if o.err != nil {
			t.Errorf("%s: %v", o.ref, o.err)
			continue
		}
		took = append(took, o.took)
		if o.took > slowest.took {
			slowest = o
		}
	}
	if len(took) == 0 {
		t.FailNow()
	}
	slices.Sort(took)
	t.Logf("%d products refreshed through one worker (%d sessions) in %s: %.1f products/s; refresh time median %s, p95 %s, slowest %s (%s)",
		len(took), sessions, elapsed.Round(time.Millisecond), float64(len(took))/elapsed.Seconds(),
		took[len(took)/2].Round(time.Millisecond), took[len(took)*95/100].Round(time.Millisecond), slowest.took.Round(time.Millisecond), slowest.ref)
	fmt.Printf("load: %d products, %.1f products/s, slowest refresh %s (%s)\n", len(took), float64(len(took))/elapsed.Seconds(), slowest.took.Round(time.Millisecond), slowest.ref)
	for _, o := range outcomes {
		if o.err == nil {
			reconcile(t, e.Store, o.ref, map[string]want{o.version: {RunID: o.runID}})
		}
	}
}
