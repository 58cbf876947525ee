// Package catalog reads what the mesh has published: every product's latest
// manifest, found through its latest pointer, and the manifests of its earlier
// versions. It only follows latest pointers and version manifests, so it never
// shows staging objects or a version that was not committed.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Entry is a published product.
type Entry struct {
	Ref      string           `json:"product"`
	Latest   refresh.Manifest `json:"latest"`
	Versions []string         `json:"versions"`
}

// List returns every published product, sorted by reference.
func List(ctx context.Context, st storage.Store) ([]Entry, error) {
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list catalog: %w", err)
	}
	var out []Entry
	for _, o := range objs {
		ref, ok := strings.CutSuffix(o.Key, "/latest.json")
		if !ok || strings.HasPrefix(ref, "_staging/") || strings.Count(ref, "/") != 1 {
			continue
		}
		e, err := Show(ctx, st, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Ref, b.Ref) })
	return out, nil
}

// Show returns one published product with the versions it has.
func Show(ctx context.Context, st storage.Store, ref string) (Entry, error) {
	e := Entry{Ref: ref}
	_, m, _, found, err := ReadLatest(ctx, st, ref)
	if err != nil {
		return e, err
	}
	if !found {
		return e, fmt.Errorf("%s has not been published", ref)
	}
	e.Latest = m
	// The committed versions are the chain from latest back through each
	// manifest's Previous: a version claimed by a run that then lost the race for
	// latest is in no chain, so it is never shown.
	seen := map[string]bool{}
	for cur := m; ; {
		if seen[cur.Version] {
			return e, fmt.Errorf("%s: the manifests' previous versions loop at %s", ref, cur.Version)
		}
		seen[cur.Version] = true
		e.Versions = append(e.Versions, cur.Version)
		if cur.Previous == "" {
			break
		}
		var prev refresh.Manifest
		if _, err := ReadJSON(ctx, st, path.Join(VersionPrefix(ref, cur.Previous), "manifest.json"), &prev); err != nil {
			return e, fmt.Errorf("%s: read manifest of %s: %w", ref, cur.Previous, err)
		}
		cur = prev
	}
	slices.SortFunc(e.Versions, CompareVersions)
	return e, nil
}

// CompareVersions orders MAJOR.MINOR.PATCH versions numerically.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// LatestKey returns the key of a product's latest pointer.
func LatestKey(ref string) string { return ref + "/latest.json" }

// VersionPrefix returns the prefix of a published version.
func VersionPrefix(ref, version string) string { return ref + "/v" + version }

// Latest is the content of latest.json.
type Latest struct {
	Version     string    `json:"version"`
	ManifestKey string    `json:"manifestKey"`
	RunID       string    `json:"runId"`
	PublishedAt time.Time `json:"publishedAt"`
}

// ReadJSON reads and decodes a JSON object from the store.
func ReadJSON(ctx context.Context, st storage.Store, key string, v any) (storage.Object, error) {
	r, obj, err := st.Get(ctx, key)
	if err != nil {
		return obj, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return obj, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return obj, fmt.Errorf("decode %s: %w", key, err)
	}
	return obj, nil
}

// ReadLatest returns a product's latest pointer and its manifest; found is false
// when the product was never published.
func ReadLatest(ctx context.Context, st storage.Store, ref string) (l Latest, m refresh.Manifest, obj storage.Object, found bool, err error) {
	obj, err = ReadJSON(ctx, st, LatestKey(ref), &l)
	if errors.Is(err, storage.ErrNotFound) {
		return l, m, obj, false, nil
	}
	if err != nil {
		return l, m, obj, false, err
	}
	if _, err := ReadJSON(ctx, st, l.ManifestKey, &m); err != nil {
		return l, m, obj, false, fmt.Errorf("read manifest of %s: %w", ref, err)
	}
	return l, m, obj, true, nil
}

// Terms returns the glossary terms the columns of a published version link to,
// read from the contract published with it, sorted and without repeats.
func Terms(ctx context.Context, st storage.Store, m refresh.Manifest) ([]string, error) {
	if m.Contract == nil {
		return nil, nil
	}
	r, _, err := st.Get(ctx, m.Contract.Key)
	if err != nil {
		return nil, fmt.Errorf("read contract of %s %s: %w", m.Product, m.Version, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read contract of %s %s: %w", m.Product, m.Version, err)
	}
	c, _ := contract.Load(m.Contract.Key, b, &diag.List{})
	if c == nil {
		return nil, fmt.Errorf("the contract of %s %s does not parse", m.Product, m.Version)
	}
	var terms []string
	var walk func(ps []*contract.Property)
	walk = func(ps []*contract.Property) {
		for _, p := range ps {
			if p.GlossaryTerm != "" && !slices.Contains(terms, p.GlossaryTerm) {
				terms = append(terms, p.GlossaryTerm)
			}
			walk(p.Properties)
		}
	}
	for _, o := range c.Schema {
		walk(o.Properties)
	}
	slices.Sort(terms)
	return terms, nil
}
