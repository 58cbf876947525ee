package openlineage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemas compiles the official spec and every facet schema in testdata, by
// their $id; facets maps a facet's schema file URL to its compiled schema.
func schemas(t *testing.T) (spec *jsonschema.Schema, facets map[string]*jsonschema.Schema) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, _ := filepath.Glob("testdata/schema/facets/*.json")
	files = append(files, "testdata/schema/OpenLineage.json")
	var ids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		id := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	facets = map[string]*jsonschema.Schema{}
	for _, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			t.Fatalf("compile %s: %v", id, err)
		}
		if strings.Contains(id, "/facets/") {
			facets[id] = s
		} else {
			spec = s
		}
	}
	return spec, facets
}

// validate checks one event against the spec and each of its facets against
// the facet's own schema, found by its _schemaURL.
func validate(t *testing.T, raw []byte) {
	t.Helper()
	spec, facets := schemas(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(inst); err != nil {
		t.Fatalf("event does not match OpenLineage.json: %v\n%s", err, raw)
	}
	ev := inst.(map[string]any)
	var groups []any
	run := ev["run"].(map[string]any)
	groups = append(groups, run["facets"], ev["job"].(map[string]any)["facets"])
	for _, k := range []string{"inputs", "outputs"} {
		ds, _ := ev[k].([]any)
		for _, d := range ds {
			groups = append(groups, d.(map[string]any)["facets"])
		}
	}
	for _, g := range groups {
		m, _ := g.(map[string]any)
		for name, f := range m {
			url := f.(map[string]any)["_schemaURL"].(string)
			file, _, _ := strings.Cut(url, "#")
			s, ok := facets[file]
			if !ok {
				t.Fatalf("facet %s: no schema %s in testdata", name, file)
			}
			if err := s.Validate(map[string]any{name: f}); err != nil {
				t.Fatalf("facet %s does not match %s: %v", name, file, err)
			}
		}
	}
}

const runID = "0195f3a2-7b8c-7d4e-9f10-1a2b3c4d5e6f"

func product() refresh.Product {
	return refresh.Product{Domain: "sales", Name: "regional", Owner: "sales-data", Description: "Sales by region",
		SQL: "SELECT o.region, sum(o.amount * fx.rate) AS total, o.day FROM orders o JOIN fx ON o.day = fx.day WHERE o.amount > 0 GROUP BY ALL",
		Inputs: []refresh.Input{
			{Name: "orders", URI: "s3://raw/orders/", Format: "csv"},
			{Name: "fx", Product: "finance/fx"},
			{Name: "stock", URI: "postgres://u:secret@db:5433/shop", Table: "public.stock"},
		}}
}

func manifest() refresh.Manifest {
	return refresh.Manifest{Product: "sales/regional", Version: "1.2.0", RunID: runID, Submitter: "li.wei",
		Inputs: []refresh.StagedInput{
			{Name: "orders", Source: "s3://raw/orders/"},
			{Name: "fx", Source: refresh.ProductSourcePrefix + "finance/fx", SourceVersion: "3.0.1"},
		},
		Columns: []refresh.Column{{Name: "region", Type: "VARCHAR"}, {Name: "total", Type: "DOUBLE"}, {Name: "day", Type: "DATE"}},
		Quality: refresh.Quality{RowsIn: 10, RowsOut: 9, Quarantined: 1, Rules: []refresh.RuleSummary{
			{ID: "positive", Severity: "error", Status: "fail", Failing: 1}, {ID: "rows", Severity: "warning", Status: "pass"}},
			Columns: []refresh.ColumnStats{{Name: "region", Nulls: 0, Distinct: 2}, {Name: "total", Nulls: 1, Distinct: 8, Min: ptr(-2.5), Max: ptr(99.0)}}},
		Data: refresh.ObjectRef{Key: "sales/regional/v1.2.0/data.parquet", Size: 1234}}
}

// events writes one of every event the activities write through the outbox
// and returns them as stored.
func events(t *testing.T, st storage.Store) map[int][]byte {
	ctx := context.Background()
	n := Naming{Mesh: "acme"}
	at := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	sched := RunInfo{RunID: runID, WorkflowID: "refresh/sales/regional/scheduled-2026-11-28T06:00:00Z", Nominal: at,
		Parent: n.Parent("finance/fx", "run-of-fx")}
	o := Outbox{Store: st}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.Write(ctx, runID, SeqStart, n.StartEvent(product(), sched, at)))
	must(o.Write(ctx, runID, SeqRunning+2, n.RunningEvent("sales/regional", sched, at)))
	must(o.Write(ctx, runID, SeqEnd, n.CompleteEvent("sales/regional", sched, Published{Manifest: manifest(), SQL: product().SQL, Owner: "sales-data"}, at)))
	must(o.Write(ctx, "run-2", SeqEnd, n.EndEvent(Fail, "sales/regional", RunInfo{RunID: "run-2"}, "the refresh failed while transforming", at)))
	must(o.Write(ctx, "run-3", SeqEnd, n.EndEvent(Abort, "sales/regional", RunInfo{RunID: "run-3"}, "", at)))
	objs, err := st.List(ctx, layout.LineageOutboxPrefix)
	must(err)
	out := map[int][]byte{}
	for i, obj := range objs {
		r, _, err := st.Get(ctx, obj.Key)
		must(err)
		b, err := io.ReadAll(r)
		must(err)
		must(r.Close())
		out[i] = b
	}
	if len(out) != 5 {
		t.Fatalf("outbox holds %d events, want 5", len(out))
	}
	return out
}

