package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// MaxContractBytes bounds a published contract this package reads.
const MaxContractBytes = 4 << 20

// contracts caches parsed published contracts by checksum: a published
// contract never changes, and the same contract is published with many
// versions, so each is read and parsed once per process.
var contracts = struct {
	sync.Mutex
	byChecksum map[string]*contract.Contract
}{byChecksum: map[string]*contract.Contract{}}

// maxCachedContracts bounds the cache; past it, the cache starts again empty.
const maxCachedContracts = 1024

// Contract returns the contract published with a version, parsed; nil without
// an error when the version has none. The contract must be one of the
// product's own objects (ErrUnverified otherwise) with the checksum its
// manifest records.
func Contract(ctx context.Context, st storage.Store, m refresh.Manifest) (*contract.Contract, error) {
	if m.Contract == nil || m.Contract.Key == "" {
		return nil, nil
	}
	ref := *m.Contract
	if err := ownKey(m, ref.Key); err != nil {
		return nil, err
	}
	contracts.Lock()
	c, ok := contracts.byChecksum[ref.SHA256]
	contracts.Unlock()
	if ok && ref.SHA256 != "" {
		return c, nil
	}
	b, _, err := readAll(ctx, st, ref.Key, MaxContractBytes)
	if err != nil {
		return nil, fmt.Errorf("read the contract of %s %s: %w", m.Product, m.Version, err)
	}
	// The cache is keyed by the checksum the manifest claims: only content
	// that has it may fill it.
	if sum := sha256.Sum256(b); ref.SHA256 != "" && hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("the contract of %s %s (%s) has checksum %s, the manifest says %s: %w", m.Product, m.Version, ref.Key, hex.EncodeToString(sum[:]), ref.SHA256, storage.ErrChecksumMismatch)
	}
	var ds diag.List
	c, _ = contract.Load(ref.Key, b, &ds)
	if c == nil {
		return nil, fmt.Errorf("the contract of %s %s (%s) does not parse: %v", m.Product, m.Version, ref.Key, ds.Err())
	}
	if ref.SHA256 != "" {
		contracts.Lock()
		if len(contracts.byChecksum) >= maxCachedContracts {
			clear(contracts.byChecksum)
		}
		contracts.byChecksum[ref.SHA256] = c
		contracts.Unlock()
	}
	return c, nil
}

// Terms returns the glossary terms the columns of a published version link to,
// sorted and without repeats.
func Terms(ctx context.Context, st storage.Store, m refresh.Manifest) ([]string, error) {
	c, err := Contract(ctx, st, m)
	if err != nil || c == nil {
		return nil, err
	}
	return c.GlossaryTerms(), nil
}

// Freshness is how a published product's age compares with its contract's SLA.
type Freshness struct {
	// Age is how long ago the latest version was published.
	Age time.Duration
	// Expected is the oldest the product may get (contract.FreshnessSLA); 0 when
	// the contract sets no freshness.
	Expected time.Duration
	// Late is true when the product is older than Expected.
	Late bool
	// Err says why the contract's SLA cannot be read; Expected is then 0.
	Err error
}

// FreshnessOf compares the age at now of a version published at publishedAt
// with contract c's freshness SLA (c may be nil: no SLA).
func FreshnessOf(c *contract.Contract, publishedAt, now time.Time) Freshness {
	f := Freshness{Age: now.Sub(publishedAt)}
	if c == nil {
		return f
	}
	f.Expected, f.Err = c.FreshnessSLA()
	f.Late = f.Expected > 0 && f.Age > f.Expected
	return f
}
