// Package publishtest publishes product versions for tests through the real
// publisher: it stages a version's objects the way a run's stages do, then calls
// publish.Publisher, so that fixtures hold exactly what a refresh would leave in
// the store and never write the store's layout by hand.
package publishtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.yaml.in/yaml/v3"
)

// Version is a version to publish. Only Ref is required.
type Version struct {
	// Ref is the product, "<domain>/<name>".
	Ref string
	// At is the publication time (default: now).
	At time.Time
	// Contract is the ODCS text published with the version ("" for none).
	Contract string
	// Data is the Parquet (or any) bytes of the version (default: a few bytes).
	Data []byte
	// Report is the quality report JSON (default: "{}").
	Report string
	// Breaking publishes a new major version.
	Breaking bool
	// RunID names the run (default: derived from the product and time).
	RunID string
	// Partitions, when set, publishes a version partitioned by day: each key's
	// bytes become the partition's data object, written where a run writes
	// them, and Data is not used.
	Partitions map[string][]byte
	// Manifest is the base manifest: its Product, RunID, objects and versions
	// are set here, the rest (columns, quality, approvals…) is published as
	// given.
	Manifest refresh.Manifest
}

// Publish stages v and publishes it on top of the product's latest version,
// failing the test on any error; it returns the published manifest.
func Publish(t testing.TB, st storage.Store, v Version) refresh.Manifest {
	t.Helper()
	ctx := t.Context()
	if v.At.IsZero() {
		v.At = time.Now().UTC()
	}
	if v.RunID == "" {
		v.RunID = fmt.Sprintf("fixture-%d", v.At.UnixNano())
	}
	if v.Data == nil {
		v.Data = []byte("PAR1 fixture data PAR1")
	}
	if v.Report == "" {
		v.Report = "{}"
	}
	stage := func(name string, body []byte) refresh.ObjectRef {
		key := layout.StagedKey(v.Ref, v.RunID, name)
		if _, err := st.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatalf("stage %s: %v", key, err)
		}
		sum := sha256.Sum256(body)
		return refresh.ObjectRef{Key: key, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	}
	m := v.Manifest
	m.Product, m.RunID = v.Ref, v.RunID
	if m.WorkflowID == "" {
		m.WorkflowID = "refresh/" + v.Ref + "/" + v.RunID
	}
	if v.Partitions == nil {
		m.Data = stage(layout.Data, v.Data)
	} else {
		idx := refresh.PartitionIndex{Product: v.Ref, By: "day", Column: "day"}
		for _, key := range slices.Sorted(maps.Keys(v.Partitions)) {
			body := v.Partitions[key]
			k := layout.PartitionObjectKey(v.Ref, "day="+key, v.RunID, layout.Data)
			if _, err := st.Put(ctx, k, bytes.NewReader(body), storage.PutOptions{}); err != nil {
				t.Fatalf("write %s: %v", k, err)
			}
			sum := sha256.Sum256(body)
			idx.Partitions = append(idx.Partitions, refresh.PartitionEntry{Key: key, RunID: v.RunID,
				Data: refresh.ObjectRef{Key: k, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}})
		}
		b, err := json.Marshal(idx)
		if err != nil {
			t.Fatal(err)
		}
		n := len(idx.Partitions)
		m.Partitions = &refresh.PartitionSummary{By: "day", Column: "day", Total: n, Built: n, Index: stage(layout.PartitionIndex, b)}
		if n > 0 {
			m.Partitions.First, m.Partitions.Last = idx.Partitions[0].Key, idx.Partitions[n-1].Key
		}
	}
	m.Report = stage(layout.Report, []byte(v.Report))
	if v.Contract != "" {
		c := stage(layout.Contract, []byte(v.Contract))
		m.Contract = &c
	}
	head, found, err := catalog.ReadLatest(ctx, st, v.Ref)
	if err != nil {
		t.Fatalf("read latest of %s: %v", v.Ref, err)
	}
	in := refresh.PublishInput{Manifest: m, Bump: refresh.BumpMinor}
	if found {
		in.Previous = head.Pointer.Version
	}
	if v.Breaking {
		in.Bump = refresh.BumpMajor
	}
	p := publish.Publisher{Store: st, Scratch: t.TempDir(), Now: func() time.Time { return v.At }}
	res, err := p.Publish(ctx, in)
	if err != nil {
		t.Fatalf("publish %s: %v", v.Ref, err)
	}
	// A finished run's cleanup removes its staging.
	staged, err := st.List(ctx, layout.StagingPrefix(v.Ref, v.RunID)+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range staged {
		if err := st.Delete(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
	}
	out, err := catalog.ReadManifest(ctx, st, v.Ref, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// PublishMesh publishes one version of every product of a loaded mesh, upstream
// products first, each with its contract as `meshflow apply` publishes it and
// inputs as a run records them: another product's input names the version
// published here. It returns the manifests by product reference.
func PublishMesh(t testing.TB, st storage.Store, set *spec.Set) map[string]refresh.Manifest {
	t.Helper()
	out := map[string]refresh.Manifest{}
	for _, p := range set.Order() {
		if p.Contract == nil {
			t.Fatalf("%s: the contract could not be read", p.Ref())
		}
		text := string(p.Contract.Doc.Source)
		if p.ContractFile == p.Doc.File {
			b, err := yaml.Marshal(p.ContractNode)
			if err != nil {
				t.Fatalf("%s: encode the inline contract: %v", p.Ref(), err)
			}
			text = string(b)
		}
		m := refresh.Manifest{ContractVersion: p.Contract.Version, Quality: refresh.Quality{RowsIn: 10, RowsOut: 9, Quarantined: 1}}
		for _, in := range p.Inputs {
			staged := refresh.StagedInput{Name: in.Name, Format: in.DataFormat(), Source: in.URI}
			if in.Product != "" {
				up, ok := out[in.Product]
				if !ok {
					t.Fatalf("%s: input %s reads %s, which is not published", p.Ref(), in.Name, in.Product)
				}
				staged.Format, staged.Source, staged.SourceVersion = refresh.FormatParquet, refresh.ProductSourcePrefix+in.Product, up.Version
			}
			m.Inputs = append(m.Inputs, staged)
		}
		out[p.Ref()] = Publish(t, st, Version{Ref: p.Ref(), Contract: text, Manifest: m})
	}
	return out
}
