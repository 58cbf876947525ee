package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Audit is what an audit of one product's published versions found.
type Audit struct {
	Ref string `json:"product"`
	// Versions are the committed versions, oldest first: the chain from
	// the latest pointer back through each manifest's previous version.
	Versions []string `json:"versions"`
	// Unreachable are version folders in no chain: claims of runs that lost the
	// race for the latest pointer, or stopped before moving it. Readers never see them.
	Unreachable []string `json:"unreachable,omitempty"`
	// Staging counts the product's objects under _staging/: runs in progress,
	// or left by runs that ended without their cleanup.
	Staging int `json:"staging"`
	// Unreferenced are partition objects no committed version names: built by
	// runs that never published, or only by versions gc retired. gc removes them.
	Unreferenced []string `json:"unreferenced,omitempty"`
	// Retired are versions gc retired: their manifests stay, their data does not.
	Retired []string `json:"retired,omitempty"`
	// Problems are broken guarantees, each a sentence naming the object.
	Problems []string `json:"problems,omitempty"`
	// Manifests are the committed versions' manifests, by version.
	Manifests map[string]refresh.Manifest `json:"-"`
}

// OK reports whether the audit found no broken guarantee.
func (a Audit) OK() bool { return len(a.Problems) == 0 }

func (a *Audit) problem(format string, args ...any) {
	a.Problems = append(a.Problems, fmt.Sprintf(a.Ref+": "+format, args...))
}

