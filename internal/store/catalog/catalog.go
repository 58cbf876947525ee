// Package catalog reads what the mesh has published: every product's latest
// manifest, found through its latest pointer, the manifests of its earlier
// versions, the contracts published with them (parsed once per checksum), the
// glossary terms and freshness those contracts give, the newest version of a
// major (ReadMajor, for inputs that pin one), the deprecations of majors, and
// a run's staged quality report. It only follows latest pointers and version
// manifests, so it never shows a version that was not committed. Package
// layout names the keys it reads; package publish is the one writer of
// versions, Deprecate the one writer of deprecations.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Entry is a published product.
type Entry struct {
	Ref      string           `json:"product"`
	Latest   refresh.Manifest `json:"latest"`
	Versions []string         `json:"versions"`
}

// ErrUnverified marks a pointer or manifest that does not prove the version
// it claims: a latest or major pointer that names another key than its own
// version's manifest, or a manifest of another product, version or run. Such
// objects are what someone with write access to part of the store can forge;
// the catalog refuses them instead of showing a version that was never
// published.
var ErrUnverified = errors.New("unverified pointer or manifest")

// List returns every published product, sorted by reference. A product
// whose latest pointer or manifests do not verify (ErrUnverified) is left
// out; ListChecked says which.
func List(ctx context.Context, st storage.Store) ([]Entry, error) {
	out, _, err := ListChecked(ctx, st)
	return out, err
}

// ListChecked returns every published product, sorted by reference, and one
// error for each product left out because its latest pointer or manifests
// do not verify (ErrUnverified, or content that does not match its
// checksum), so that callers can warn about them: one product's forged
// pointer neither shows nor hides the others.
func ListChecked(ctx context.Context, st storage.Store) ([]Entry, []error, error) {
	refs, err := Products(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Entry, 0, len(refs))
	var refused []error
	for _, ref := range refs {
		e, err := Show(ctx, st, ref)
		if errors.Is(err, ErrUnverified) || errors.Is(err, storage.ErrChecksumMismatch) {
			refused = append(refused, err)
			continue
		}
		if err != nil {
			return nil, refused, err
		}
		out = append(out, e)
	}
	return out, refused, nil
}

