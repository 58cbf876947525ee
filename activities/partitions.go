package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/partition"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/rules"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// planDoc is a partitioned run's plan, staged as layout.Plan: which partitions
// the run builds from which objects, and which it carries over.
type planDoc struct {
	Product string `json:"product"`
	By      string `json:"by"`
	Column  string `json:"column"`
	Recipe  string `json:"recipe"`
	// BatchSize partitions of Build, in order, make one batch.
	BatchSize int                      `json:"batchSize"`
	Build     []plannedPartition       `json:"build"`
	Carry     []refresh.PartitionEntry `json:"carry"`
	// Static are the unpartitioned inputs, snapshotted once for every batch.
	Static []refresh.StagedInput `json:"static"`
	// Samples are one object of each partitioned input, whose columns a
	// partition without data of that input reads as an empty table.
	Samples map[string]sourceObject `json:"samples"`
}

// plannedPartition is one partition to build.
type plannedPartition struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
	// Inputs is each input's fingerprint for the partition.
	Inputs map[string]string `json:"inputs"`
	// Sources are the objects of each partitioned input.
	Sources map[string][]sourceObject `json:"sources"`
}

// sourceObject is one object a partition reads: a URI of a file:// or s3://
// input, or a key of the mesh's own store (a partition of an input product).
type sourceObject struct {
	URI    string `json:"uri,omitempty"`
	Key    string `json:"key,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// batchDoc is what one batch built, staged at layout.BatchResultKey.
type batchDoc struct {
	Partitions []refresh.PartitionEntry `json:"partitions"`
	Columns    []refresh.Column         `json:"columns,omitempty"`
	// Failed are the rules that failed in a partition, named "<rule> in <key>".
	Failed []refresh.RuleSummary   `json:"failed,omitempty"`
	Stats  [][]refresh.ColumnStats `json:"stats,omitempty"`
}

// PlanPartitions plans a refresh of a partitioned product: it lists the objects of
// its partitioned inputs by partition key, snapshots its unpartitioned inputs,
// compares both with what the latest version's partitions were built from, and
// stages the plan. New, changed, lookback and requested partitions are built; the
// others are carried over by reference.
func (a *Activities) PlanPartitions(ctx context.Context, in refresh.PlanInput) (refresh.PlanResult, error) {
	var res refresh.PlanResult
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	p := in.Product
	pt := p.Partitions
	if pt == nil {
		return res, temporal.NewNonRetryableApplicationError(p.Ref()+" is not partitioned", refresh.ErrBadSpec, nil)
	}
	by := partition.By(pt.By)
	start, err := by.Parse(pt.Start)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: partitions.start: %v", p.Ref(), err), refresh.ErrBadSpec, nil)
	}
	var requested *partition.Range
	if in.Requested != "" {
		r, err := by.ParseRange(in.Requested)
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: --partitions: %v", p.Ref(), err), refresh.ErrBadInput, nil)
		}
		requested = &r
	}
	doc := planDoc{Product: p.Ref(), By: pt.By, Column: pt.Column, Recipe: recipe(p), Samples: map[string]sourceObject{}}

	available := map[string]map[string]string{}
	sources := map[string]map[string][]sourceObject{} // key -> input -> objects
	static := map[string]string{}                     // input -> fingerprint
	for i, input := range p.Inputs {
		activity.RecordHeartbeat(ctx, fmt.Sprintf("input %d of %d: %s", i+1, len(p.Inputs), input.Name))
		if !input.Partitioned {
			staged, n, err := a.snapshotInput(ctx, p, in.RunID, input)
			if err != nil {
				return res, err
			}
			doc.Static = append(doc.Static, staged)
			res.Bytes += n
			var sums []string
			for _, o := range staged.Objects {
				sums = append(sums, o.SHA256)
			}
			static[input.Name] = fingerprint(sums)
			continue
		}
		byKey, version, dep, err := a.listPartitioned(ctx, p, input, by)
		if err != nil {
			return res, err
		}
		si := refresh.StagedInput{Name: input.Name, Format: input.Format, Source: input.URI, SourceVersion: version, Deprecated: dep}
		if input.Product != "" {
			si.Source, si.Format = refresh.ProductSourcePrefix+input.Product, refresh.FormatParquet
		}
		res.Inputs = append(res.Inputs, si)
		for key, objs := range byKey {
			if available[key] == nil {
				available[key], sources[key] = map[string]string{}, map[string][]sourceObject{}
			}
			var lines []string
			for _, o := range objs {
				lines = append(lines, fmt.Sprintf("%s\t%s\t%d\t%s", o.URI, o.Key, o.Size, o.SHA256))
			}
			available[key][input.Name] = fingerprint(lines)
			sources[key][input.Name] = objs
			if s, ok := doc.Samples[input.Name]; !ok || objs[0].URI+objs[0].Key < s.URI+s.Key {
				doc.Samples[input.Name] = objs[0]
			}
		}
	}
	res.Inputs = append(doc.Static, res.Inputs...)
	for key := range available {
		for name, f := range static {
			available[key][name] = f
		}
	}

	previous := map[string]partition.Built{}
	var carried map[string]refresh.PartitionEntry
	if head, found, err := catalog.ReadLatest(ctx, a.Store, p.Ref()); err != nil {
		return res, err
	} else if found && head.Manifest.Partitions != nil && head.Manifest.Partitions.By == pt.By && head.Manifest.Partitions.Column == pt.Column {
		idx, err := catalog.Partitions(ctx, a.Store, head.Manifest)
		if err != nil {
			return res, err
		}
		carried = map[string]refresh.PartitionEntry{}
		for _, e := range idx.Partitions {
			previous[e.Key] = partition.Built{Inputs: e.Inputs, Recipe: e.Recipe}
			carried[e.Key] = e
		}
	}
	plan := partition.Make(partition.PlanInput{By: by, Start: by.Key(start), Lookback: pt.Lookback, Recipe: doc.Recipe,
		Available: available, Previous: previous, Requested: requested})
	if len(plan.Build) == 0 && len(plan.Carry) == 0 {
		return res, badInput("%s: no input has data for a partition at or after %s (partitions.start); %d partition(s) before it are skipped",
			p.Ref(), by.Key(start), plan.Skipped)
	}
	if requested != nil && plan.Count(partition.ReasonRequested) == 0 {
		return res, badInput("%s: no input has data for the partitions %s", p.Ref(), requested)
	}
	for _, key := range plan.Build {
		doc.Build = append(doc.Build, plannedPartition{Key: key, Reason: plan.Reasons[key], Inputs: available[key], Sources: sources[key]})
	}
	for _, key := range plan.Carry {
		doc.Carry = append(doc.Carry, carried[key])
	}
	doc.BatchSize = partition.BatchSize(len(doc.Build), pt.MaxParallel)
	ref, err := a.putJSON(ctx, layout.StagedKey(p.Ref(), in.RunID, layout.Plan), doc)
	if err != nil {
		return res, err
	}
	res.Plan, res.Build, res.CarriedOver, res.BatchSize = ref, len(doc.Build), len(doc.Carry), doc.BatchSize
	res.Batches = partition.Batches(len(doc.Build), doc.BatchSize)
	res.Reasons = map[string]int{}
	for _, r := range plan.Reasons {
		res.Reasons[r]++
	}
	return res, nil
}

// recipe fingerprints how a product's partitions are built: a partition built
// from another SQL, contract or partitioning is rebuilt.
func recipe(p refresh.Product) string {
	parts := []string{p.SQL, p.Contract, p.Partitions.By, p.Partitions.Column}
	for _, in := range p.Inputs {
		parts = append(parts, fmt.Sprintf("%s %t", in.Name, in.Partitioned))
	}
	return fingerprint(parts)
}

// fingerprint hashes a list of lines.
func fingerprint(lines []string) string {
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listPartitioned lists a partitioned input's objects by partition key: the
// objects a URI template matches, or the partitions of the version of an
// input product that the run reads (readInputVersion: the latest, or the
// newest of the major it pins, with that major's deprecation).
func (a *Activities) listPartitioned(ctx context.Context, p refresh.Product, input refresh.Input, by partition.By) (map[string][]sourceObject, string, *refresh.Deprecation, error) {
	out := map[string][]sourceObject{}
	if input.Product != "" {
		if err := a.checkGrant(ctx, p, input); err != nil {
			return nil, "", nil, err
		}
		head, dep, err := a.readInputVersion(ctx, p, input)
		if err != nil {
			return nil, "", nil, err
		}
		idx, err := catalog.Partitions(ctx, a.Store, head.Manifest)
		if err != nil {
			return nil, "", nil, unverified(input, err)
		}
		if idx == nil || idx.By != string(by) {
			return nil, "", nil, badInput("input %s: product %s version %s is not partitioned by %s; read it whole (the mesh revision is out of date?)", input.Name, input.Product, head.Manifest.Version, by)
		}
		for _, e := range idx.Partitions {
			if _, own := layout.RunOfPartitionKey(input.Product, e.Data.Key); !own {
				return nil, "", nil, unverified(input, fmt.Errorf("%s %s: %w: its partition index names %s, outside the product", input.Product, head.Manifest.Version, catalog.ErrUnverified, e.Data.Key))
			}
			out[e.Key] = append(out[e.Key], sourceObject{Key: e.Data.Key, Size: e.Data.Size, SHA256: e.Data.SHA256})
		}
		return out, head.Manifest.Version, dep, nil
	}
	t, ok, err := partition.ParseTemplate(input.URI)
	if !ok || err != nil {
		return nil, "", nil, badInput("input %s: %s has no partition placeholder: %v", input.Name, input.URI, err)
	}
	if a.inStore(t.ListPrefix()) {
		return nil, "", nil, errInStore(input, input.URI)
	}
	add := func(uri string, size int64, version string, name string) error {
		if strings.HasPrefix(filepath.Base(name), ".") || !matchesFormat(name, input.Format) {
			return nil
		}
		key, ok := t.Match(uri)
		if !ok {
			return nil
		}
		if a.inStore(uri) {
			return errInStore(input, uri)
		}
		out[key] = append(out[key], sourceObject{URI: uri, Size: size, SHA256: version})
		return nil
	}
	if dir, ok := strings.CutPrefix(t.ListPrefix(), "file://"); ok {
		err := filepath.WalkDir(filepath.FromSlash(dir), func(f string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			uri := "file://" + filepath.ToSlash(f)
			if _, ok := t.Match(uri); ok && matchesFormat(f, input.Format) && !strings.HasPrefix(d.Name(), ".") {
				if _, err := a.checkLocalFile(input, f); err != nil {
					return err
				}
			}
			return add(uri, info.Size(), fmt.Sprint(info.ModTime().UnixNano()), f)
		})
		if _, ok := errors.AsType[*temporal.ApplicationError](err); ok {
			return nil, "", nil, err
		}
		if err != nil {
			return nil, "", nil, badInput("input %s: %v", input.Name, err)
		}
	} else {
		if a.Open == nil {
			return nil, "", nil, badInput("input %s: %s: this worker has no object store configured for s3:// inputs", input.Name, input.URI)
		}
		st, prefix, err := a.Open(ctx, t.ListPrefix())
		if err != nil {
			return nil, "", nil, badInput("input %s: %v", input.Name, err)
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		objs, err := st.List(ctx, prefix)
		if err != nil {
			return nil, "", nil, fmt.Errorf("input %s: list %s: %w", input.Name, t.ListPrefix(), err)
		}
		for _, o := range objs {
			version := o.SHA256
			if version == "" {
				version = o.ETag
			}
			if err := add(st.URI(o.Key), o.Size, version, o.Key); err != nil {
				return nil, "", nil, err
			}
		}
	}
	for _, objs := range out {
		slices.SortFunc(objs, func(x, y sourceObject) int { return strings.Compare(x.URI, y.URI) })
	}
	if len(out) == 0 {
		return nil, "", nil, badInput("input %s: no %s objects match %s", input.Name, input.Format, input.URI)
	}
	return out, "", nil, nil
}

// BuildPartitions builds one batch of a plan on this worker: for each partition,
// it copies the partition's input objects (and the unpartitioned inputs, once)
// into scratch, runs the transform SQL over them, sets aside the rows whose key
// is null or outside the partition, checks the rest against the contract and its
// rules, and writes the partition's objects where the version will name them.
// A lost worker costs only its batch: another one builds it again.
func (a *Activities) BuildPartitions(ctx context.Context, in refresh.BatchInput) (refresh.BatchResult, error) {
	res, err := a.buildPartitions(ctx, in)
	return res, a.scratchErr(in.Product.Ref(), fmt.Sprintf("batch %d", in.Batch), err)
}

func (a *Activities) buildPartitions(ctx context.Context, in refresh.BatchInput) (refresh.BatchResult, error) {
	var res refresh.BatchResult
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	p := in.Product
	if want := layout.StagedKey(p.Ref(), in.RunID, layout.Plan); in.Plan.Key != want {
		return res, unauthorized("the plan to build is %s, not this run's %s", in.Plan.Key, want)
	}
	var doc planDoc
	if err := catalog.ReadObjectJSON(ctx, a.Store, in.Plan, &doc); err != nil {
		return res, err
	}
	from := in.Batch * doc.BatchSize
	if in.Batch < 0 || doc.BatchSize <= 0 || from >= len(doc.Build) {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: the plan has no batch %d", p.Ref(), in.Batch), refresh.ErrBadSpec, nil)
	}
	batch := doc.Build[from:min(from+doc.BatchSize, len(doc.Build))]
	c, set, err := compileContract(p)
	if err != nil {
		return res, err
	}
	var progress atomic.Value
	progress.Store(fmt.Sprintf("batch %d: starting", in.Batch))
	stop := heartbeat(ctx, func() any { return progress.Load() })
	defer stop()

	folder := fmt.Sprintf("batch-%05d", in.Batch)
	dir := a.scratchDir(in.RunID, folder)
	defer os.RemoveAll(dir)
	static := map[string][]string{}
	for _, s := range doc.Static {
		for _, o := range s.Objects {
			file := filepath.Join(dir, "static", s.Name, filepath.Base(o.Key))
			if err := a.download(ctx, o, file); err != nil {
				return res, err
			}
			static[s.Name] = append(static[s.Name], file)
		}
	}
	// One DuckDB instance builds the batch's partitions one after the other;
	// each partition's tables are dropped before the next.
	db, err := a.openEngine(ctx, in.RunID, filepath.Join(folder, "db"))
	if err != nil {
		return res, err
	}
	defer db.Close()
	out := batchDoc{}
	for i, pp := range batch {
		progress.Store(fmt.Sprintf("batch %d: partition %d of %d (%s)", in.Batch, i+1, len(batch), pp.Key))
		e, failed, cols, stats, err := a.buildPartition(ctx, db, p, in.RunID, filepath.Join(folder, pp.Key), doc, pp, static, c, set)
		if err != nil {
			return res, err
		}
		e.Inputs, e.Recipe, e.RunID = pp.Inputs, doc.Recipe, in.RunID
		out.Partitions = append(out.Partitions, e)
		out.Stats = append(out.Stats, stats)
		if out.Columns == nil {
			out.Columns = cols
		}
		if len(failed) > 0 {
			out.Failed = append(out.Failed, failed...)
			res.Blocked = append(res.Blocked, pp.Key)
		}
		res.RowsIn += e.RowsIn
		res.RowsOut += e.RowsOut
		res.Quarantined += e.Quarantined
		activity.RecordHeartbeat(ctx, fmt.Sprintf("batch %d: %d of %d partitions built", in.Batch, i+1, len(batch)))
	}
	ref, err := a.putJSON(ctx, layout.BatchResultKey(p.Ref(), in.RunID, in.Batch), out)
	if err != nil {
		return res, err
	}
	res.Result, res.Partitions = ref, len(out.Partitions)
	a.logger().Info("built a batch of partitions", "product", p.Ref(), "run", in.RunID, "batch", in.Batch,
		"partitions", len(out.Partitions), "first", batch[0].Key, "last", batch[len(batch)-1].Key, "rows", res.RowsIn)
	return res, nil
}

// buildPartition builds one partition in the scratch folder sub of the run.
func (a *Activities) buildPartition(ctx context.Context, db *engine.DB, p refresh.Product, runID, sub string, doc planDoc, pp plannedPartition,
	static map[string][]string, c *contract.Contract, set *rules.Set) (e refresh.PartitionEntry, failed []refresh.RuleSummary, cols []refresh.Column, stats []refresh.ColumnStats, err error) {
	e.Key = pp.Key
	by := partition.By(doc.By)
	dir := a.scratchDir(runID, sub)
	defer os.RemoveAll(dir)
	files := map[string][]string{}
	for name, fs := range static {
		files[name] = fs
	}
	for _, input := range p.Inputs {
		if !input.Partitioned {
			continue
		}
		for n, o := range pp.Sources[input.Name] {
			name := o.URI
			if name == "" {
				name = o.Key
			}
			ext := string(refresh.FormatParquet)
			if input.Product == "" {
				ext = string(input.Format) + strings.ToLower(refresh.CompressionOfName(name))
			}
			file := filepath.Join(dir, "inputs", input.Name, fmt.Sprintf("%04d.%s", n, ext))
			if err := a.copyPartitionSource(ctx, p, runID, input, o, file); err != nil {
				return e, nil, nil, nil, err
			}
			files[input.Name] = append(files[input.Name], file)
		}
	}
	defer func() {
		if derr := dropAll(context.WithoutCancel(ctx), db); err == nil {
			err = derr
		}
	}()
	for _, input := range p.Inputs {
		f := files[input.Name]
		if len(f) == 0 {
			// This partition has no data of this input: it reads an empty
			// table with the columns of the input's other partitions.
			if err := a.emptyInput(ctx, db, p, input, doc.Samples[input.Name], filepath.Join(dir, "sample"), runID); err != nil {
				return e, nil, nil, nil, err
			}
			continue
		}
		if err := a.loadInput(ctx, db, p, input, f, runID, input.URI+input.Product+" partition "+pp.Key); err != nil {
			return e, nil, nil, nil, err
		}
	}
	if n, err := db.Rejected(ctx); err != nil {
		return e, nil, nil, nil, err
	} else if n > 0 {
		file := filepath.Join(dir, layout.Rejects)
		if err := db.WriteParquet(ctx, engine.RejectsTable, file); err != nil {
			return e, nil, nil, nil, err
		}
		obj, err := a.upload(ctx, file, layout.PartitionObjectKey(p.Ref(), by.Folder(pp.Key), runID, layout.Rejects))
		if err != nil {
			return e, nil, nil, nil, err
		}
		e.Rejects, e.Rejected = &obj, n
	}
	if _, err := db.Run(ctx, "candidate", p.SQL); err != nil {
		return e, nil, nil, nil, transformErr(err)
	}
	lo, hi, err := by.Bounds(pp.Key)
	if err != nil {
		return e, nil, nil, nil, err
	}
	col := engine.Ident(doc.Column)
	ts := "TRY_CAST(" + col + " AS TIMESTAMP)"
	inside := fmt.Sprintf("%s >= TIMESTAMP '%s' AND %s < TIMESTAMP '%s'", ts, lo.Format("2006-01-02 15:04:05"), ts, hi.Format("2006-01-02 15:04:05"))
	reason := fmt.Sprintf("CASE WHEN %s IS NULL THEN %s WHEN %s IS NULL THEN %s ELSE %s || CAST(%s AS VARCHAR) || %s END",
		col, engine.Quote("the partition key "+doc.Column+" is null"),
		ts, engine.Quote("the partition key "+doc.Column+" is not a date or timestamp"),
		engine.Quote("the partition key "+doc.Column+" = "), col, engine.Quote(" is outside partition "+pp.Key))
	// Views: the candidate is scanned once for the count of rows outside and
	// once, through the contract's casts, into the checked table.
	if _, err := db.ExecContext(ctx, "CREATE VIEW outside AS SELECT *, "+reason+" AS _meshflow_reason FROM candidate WHERE NOT COALESCE("+inside+", FALSE)"); err != nil {
		return e, nil, nil, nil, fmt.Errorf("partition %s: split by key: %w", pp.Key, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE VIEW inside AS SELECT * FROM candidate WHERE COALESCE("+inside+", FALSE)"); err != nil {
		return e, nil, nil, nil, fmt.Errorf("partition %s: split by key: %w", pp.Key, err)
	}
	if e.OutsideRows, err = db.Count(ctx, "outside"); err != nil {
		return e, nil, nil, nil, err
	}
	if _, cols, err = a.castToContract(ctx, db, p, c, "inside", "checked"); err != nil {
		return e, nil, nil, nil, err
	}
	passing, quarantine := filepath.Join(dir, layout.Data), filepath.Join(dir, layout.Quarantine)
	rep, err := set.Evaluate(ctx, db.DB, "checked", rules.EvalOptions{PassingPath: passing, QuarantinePath: quarantine})
	if err != nil {
		return e, nil, nil, nil, fmt.Errorf("partition %s: evaluate rules: %w", pp.Key, err)
	}
	folder := by.Folder(pp.Key)
	if e.Data, err = a.upload(ctx, passing, layout.PartitionObjectKey(p.Ref(), folder, runID, layout.Data)); err != nil {
		return e, nil, nil, nil, err
	}
	if rep.Quarantined > 0 {
		q, err := a.upload(ctx, quarantine, layout.PartitionObjectKey(p.Ref(), folder, runID, layout.Quarantine))
		if err != nil {
			return e, nil, nil, nil, err
		}
		e.Quarantine = &q
	}
	if e.OutsideRows > 0 {
		file := filepath.Join(dir, layout.Outside)
		if err := db.WriteParquet(ctx, "outside", file); err != nil {
			return e, nil, nil, nil, err
		}
		o, err := a.upload(ctx, file, layout.PartitionObjectKey(p.Ref(), folder, runID, layout.Outside))
		if err != nil {
			return e, nil, nil, nil, err
		}
		e.Outside = &o
	}
	e.RowsIn = rep.Rows + e.OutsideRows
	e.RowsOut = rep.Passing
	e.Quarantined = rep.Quarantined + e.OutsideRows
	for _, r := range rep.Rules {
		if r.Kind == rules.Row {
			e.Rules = append(e.Rules, refresh.RuleCount{ID: r.ID, Checked: r.Checked, Failing: r.Failing})
		}
		if r.Status == rules.StatusFail || r.Status == rules.StatusError {
			failed = append(failed, refresh.RuleSummary{ID: r.ID + " in " + pp.Key, Severity: r.Severity.String(), Status: string(r.Status),
				Failing: r.Failing, Fraction: r.FailingFraction, Message: r.Message})
		}
	}
	if stats, err = db.ColumnStats(ctx, passing); err != nil {
		return e, nil, nil, nil, fmt.Errorf("column statistics: %w", err)
	}
	return e, failed, cols, stats, nil
}

// dropAll drops every table and view of the engine's database, so that the
// next partition of a batch starts from none.
func dropAll(ctx context.Context, db *engine.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT 'TABLE', table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary UNION ALL SELECT 'VIEW', view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary")
	if err != nil {
		return err
	}
	var drops []string
	for rows.Next() {
		var kind, name string
		if err := rows.Scan(&kind, &name); err != nil {
			rows.Close()
			return err
		}
		drops = append(drops, "DROP "+kind+" IF EXISTS "+engine.Ident(name))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Views first: they may read the tables.
	slices.SortFunc(drops, func(x, y string) int { return strings.Compare(y, x) })
	for _, d := range drops {
		if _, err := db.ExecContext(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// emptyInput creates input as an empty table with the columns of sample, an
// object of the same input in another partition.
func (a *Activities) emptyInput(ctx context.Context, db *engine.DB, p refresh.Product, input refresh.Input, sample sourceObject, dir, runID string) error {
	name := sample.URI + sample.Key
	ext := string(refresh.FormatParquet)
	if input.Product == "" {
		ext = string(input.Format) + strings.ToLower(refresh.CompressionOfName(name))
	}
	file := filepath.Join(dir, input.Name, "0000."+ext)
	if err := a.copyPartitionSource(ctx, p, runID, input, sample, file); err != nil {
		return err
	}
	if err := a.loadInput(ctx, db, p, input, []string{file}, runID, name); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM %s LIMIT 0", engine.Ident(input.Name), engine.Ident(input.Name)))
	return err
}

// copyPartitionSource copies one object of a partitioned input into file and
// checks that it is the object the plan listed.
func (a *Activities) copyPartitionSource(ctx context.Context, p refresh.Product, runID string, input refresh.Input, o sourceObject, file string) error {
	var src source
	switch {
	case o.Key != "":
		src = a.storeSource(o.Key)
		if o.SHA256 != "" {
			return a.download(ctx, refresh.ObjectRef{Key: o.Key, Size: o.Size, SHA256: o.SHA256}, file)
		}
	case strings.HasPrefix(o.URI, "file://"):
		src = a.localSource(input, filepath.FromSlash(strings.TrimPrefix(o.URI, "file://")))
	default:
		if a.Open == nil {
			return badInput("input %s: %s: this worker has no object store configured for s3:// inputs", input.Name, o.URI)
		}
		st, key, err := a.Open(ctx, o.URI)
		if err != nil {
			return badInput("input %s: %v", input.Name, err)
		}
		src = source{name: o.URI, open: func(ctx context.Context) (io.ReadCloser, error) {
			r, _, err := st.Get(ctx, key)
			return r, err
		}}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	got, _, err := a.copySource(ctx, p.Ref(), runID, input.Name, src, file)
	if err != nil {
		return err
	}
	if got.Size != o.Size {
		return badInput("input %s: %s changed while the run read it (%d bytes planned, %d read); start the refresh again", input.Name, src.name, o.Size, got.Size)
	}
	return nil
}

// putJSON stores v as JSON under key.
func (a *Activities) putJSON(ctx context.Context, key string, v any) (refresh.ObjectRef, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("encode %s: %w", key, err)
	}
	obj, err := a.Store.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{ContentType: "application/json"})
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("write %s: %w", key, err)
	}
	sum := sha256.Sum256(b)
	return refresh.ObjectRef{Key: obj.Key, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// CombinePartitions checks a partitioned version as a whole. Its partitions are
// the plan's carried-over ones and the batches' built ones; row counts and row
// rules' counts add up, and the dataset rules are evaluated over the union of
// every partition's rows (the passing and the quarantined ones, as an
// unpartitioned run sees them), which DuckDB scans from the Parquet files without
// loading them into memory. The partition index and the report are staged.
func (a *Activities) CombinePartitions(ctx context.Context, in refresh.CombineInput) (refresh.CombineResult, error) {
	res, err := a.combinePartitions(ctx, in)
	return res, a.scratchErr(in.Product.Ref(), "checking the version as a whole", err)
}

func (a *Activities) combinePartitions(ctx context.Context, in refresh.CombineInput) (refresh.CombineResult, error) {
	var res refresh.CombineResult
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	p := in.Product
	if want := layout.StagedKey(p.Ref(), in.RunID, layout.Plan); in.Plan.Key != want {
		return res, unauthorized("the plan to combine is %s, not this run's %s", in.Plan.Key, want)
	}
	for i, b := range in.Batches {
		if want := layout.BatchResultKey(p.Ref(), in.RunID, i); b.Key != want {
			return res, unauthorized("batch %d of the combination is %s, not this run's %s", i, b.Key, want)
		}
	}
	var doc planDoc
	if err := catalog.ReadObjectJSON(ctx, a.Store, in.Plan, &doc); err != nil {
		return res, err
	}
	// The version is the whole plan: every batch, each of its partitions.
	if want := partition.Batches(len(doc.Build), doc.BatchSize); len(in.Batches) != want {
		return res, unauthorized("the combination names %d of the plan's %d batches", len(in.Batches), want)
	}
	c, set, err := compileContract(p)
	if err != nil {
		return res, err
	}
	stop := heartbeat(ctx, func() any { return "checking " + p.Ref() + " as a whole" })
	defer stop()
	idx := refresh.PartitionIndex{Product: p.Ref(), By: doc.By, Column: doc.Column, Partitions: slices.Clone(doc.Carry)}
	var failed []refresh.RuleSummary
	var stats [][]refresh.ColumnStats
	v := &res.Validate
	for i, ref := range in.Batches {
		var b batchDoc
		if err := catalog.ReadObjectJSON(ctx, a.Store, ref, &b); err != nil {
			return res, err
		}
		from := i * doc.BatchSize
		planned := doc.Build[from:min(from+doc.BatchSize, len(doc.Build))]
		if len(b.Partitions) != len(planned) {
			return res, unauthorized("batch %d built %d partitions, but the plan has %d in it", i, len(b.Partitions), len(planned))
		}
		idx.Partitions = append(idx.Partitions, b.Partitions...)
		failed = append(failed, b.Failed...)
		stats = append(stats, b.Stats...)
		if v.Columns == nil {
			v.Columns = b.Columns
		}
	}
	slices.SortFunc(idx.Partitions, func(x, y refresh.PartitionEntry) int { return strings.Compare(x.Key, y.Key) })
	for i := 1; i < len(idx.Partitions); i++ {
		if idx.Partitions[i].Key == idx.Partitions[i-1].Key {
			return res, fmt.Errorf("%s: partition %s is in the version twice", p.Ref(), idx.Partitions[i].Key)
		}
	}
	for _, prop := range c.Schema[0].Properties {
		v.ContractColumns = append(v.ContractColumns, refresh.Column{Name: prop.Name, Type: prop.LogicalType})
	}
	if v.Columns == nil {
		v.Columns = slices.Clone(v.ContractColumns)
	}

	hist, err := a.productHistory(ctx, p.Ref())
	if err != nil {
		return res, err
	}
	rep, err := a.versionReport(ctx, p, in.RunID, set, idx, hist)
	if err != nil {
		return res, err
	}
	q := Summarize(rep)
	q.RowsIn, q.RowsOut, q.Quarantined = 0, 0, 0
	for _, e := range idx.Partitions {
		q.RowsIn += e.RowsIn
		q.RowsOut += e.RowsOut
		q.Quarantined += e.Quarantined
		q.Rejected += e.Rejected
	}
	q.Rules = append(q.Rules, failed...)
	q.Blocked = q.Blocked || len(failed) > 0
	q.Columns = combineStats(stats)
	// The anomalies compare the version as a whole with the earlier versions.
	n := len(rep.Rules)
	addAnomalies(rep, c, hist, q)
	for _, r := range rep.Rules[n:] {
		q.Rules = append(q.Rules, refresh.RuleSummary{ID: r.ID, Severity: r.Severity.String(), Status: string(r.Status), Message: r.Message})
		q.Warnings++
	}
	q.Anomalies = anomalies(rep)
	v.Quality = q

	dir := a.scratchDir(in.RunID)
	report, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return res, fmt.Errorf("encode quality report: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	reportFile := filepath.Join(dir, layout.Report)
	if err := os.WriteFile(reportFile, report, 0o644); err != nil {
		return res, err
	}
	if v.Report, err = a.upload(ctx, reportFile, layout.StagedKey(p.Ref(), in.RunID, layout.Report)); err != nil {
		return res, err
	}
	index, err := a.putJSON(ctx, layout.StagedKey(p.Ref(), in.RunID, layout.PartitionIndex), idx)
	if err != nil {
		return res, err
	}
	res.Partitions = refresh.PartitionSummary{By: doc.By, Column: doc.Column, Total: len(idx.Partitions),
		Built: len(idx.Partitions) - len(doc.Carry), CarriedOver: len(doc.Carry), Index: index}
	if n := len(idx.Partitions); n > 0 {
		res.Partitions.First, res.Partitions.Last = idx.Partitions[0].Key, idx.Partitions[n-1].Key
	}
	parts := res.Partitions
	return res, a.stageJSON(ctx, p.Ref(), in.RunID, layout.Checks, stagedChecks{Validate: res.Validate, Partitions: &parts})
}

// versionReport evaluates the rules over the whole version. With dataset rules,
// it scans the union of every partition's rows; without, the row rules' counts
// add up from the partitions and nothing is read. Dataset rules read hist as
// history.
func (a *Activities) versionReport(ctx context.Context, p refresh.Product, runID string, set *rules.Set, idx refresh.PartitionIndex, hist *rules.History) (*rules.Report, error) {
	if !set.NeedsScan() {
		return sumReport(ctx, set, idx, hist)
	}
	dir := a.scratchDir(runID, "version")
	defer os.RemoveAll(dir)
	var files []string
	for i, e := range idx.Partitions {
		for j, o := range []*refresh.ObjectRef{&e.Data, e.Quarantine} {
			if o == nil {
				continue
			}
			file := filepath.Join(dir, fmt.Sprintf("%06d-%d.parquet", i, j))
			if err := a.download(ctx, *o, file); err != nil {
				return nil, err
			}
			files = append(files, file)
		}
	}
	if err := a.checkScratch(p.Ref(), runID, "the version's partitions"); err != nil {
		return nil, err
	}
	db, err := a.openEngine(ctx, runID, filepath.Join("version", "db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = engine.Quote(f)
	}
	if _, err := db.ExecContext(ctx, "CREATE VIEW version AS SELECT * FROM read_parquet(["+strings.Join(quoted, ", ")+"], union_by_name = true)"); err != nil {
		return nil, fmt.Errorf("read the version's partitions: %w", err)
	}
	rep, err := set.Evaluate(ctx, db.DB, "version", rules.EvalOptions{History: hist})
	if err != nil {
		return nil, fmt.Errorf("evaluate rules over the version: %w", err)
	}
	return rep, nil
}

// sumReport is the report of a version whose dataset rules read only the row
// count and the row rules' failing fractions: each row rule's counts are the sums
// of its partitions', its status over the whole is its threshold checked against
// the sums, as rules.Evaluate does, and the dataset rules are evaluated over the
// sums. A partition that failed on its own is reported besides.
func sumReport(ctx context.Context, set *rules.Set, idx refresh.PartitionIndex, hist *rules.History) (*rules.Report, error) {
	rep := &rules.Report{Table: "version", History: hist}
	counts := map[string]*rules.RuleResult{}
	for id, kind := range set.Rules() {
		if kind == rules.Row {
			counts[id] = &rules.RuleResult{ID: id, Kind: rules.Row}
		}
	}
	for _, e := range idx.Partitions {
		rep.Rows += e.RowsIn - e.OutsideRows
		rep.Passing += e.RowsOut
		for _, rc := range e.Rules {
			if r := counts[rc.ID]; r != nil {
				r.Checked += rc.Checked
				r.Failing += rc.Failing
			}
		}
	}
	rep.Quarantined = rep.Rows - rep.Passing
	var err error
	rep.Rules, err = set.Judge(ctx, counts, rep.Rows, hist)
	return rep, err
}

// combineStats combines the partitions' column statistics: null counts add up,
// minima and maxima combine, and the approximate distinct count of the whole is
// the largest partition's (a lower bound).
func combineStats(parts [][]refresh.ColumnStats) []refresh.ColumnStats {
	var out []refresh.ColumnStats
	at := map[string]int{}
	for _, cols := range parts {
		for _, c := range cols {
			i, ok := at[c.Name]
			if !ok {
				at[c.Name] = len(out)
				out = append(out, refresh.ColumnStats{Name: c.Name})
				i = len(out) - 1
			}
			o := &out[i]
			o.Nulls += c.Nulls
			o.Distinct = max(o.Distinct, c.Distinct)
			if c.Min != nil && (o.Min == nil || *c.Min < *o.Min) {
				v := *c.Min
				o.Min = &v
			}
			if c.Max != nil && (o.Max == nil || *c.Max > *o.Max) {
				v := *c.Max
				o.Max = &v
			}
		}
	}
	return out
}
