package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"path"
	"slices"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// MinGCAge is how old an unreferenced partition object must be before gc removes
// it: younger ones may belong to a run that is building or publishing right now.
const MinGCAge = time.Hour

// GCResult says what gc retired and removed.
type GCResult struct {
	Ref string `json:"product"`
	// Retired are the versions gc retired now, oldest first.
	Retired []string `json:"retired,omitempty"`
	// Removed are the keys of the objects removed, and Bytes their size.
	Removed []string `json:"removed,omitempty"`
	Bytes   int64    `json:"bytes"`
	// Kept are the versions whose data stays.
	Kept []string `json:"kept"`
	// KeptForPins are the kept versions older than the newest keep that stay
	// as the newest of a major that consumers pin.
	KeptForPins []string `json:"keptForPins,omitempty"`
}

// retiredRecord is the content of a retired version's layout.Retired marker.
type retiredRecord struct {
	RetiredAt time.Time `json:"retiredAt"`
	Keep      int       `json:"keep"`
}

// GC keeps the data of a product's newest keep versions and retires the older
// ones: each gets a layout.Retired marker, then loses its data objects (its
// manifest, contract, report and partition index stay, the record of what was
// published and approved). Partition objects that no kept version names are
// removed when no run in progress may still name them: they are older than
// MinGCAge and their run has no staging left. It never removes an object a kept
// version names; the audit checks that every kept version's objects are there.
// With dryRun it only reports.
func GC(ctx context.Context, st storage.Store, ref string, keep int, dryRun bool, now time.Time) (GCResult, error) {
	return GCKeeping(ctx, st, ref, keep, nil, dryRun, now)
}

// GCKeeping is GC that also keeps the data of the newest version of every
// major in pinned (PinnedMajors: the majors that consumers pin and that are
// not past their deprecation date).
func GCKeeping(ctx context.Context, st storage.Store, ref string, keep int, pinned []int, dryRun bool, now time.Time) (GCResult, error) {
	res := GCResult{Ref: ref}
	if keep < 1 {
		return res, fmt.Errorf("gc of %s: keep at least one version (--keep 1 or more)", ref)
	}
	a, err := AuditProduct(ctx, st, ref)
	if err != nil {
		return res, err
	}
	if !a.OK() {
		return res, fmt.Errorf("gc of %s: the audit found problems; fix them first: %v", ref, a.Problems)
	}
	n := len(a.Versions)
	kept := slices.Clone(a.Versions[max(0, n-keep):])
	newest := NewestOfMajors(a.Versions)
	for _, m := range pinned {
		if v, ok := newest[m]; ok && !slices.Contains(kept, v) {
			kept = append(kept, v)
			res.KeptForPins = append(res.KeptForPins, v)
		}
	}
	slices.SortFunc(kept, layout.CompareVersions)
	slices.SortFunc(res.KeptForPins, layout.CompareVersions)
	res.Kept = slices.Clone(kept)
	named := map[string]bool{}
	for _, v := range kept {
		m := a.Manifests[v]
		for _, o := range layout.Objects(m) {
			named[o.Key] = true
		}
		idx, err := Partitions(ctx, st, m)
		if err != nil {
			return res, err
		}
		if idx != nil {
			for _, e := range idx.Partitions {
				for _, o := range []*refresh.ObjectRef{&e.Data, e.Quarantine, e.Outside, e.Rejects} {
					if o != nil {
						named[o.Key] = true
					}
				}
			}
		}
	}
	remove := func(o storage.Object) error {
		if named[o.Key] {
			return fmt.Errorf("gc of %s: refusing to remove %s, which a kept version names", ref, o.Key)
		}
		res.Removed = append(res.Removed, o.Key)
		res.Bytes += o.Size
		if dryRun {
			return nil
		}
		return st.Delete(ctx, o.Key)
	}
	for _, v := range a.Versions {
		if slices.Contains(kept, v) {
			continue
		}
		m := a.Manifests[v]
		vp := layout.VersionPrefix(ref, v)
		if !slices.Contains(a.Retired, v) {
			res.Retired = append(res.Retired, v)
			if !dryRun {
				body, _ := json.Marshal(retiredRecord{RetiredAt: now.UTC(), Keep: keep})
				if _, err := st.Put(ctx, path.Join(vp, layout.Retired), bytes.NewReader(body), storage.PutOptions{ContentType: "application/json"}); err != nil {
					return res, fmt.Errorf("retire %s %s: %w", ref, v, err)
				}
			}
		}
		kept := layout.Kept(m)
		for name, o := range layout.Objects(m) {
			if _, stays := kept[name]; stays {
				continue
			}
			obj, err := st.Head(ctx, o.Key)
			if err != nil {
				continue // removed by an earlier gc
			}
			if err := remove(obj); err != nil {
				return res, err
			}
		}
	}
	staging, err := st.List(ctx, layout.ProductStagingPrefix(ref))
	if err != nil {
		return res, err
	}
	running := map[string]bool{}
	for _, o := range staging {
		if run, ok := layout.RunOfStagingKey(ref, o.Key); ok {
			running[run] = true
		}
	}
	parts, err := st.List(ctx, layout.PartitionsPrefix(ref))
	if err != nil {
		return res, err
	}
	for _, o := range parts {
		run, ok := layout.RunOfPartitionKey(ref, o.Key)
		if !ok || named[o.Key] || running[run] || now.Sub(o.Modified) < MinGCAge {
			continue
		}
		if err := remove(o); err != nil {
			return res, err
		}
	}
	slices.Sort(res.Removed)
	return res, nil
}

// PinnedMajors returns the majors of ref that a product of products (a mesh
// revision's) pins and that are not past their deprecation date at now,
// sorted: gc keeps the newest version of each.
func PinnedMajors(ctx context.Context, st storage.Store, ref string, products map[string]refresh.Product, now time.Time) ([]int, error) {
	var out []int
	for _, p := range products {
		for _, in := range p.Inputs {
			if in.Product != ref || in.Major == 0 || slices.Contains(out, in.Major) {
				continue
			}
			d, err := ReadDeprecation(ctx, st, ref, in.Major)
			if err != nil {
				return nil, err
			}
			if d == nil || !d.Past(now) {
				out = append(out, in.Major)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
