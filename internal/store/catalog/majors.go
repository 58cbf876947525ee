package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// ReadMajor returns the newest published version of a product's major
// version major, as a Head whose Pointer names it; found is false when the
// product has no published version of that major. The latest version is
// the answer while it is of that major; for an older major the major's
// pointer (layout.MajorKey) is read, and trusted when it names a version of
// that major no newer than the latest, whose own manifest proves it (see
// readHead); without such a pointer, the committed chain is walked back from
// latest to the major's newest version (layout's doc says why that is safe).
func ReadMajor(ctx context.Context, st storage.Store, ref string, major int) (h Head, found bool, err error) {
	head, found, err := ReadLatest(ctx, st, ref)
	if err != nil || !found {
		return head, false, err
	}
	switch m := layout.Major(head.Pointer.Version); {
	case m == major:
		return head, true, nil
	case m < major:
		return h, false, nil
	}
	var ptr layout.Latest
	obj, err := ReadJSON(ctx, st, layout.MajorKey(ref, major), &ptr)
	switch {
	case err == nil && layout.Major(ptr.Version) == major && layout.CompareVersions(ptr.Version, head.Pointer.Version) <= 0:
		// A pointer that does not verify (ErrUnverified: it names another
		// product's manifest, a key outside its version, another run), or
		// names a manifest that is not there, is skipped: the committed
		// chain below answers instead.
		h.Pointer, h.Object = ptr, obj
		if err := readHead(ctx, st, ref, layout.MajorKey(ref, major), &h); err == nil {
			return h, true, nil
		} else if !errors.Is(err, ErrUnverified) && !errors.Is(err, storage.ErrNotFound) {
			return h, false, err
		}
		h = Head{}
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return h, false, err
	}
	seen := map[string]bool{}
	for cur := head.Manifest; cur.Previous != ""; {
		if seen[cur.Version] {
			return h, false, fmt.Errorf("%s: the manifests' previous versions loop at %s", ref, cur.Version)
		}
		seen[cur.Version] = true
		prev, err := ReadManifest(ctx, st, ref, cur.Previous)
		if err != nil {
			return h, false, err
		}
		switch m := layout.Major(prev.Version); {
		case m == major:
			h.Manifest = prev
			h.Pointer = layout.Latest{Version: prev.Version, ManifestKey: layout.ManifestKey(ref, prev.Version), RunID: prev.RunID, PublishedAt: prev.PublishedAt}
			return h, true, nil
		case m < major:
			return h, false, nil
		}
		cur = prev
	}
	return h, false, nil
}

// NewestOfMajors returns, of a list of versions, the newest of each major, by
// major.
func NewestOfMajors(versions []string) map[int]string {
	out := map[int]string{}
	for _, v := range versions {
		m := layout.Major(v)
		if cur, ok := out[m]; !ok || layout.CompareVersions(v, cur) > 0 {
			out[m] = v
		}
	}
	return out
}