// AuditAll audits every product that has a latest pointer or a version folder.
func AuditAll(ctx context.Context, st storage.Store) ([]Audit, error) {
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", st.URI(""), err)
	}
	var refs []string
	for _, o := range objs {
		parts := strings.SplitN(o.Key, "/", 3)
		if len(parts) < 3 || strings.HasPrefix(parts[0], "_") {
			continue
		}
		if ref := parts[0] + "/" + parts[1]; !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	out := make([]Audit, 0, len(refs))
	for _, ref := range refs {
		a, err := AuditProduct(ctx, st, ref)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// AuditProduct checks what readers of a product can see against the guarantees
// of publication: every committed version has a manifest naming it, its objects
// hold exactly the bytes (SHA-256 and size) the manifest records and nothing
// else; no run published twice; versions and publication times only move
// forward along the chain; the latest pointer names the newest committed version and
// its run; recorded approvals are approvals of one reviewed manifest, each
// proven by meshflow serve's signature with a key of the mesh revision the
// version was built from (meshrev.VerifyApprovals). It reads
// every published object, so it costs a full download of the product.
//
// The error is for a store that cannot be read; what is wrong in the store is
// in the Audit's Problems.
func AuditProduct(ctx context.Context, st storage.Store, ref string) (Audit, error) {
	a := Audit{Ref: ref, Manifests: map[string]refresh.Manifest{}}
	objs, err := st.List(ctx, ref+"/")
	if err != nil {
		return a, fmt.Errorf("list %s: %w", st.URI(ref+"/"), err)
	}
	folders := map[string][]string{} // version -> object names
	parts := map[string]storage.Object{}
	hasLatest := false
	for _, o := range objs {
		if o.Key == layout.LatestKey(ref) {
			hasLatest = true
			continue
		}
		if _, ok := layout.RunOfPartitionKey(ref, o.Key); ok {
			parts[o.Key] = o
			continue
		}
		if layout.IsMajorOrDeprecationKey(ref, o.Key) || o.Key == layout.CheckedKey(ref) {
			continue // shortcuts and records beside the versions, not part of one
		}
		v, name, ok := versionObject(ref, o.Key)
		if !ok {
			a.problem("unexpected object %s", o.Key)
			continue
		}
		folders[v] = append(folders[v], name)
	}
	if staging, err := st.List(ctx, layout.ProductStagingPrefix(ref)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return a, fmt.Errorf("list staging of %s: %w", ref, err)
	} else {
		a.Staging = len(staging)
	}

	if !hasLatest {
		a.Unreferenced = slices.Sorted(maps.Keys(parts))
		for v := range folders {
			a.Unreachable = append(a.Unreachable, v)
		}
		slices.SortFunc(a.Unreachable, layout.CompareVersions)
		return a, nil
	}
	var l layout.Latest
	if _, err := ReadJSON(ctx, st, layout.LatestKey(ref), &l); err != nil {
		a.problem("%v", err)
		return a, nil
	}
	if want := layout.ManifestKey(ref, l.Version); l.ManifestKey != want {
		a.problem("the latest pointer names manifest %s for version %s, want %s", l.ManifestKey, l.Version, want)
	}

	// Walk the chain from latest back to the first version.
	runs := map[string]string{} // run ID -> version
	named := map[string]bool{}  // partition objects named by a version, checked
	for v := l.Version; v != ""; {
		if _, dup := a.Manifests[v]; dup {
			a.problem("the manifests' previous versions loop at %s", v)
			break
		}
		names, ok := folders[v]
		if !ok || !slices.Contains(names, layout.Manifest) {
			a.problem("version %s is in the chain from the latest pointer but has no manifest", v)
			break
		}
		var m refresh.Manifest
		if _, err := ReadJSON(ctx, st, layout.ManifestKey(ref, v), &m); err != nil {
			a.problem("%v", err)
			break
		}
		a.Manifests[v] = m
		a.Versions = append(a.Versions, v)
		if m.Version != v || m.Product != ref {
			a.problem("the manifest of version %s says product %s version %s", v, m.Product, m.Version)
		}
		if other, dup := runs[m.RunID]; dup {
			a.problem("run %s published twice: versions %s and %s", m.RunID, v, other)
		}
		runs[m.RunID] = v
		retired := slices.Contains(names, layout.Retired)
		if retired {
			a.Retired = append(a.Retired, v)
		}
		if err := a.checkObjects(ctx, st, m, names, retired); err != nil {
			return a, err
		}
		if !retired {
			if err := a.checkPartitions(ctx, st, m, parts, named); err != nil {
				return a, err
			}
		}
		a.checkApprovals(m)
		for _, err := range meshrev.VerifyApprovals(ctx, st, m) {
			a.problem("version %s: %v", m.Version, err)
		}
		if m.Previous != "" && layout.CompareVersions(m.Previous, v) >= 0 {
			a.problem("version %s follows version %s: versions must only move forward", v, m.Previous)
			break
		}
		v = m.Previous
	}
	slices.Reverse(a.Versions)
	for i := 1; i < len(a.Versions); i++ {
		prev, cur := a.Manifests[a.Versions[i-1]], a.Manifests[a.Versions[i]]
		if cur.PublishedAt.Before(prev.PublishedAt) {
			a.problem("version %s was published at %s, before version %s at %s", cur.Version, cur.PublishedAt, prev.Version, prev.PublishedAt)
		}
	}
	if top, ok := a.Manifests[l.Version]; ok && top.RunID != l.RunID {
		a.problem("the latest pointer names run %s, the manifest of version %s run %s", l.RunID, l.Version, top.RunID)
	}
	for v := range folders {
		if _, ok := a.Manifests[v]; !ok {
			a.Unreachable = append(a.Unreachable, v)
		}
	}
	slices.SortFunc(a.Unreachable, layout.CompareVersions)
	slices.SortFunc(a.Retired, layout.CompareVersions)
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		if !named[k] {
			a.Unreferenced = append(a.Unreferenced, k)
		}
	}
	return a, nil
}

// checkPartitions checks that every object a partitioned version's index names
// is in the store with the size and checksum the index recorded. Objects that
// several versions name are read once; named collects them.
func (a *Audit) checkPartitions(ctx context.Context, st storage.Store, m refresh.Manifest, parts map[string]storage.Object, named map[string]bool) error {
	if m.Partitions == nil {
		return nil
	}
	idx, err := Partitions(ctx, st, m)
	if err != nil {
		a.problem("version %s: %v", m.Version, err)
		return nil
	}
	if len(idx.Partitions) != m.Partitions.Total {
		a.problem("version %s: the manifest counts %d partitions, its index lists %d", m.Version, m.Partitions.Total, len(idx.Partitions))
	}
	for _, e := range idx.Partitions {
		for _, r := range []*refresh.ObjectRef{&e.Data, e.Quarantine, e.Outside, e.Rejects} {
			if r == nil || named[r.Key] {
				continue
			}
			if _, ok := parts[r.Key]; !ok {
				a.problem("version %s: partition %s names %s, which is not in the store", m.Version, e.Key, r.Key)
				continue
			}
			named[r.Key] = true
			sum, size, err := digest(ctx, st, r.Key)
			if err != nil {
				return err
			}
			if sum != r.SHA256 || size != r.Size {
				a.problem("version %s: partition %s: %s holds %d bytes with SHA-256 %s; the index says %d bytes with SHA-256 %s", m.Version, e.Key, r.Key, size, sum, r.Size, r.SHA256)
			}
		}
		if e.RowsIn != e.RowsOut+e.Quarantined {
			a.problem("version %s: partition %s counts %d rows in, %d out and %d quarantined", m.Version, e.Key, e.RowsIn, e.RowsOut, e.Quarantined)
		}
	}
	return nil
}

// checkObjects compares a committed version's objects with its manifest.
//
// A version gc retired keeps its manifest, contract and report; its data is gone.
func (a *Audit) checkObjects(ctx context.Context, st storage.Store, m refresh.Manifest, names []string, retired bool) error {
	vp := layout.VersionPrefix(a.Ref, m.Version)
	refs := layout.Objects(m)
	if retired {
		refs = layout.Kept(m)
	}
	if m.Contract == nil {
		a.problem("version %s has no contract", m.Version)
	}
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		r := refs[name]
		want := path.Join(vp, name)
		switch {
		case r.Key != want:
			a.problem("version %s: the manifest names %s at %s, want %s", m.Version, name, r.Key, want)
			continue
		case !slices.Contains(names, name):
			a.problem("version %s: %s is in the manifest but not in the store", m.Version, name)
			continue
		}
		sum, size, err := digest(ctx, st, r.Key)
		if err != nil {
			return err
		}
		if sum != r.SHA256 || size != r.Size {
			a.problem("version %s: %s holds %d bytes with SHA-256 %s; the manifest says %d bytes with SHA-256 %s", m.Version, name, size, sum, r.Size, r.SHA256)
		}
	}
	for _, name := range names {
		if _, leftover := layout.Objects(m)[name]; retired && leftover {
			continue // a gc that stopped before removing it
		}
		if _, ok := refs[name]; !ok && name != layout.Manifest && name != layout.Retired {
			a.problem("version %s holds %s, which its manifest does not name", m.Version, name)
		}
	}
	return nil
}

