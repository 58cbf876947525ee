package odps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// ErrNotPublished is the error of Read for a product without a published
// version.
var ErrNotPublished = errors.New("has no published version")

// Source is what a product's document is built from: what the published store
// holds about its latest version.
type Source struct {
	// Manifest is the latest version's manifest.
	Manifest refresh.Manifest
	// Versions are the committed versions, oldest first.
	Versions []string
	// FirstPublishedAt is when the first committed version was published; zero
	// when unknown.
	FirstPublishedAt time.Time
	// Contract is the contract published with the latest version; nil when it
	// has none.
	Contract *contract.Contract
	// Upstreams are the products the latest version read, by input name.
	Upstreams map[string]Upstream
	// StoreScheme is the scheme of the store the product is published to:
	// "s3" or "file".
	StoreScheme string
	// DataURI is where the latest version's data object is, such as
	// "s3://mesh-products/…/data.parquet"; "" leaves it out of the document
	// (for readers who may not see store locations).
	DataURI string
}

// Upstream is a product that an input read, with the contract that product
// published with the version read.
type Upstream struct {
	// Product is the upstream product, "<domain>/<name>".
	Product string
	// Version is the upstream version that was read.
	Version string
	// ContractID and ContractVersion are that version's contract's id and
	// version; both "" when it was published without a contract.
	ContractID, ContractVersion string
}

// Read gathers a product's Source from the published store. A product that was
// never published gives an error that wraps ErrNotPublished.
func Read(ctx context.Context, st storage.Store, ref string) (Source, error) {
	var src Source
	_, found, err := catalog.ReadLatest(ctx, st, ref)
	if err != nil {
		return src, err
	}
	if !found {
		return src, fmt.Errorf("%s %w", ref, ErrNotPublished)
	}
	e, err := catalog.Show(ctx, st, ref)
	if err != nil {
		return src, err
	}
	m := e.Latest
	src.Manifest, src.Versions = m, e.Versions
	if src.Contract, err = catalog.Contract(ctx, st, m); err != nil {
		return src, err
	}
	src.FirstPublishedAt = m.PublishedAt
	if len(e.Versions) > 0 && e.Versions[0] != m.Version {
		first, err := catalog.ReadManifest(ctx, st, ref, e.Versions[0])
		if err != nil {
			return src, err
		}
		src.FirstPublishedAt = first.PublishedAt
	}
	for _, in := range m.Inputs {
		up := in.UpstreamProduct()
		if up == "" || in.SourceVersion == "" {
			continue
		}
		u := Upstream{Product: up, Version: in.SourceVersion}
		um, err := catalog.ReadManifest(ctx, st, up, in.SourceVersion)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// The upstream version is gone from the store: the port names the
			// product and version only.
		case err != nil:
			return src, fmt.Errorf("%s: input %s: %w", ref, in.Name, err)
		default:
			uc, err := catalog.Contract(ctx, st, um)
			if err != nil {
				return src, fmt.Errorf("%s: input %s: %w", ref, in.Name, err)
			}
			if uc != nil {
				u.ContractID, u.ContractVersion = uc.ID, uc.Version
			}
			if u.ContractVersion == "" {
				u.ContractVersion = um.ContractVersion
			}
		}
		if src.Upstreams == nil {
			src.Upstreams = map[string]Upstream{}
		}
		src.Upstreams[in.Name] = u
	}
	src.StoreScheme, _, _ = strings.Cut(st.URI(""), "://")
	if m.Data.Key != "" {
		src.DataURI = st.URI(m.Data.Key)
	} else if m.Partitions != nil {
		src.DataURI = st.URI(m.Partitions.Index.Key) // the listing of every partition's objects
	}
	return src, nil
}