func store(t *testing.T) storage.Store {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEventsMatchTheOfficialSchema(t *testing.T) {
	for i, raw := range events(t, store(t)) {
		t.Run(string(rune('a'+i)), func(t *testing.T) { validate(t, raw) })
	}
}

func TestCompleteEventFacets(t *testing.T) {
	n := Naming{Mesh: "acme"}
	ev := n.CompleteEvent("sales/regional", RunInfo{RunID: runID}, Published{Manifest: manifest(), SQL: product().SQL}, time.Now())
	out := ev.Outputs[0]
	if out.Namespace != "meshflow://acme" || out.Name != "sales/regional" || out.Facets.Version.DatasetVersion != "1.2.0" {
		t.Fatalf("output = %+v", out)
	}
	if ev.Job.Namespace != "acme" || ev.Job.Name != "sales/regional" || ev.Run.RunID != runID {
		t.Fatalf("job/run = %+v %+v", ev.Job, ev.Run)
	}
	if in := ev.Inputs[0]; in.Namespace != "s3://raw" || in.Name != "orders/" {
		t.Fatalf("s3 input = %+v", in)
	}
	if in := ev.Inputs[1]; in.Namespace != "meshflow://acme" || in.Name != "finance/fx" || in.Facets.Version.DatasetVersion != "3.0.1" {
		t.Fatalf("product input = %+v", in)
	}
	q := out.Facets.DataQualityMetrics
	if *q.RowCount != 9 || *q.Bytes != 1234 || len(out.Facets.DataQualityAssertions.Assertions) != 2 || out.Facets.DataQualityAssertions.Assertions[0].Success {
		t.Fatalf("quality = %+v %+v", q, out.Facets.DataQualityAssertions)
	}
	if c := q.ColumnMetrics["total"]; c.NullCount == nil || *c.NullCount != 1 || *c.DistinctCount != 8 || *c.Min != -2.5 || *c.Max != 99 {
		t.Fatalf("column metrics of total = %+v", c)
	}
	if c := q.ColumnMetrics["region"]; c.DistinctCount == nil || *c.DistinctCount != 2 || c.Min != nil {
		t.Fatalf("column metrics of region = %+v", c)
	}
	cl := out.Facets.ColumnLineage
	if cl == nil {
		t.Fatal("no column lineage")
	}
	region := cl.Fields["region"].InputFields
	if len(region) == 0 || region[0].Name != "orders/" || region[0].Field != "region" || region[0].Transformations[0].Subtype != "IDENTITY" {
		t.Fatalf("region lineage = %+v", region)
	}
	total := cl.Fields["total"].InputFields
	if len(total) < 2 || total[0].Transformations[0].Subtype != "AGGREGATION" || total[1].Name != "finance/fx" || total[1].Field != "rate" {
		t.Fatalf("total lineage = %+v", total)
	}
	var indirect bool
	for _, f := range total {
		if f.Transformations[0].Type == "INDIRECT" && f.Field == "amount" {
			indirect = true
		}
	}
	if !indirect {
		t.Fatalf("total lineage lacks the WHERE column: %+v", total)
	}
}

func TestNamesKeepNoCredentials(t *testing.T) {
	d := Source("postgres://u:secret@db:5433/shop", "public.stock", "stock")
	if d.Namespace != "postgres://db:5433" || d.Name != "shop.public.stock" {
		t.Fatalf("postgres = %+v", d)
	}
	if d := Source("file:///data/in/a.csv", "", "a"); d.Namespace != "file" || d.Name != "/data/in/a.csv" {
		t.Fatalf("file = %+v", d)
	}
	if RunID("not-a-uuid") != RunID("not-a-uuid") || RunID(runID) != runID {
		t.Fatal("run ids are not stable")
	}
}

func TestNominalTime(t *testing.T) {
	got, ok := NominalTime("refresh/sales/regional/scheduled-2026-11-28T06:00:00Z")
	if !ok || !got.Equal(time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("nominal = %v %v", got, ok)
	}
	if _, ok := NominalTime("refresh/sales/regional/dev-20261128T060000"); ok {
		t.Fatal("a requested run has no nominal time")
	}
}

// receiver is an OpenLineage endpoint that fails while down is set.
type receiver struct {
	mu   sync.Mutex
	down int // answer 503 to this many requests
	got  []RunEvent
	auth []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path != LineagePath {
		http.NotFound(w, req)
		return
	}
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	if r.down > 0 {
		r.down--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var ev RunEvent
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got = append(r.got, ev)
	w.WriteHeader(http.StatusCreated)
}

func TestSenderDeliversInOrderThroughAnOutage(t *testing.T) {
	st := store(t)
	events(t, st)
	rcv := &receiver{down: 7}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := &Sender{Store: st, Transport: &HTTP{URL: srv.URL, APIKey: "k1"}, Poll: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The last event's delete comes before its run's markers go: wait for
	// both, or the check below races the sender's cleanup.
	if err := testwait.Poll(10*time.Second, func() error {
		objs, err := st.List(ctx, layout.LineageOutboxPrefix)
		if err != nil {
			return err
		}
		marks, err := st.List(ctx, layout.LineageRoot+"/sent/")
		if err != nil {
			return err
		}
		if len(objs) > 0 || len(marks) > 0 {
			return fmt.Errorf("outbox still holds %d events and %d sent markers", len(objs), len(marks))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var got []string
	for _, ev := range rcv.got {
		got = append(got, ev.Run.RunID+" "+string(ev.EventType))
	}
	want := []string{runID + " START", runID + " RUNNING", runID + " COMPLETE", RunID("run-2") + " FAIL", RunID("run-3") + " ABORT"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rcv.auth[0] != "Bearer k1" {
		t.Fatalf("auth = %q", rcv.auth[0])
	}
	// Every marker of a finished run is gone; a retried activity of the run
	// would find the sent marker and write nothing again.
	left, _ := st.List(context.Background(), layout.LineageRoot+"/sent/")
	if len(left) != 0 {
		t.Fatalf("sent markers left: %v", left)
	}
}

func TestRetriedWriteAfterSendDoesNotRepeat(t *testing.T) {
	st := store(t)
	ctx := context.Background()
	f := filepath.Join(t.TempDir(), "events.jsonl")
	n := Naming{}
	run := RunInfo{RunID: runID}
	o := Outbox{Store: st}
	if err := o.Write(ctx, runID, SeqStart, n.StartEvent(product(), run, time.Now())); err != nil {
		t.Fatal(err)
	}
	s := &Sender{Store: st, Transport: &File{Path: f}}
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	// Ingest retried after its START was sent, then the run ended.
	if err := o.Write(ctx, runID, SeqStart, n.StartEvent(product(), run, time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, runID, SeqEnd, n.EndEvent(Abort, "sales/regional", run, "", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var types []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		validate(t, sc.Bytes())
		var ev RunEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, string(ev.EventType))
	}
	if strings.Join(types, ",") != "START,ABORT" {
		t.Fatalf("file has %v, want START,ABORT", types)
	}
}

func TestDownReceiverKeepsEventsAndOneSenderHoldsTheLease(t *testing.T) {
	st := store(t)
	ctx := context.Background()
	events(t, st)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer srv.Close()
	a := &Sender{Store: st, Transport: &HTTP{URL: srv.URL}, Holder: "a"}
	b := &Sender{Store: st, Transport: &HTTP{URL: srv.URL}, Holder: "b"}
	if _, err := a.Once(ctx); err == nil {
		t.Fatal("a send to a down receiver succeeded")
	}
	if n, err := b.Once(ctx); n != 0 || err != nil {
		t.Fatalf("b sent %d (%v) while a held the lease", n, err)
	}
	objs, _ := st.List(ctx, layout.LineageOutboxPrefix)
	if len(objs) != 5 {
		t.Fatalf("outbox holds %d events, want all 5", len(objs))
	}
	// a's lease expires: b takes over.
	b.now = func() time.Time { return time.Now().Add(time.Minute) }
	b.Transport = &File{Path: filepath.Join(t.TempDir(), "e.jsonl")}
	if n, err := b.Once(ctx); n != 5 || err != nil {
		t.Fatalf("b sent %d (%v) after a's lease expired", n, err)
	}
}

func ptr(f float64) *float64 { return &f }