// Products returns the products that have a latest pointer, sorted.
func Products(ctx context.Context, st storage.Store) ([]string, error) {
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list catalog: %w", err)
	}
	var refs []string
	for _, o := range objs {
		if ref, ok := layout.ProductOfLatestKey(o.Key); ok {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	return refs, nil
}

// Show returns one published product with the versions it has.
func Show(ctx context.Context, st storage.Store, ref string) (Entry, error) {
	e := Entry{Ref: ref}
	head, found, err := ReadLatest(ctx, st, ref)
	if err != nil {
		return e, err
	}
	if !found {
		return e, fmt.Errorf("%s has not been published", ref)
	}
	e.Latest = head.Manifest
	// The committed versions are the chain from latest back through each
	// manifest's Previous: a version claimed by a run that then lost the race for
	// latest is in no chain, so it is never shown.
	seen := map[string]bool{}
	for cur := head.Manifest; ; {
		if seen[cur.Version] {
			return e, fmt.Errorf("%s: the manifests' previous versions loop at %s", ref, cur.Version)
		}
		seen[cur.Version] = true
		e.Versions = append(e.Versions, cur.Version)
		if cur.Previous == "" {
			break
		}
		prev, err := ReadManifest(ctx, st, ref, cur.Previous)
		if err != nil {
			return e, err
		}
		if layout.CompareVersions(prev.Version, cur.Version) >= 0 {
			return e, fmt.Errorf("%s: %w: version %s follows version %s; versions only move forward", ref, ErrUnverified, cur.Version, prev.Version)
		}
		cur = prev
	}
	slices.SortFunc(e.Versions, layout.CompareVersions)
	return e, nil
}

// Head is a product's latest pointer with the manifest it names.
type Head struct {
	Pointer  layout.Latest
	Manifest refresh.Manifest
	// Object is the pointer's object; its ETag guards the pointer's next move.
	Object storage.Object
}

// ReadLatest returns a product's latest pointer and the manifest it names;
// found is false when the product was never published.
func ReadLatest(ctx context.Context, st storage.Store, ref string) (h Head, found bool, err error) {
	h.Object, err = ReadJSON(ctx, st, layout.LatestKey(ref), &h.Pointer)
	if errors.Is(err, storage.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	if err := readHead(ctx, st, ref, layout.LatestKey(ref), &h); err != nil {
		return h, false, err
	}
	return h, true, nil
}

// readHead reads the manifest that the pointer h.Pointer, read from key,
// names, and checks that pointer and manifest prove one published version
// of ref: the pointer names its version's own manifest key, and the manifest
// is of ref, that version and the pointer's run. The store checks the
// manifest's bytes against their checksum as it reads them.
func readHead(ctx context.Context, st storage.Store, ref, key string, h *Head) error {
	ptr := h.Pointer
	if !layout.ValidVersion(ptr.Version) || ptr.ManifestKey != layout.ManifestKey(ref, ptr.Version) {
		return fmt.Errorf("%s: %w: %s names version %q at %s, not that version's manifest %s", ref, ErrUnverified, key, ptr.Version, ptr.ManifestKey, layout.ManifestKey(ref, ptr.Version))
	}
	m, err := ReadManifest(ctx, st, ref, ptr.Version)
	if err != nil {
		return err
	}
	if ptr.RunID != "" && m.RunID != ptr.RunID {
		return fmt.Errorf("%s: %w: %s names run %s, the manifest of version %s run %s", ref, ErrUnverified, key, ptr.RunID, ptr.Version, m.RunID)
	}
	h.Manifest = m
	return nil
}

// ReadManifest returns the manifest of one version of a product, checked to
// be that product's and that version's (ErrUnverified otherwise), so that a
// manifest copied from another product is never taken for one of ref's.
func ReadManifest(ctx context.Context, st storage.Store, ref, version string) (refresh.Manifest, error) {
	var m refresh.Manifest
	key := layout.ManifestKey(ref, version)
	if _, err := ReadJSON(ctx, st, key, &m); err != nil {
		return m, fmt.Errorf("%s: read manifest of %s: %w", ref, version, err)
	}
	if m.Product != ref || m.Version != version {
		return m, fmt.Errorf("%s: %w: %s says product %s version %s", ref, ErrUnverified, key, m.Product, m.Version)
	}
	return m, nil
}

// ReadJSON reads and decodes a JSON object from the store.
func ReadJSON(ctx context.Context, st storage.Store, key string, v any) (storage.Object, error) {
	return readJSON(ctx, st, key, v, -1)
}

// readJSON reads and decodes a JSON object of at most limit bytes (no limit when
// negative).
func readJSON(ctx context.Context, st storage.Store, key string, v any, limit int64) (storage.Object, error) {
	b, obj, err := readAll(ctx, st, key, limit)
	if err != nil {
		return obj, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return obj, fmt.Errorf("decode %s: %w", key, err)
	}
	return obj, nil
}

// readAll reads an object of at most limit bytes (no limit when negative).
func readAll(ctx context.Context, st storage.Store, key string, limit int64) ([]byte, storage.Object, error) {
	r, obj, err := st.Get(ctx, key)
	if err != nil {
		return nil, obj, err
	}
	defer r.Close()
	var src io.Reader = r
	if limit >= 0 {
		if obj.Size > limit {
			return nil, obj, fmt.Errorf("read %s: %d bytes, more than the %d this reader takes", key, obj.Size, limit)
		}
		src = io.LimitReader(r, limit)
	}
	b, err := io.ReadAll(src)
	if err != nil {
		return nil, obj, fmt.Errorf("read %s: %w", key, err)
	}
	return b, obj, nil
}

// ReadCheck returns the product's check record (layout.Check); found is false
// when no run ever found its output unchanged.
func ReadCheck(ctx context.Context, st storage.Store, ref string) (c layout.Check, found bool, err error) {
	_, err = ReadJSON(ctx, st, layout.CheckedKey(ref), &c)
	if errors.Is(err, storage.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read the check record of %s: %w", ref, err)
	}
	return c, true, nil
}

// FreshAt returns when the latest version m was last known to be current:
// the later of its publication and the last check that found the product's
// output unchanged since it (check may be nil). A check of another version is
// stale and does not count.
func FreshAt(m refresh.Manifest, check *layout.Check) time.Time {
	if check != nil && check.Version == m.Version && check.CheckedAt.After(m.PublishedAt) {
		return check.CheckedAt
	}
	return m.PublishedAt
}

// LatestCheck reads the check record of the latest version m of product ref:
// nil when there is none, or when it names another version. An unreadable
// record counts as none: freshness then counts from the publication, which is
// never later than the truth.
func LatestCheck(ctx context.Context, st storage.Store, ref string, m refresh.Manifest) *layout.Check {
	c, found, err := ReadCheck(ctx, st, ref)
	if err != nil || !found || c.Version != m.Version {
		return nil
	}
	return &c
}
