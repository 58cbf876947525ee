// Package publishtest publishes product versions for tests through the real
// publisher: it stages a version's objects the way a run's stages do, then calls
// publish.Publisher, so that fixtures hold exactly what a refresh would leave in
// the store and never write the store's layout by hand.
package publishtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"
	"github.com/meshflow/meshflow/internal/store/storage"
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
	m.Data = stage(layout.Data, v.Data)
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