// checkApprovals checks that the approvals a manifest records are approvals, each
// of the same reviewed manifest, each by a different principal.
func (a *Audit) checkApprovals(m refresh.Manifest) {
	var who []string
	for _, ap := range m.Approvals {
		switch {
		case ap.Decision != refresh.Approve:
			a.problem("version %s records a %q decision by %s", m.Version, ap.Decision, ap.Principal)
		case ap.ManifestHash == "" || ap.At.IsZero():
			a.problem("version %s records an approval by %s without the manifest it reviewed or its time", m.Version, ap.Principal)
		case ap.ManifestHash != m.Approvals[0].ManifestHash:
			a.problem("version %s records approvals of different manifests: %s and %s", m.Version, m.Approvals[0].ManifestHash, ap.ManifestHash)
		case slices.Contains(who, ap.Principal):
			a.problem("version %s records two approvals by %s", m.Version, ap.Principal)
		}
		who = append(who, ap.Principal)
	}
}

// digest reads an object whole and returns its SHA-256 (hex) and size.
func digest(ctx context.Context, st storage.Store, key string) (string, int64, error) {
	r, _, err := st.Get(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil && !errors.Is(err, storage.ErrChecksumMismatch) {
		return "", 0, fmt.Errorf("read %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// versionObject splits "<ref>/v<version>/<name>".
func versionObject(ref, key string) (version, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, layout.VersionsPrefix(ref))
	if !ok {
		return "", "", false
	}
	version, name, ok = strings.Cut(rest, "/")
	return version, name, ok && version != "" && name != "" && !strings.Contains(name, "/")
}
