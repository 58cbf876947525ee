package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Deprecate records the deprecation of a major version of a product
// (layout.DeprecationKey), replacing an earlier one of the same major. The
// major must have a published version. Who may deprecate is decided before:
// meshflow serve lets the product's owner and its domain's stewards.
func Deprecate(ctx context.Context, st storage.Store, d refresh.Deprecation) error {
	if _, err := refresh.ParseDeprecationDate(d.On); err != nil {
		return err
	}
	if _, found, err := ReadMajor(ctx, st, d.Product, d.Major); err != nil {
		return err
	} else if !found {
		return fmt.Errorf("%w: %s has no published %d.x to deprecate", ErrNoMajor, d.Product, d.Major)
	}
	body, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	key := layout.DeprecationKey(d.Product, d.Major)
	if _, err := st.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// ErrNoMajor is the error of a major version that has no published version.
var ErrNoMajor = errors.New("no such major version")

// ReadDeprecation returns the deprecation of a major of a product, nil when
// it is not deprecated.
func ReadDeprecation(ctx context.Context, st storage.Store, ref string, major int) (*refresh.Deprecation, error) {
	var d refresh.Deprecation
	if _, err := readJSON(ctx, st, layout.DeprecationKey(ref, major), &d, 64<<10); errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &d, nil
}

// Deprecations returns a product's deprecated majors, oldest major first.
func Deprecations(ctx context.Context, st storage.Store, ref string) ([]refresh.Deprecation, error) {
	objs, err := st.List(ctx, layout.DeprecationsPrefix(ref))
	if err != nil {
		return nil, fmt.Errorf("list the deprecations of %s: %w", ref, err)
	}
	var out []refresh.Deprecation
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		var d refresh.Deprecation
		if _, err := readJSON(ctx, st, o.Key, &d, 64<<10); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b refresh.Deprecation) int { return a.Major - b.Major })
	return out, nil
}
