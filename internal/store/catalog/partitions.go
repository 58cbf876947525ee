package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// ReadObjectJSON reads the JSON object ref names and checks it against the
// checksum ref recorded, so that what a manifest or plan names is what is read.
func ReadObjectJSON(ctx context.Context, st storage.Store, ref refresh.ObjectRef, v any) error {
	b, _, err := readAll(ctx, st, ref.Key, -1)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); ref.SHA256 != "" && hex.EncodeToString(sum[:]) != ref.SHA256 {
		return fmt.Errorf("%s has checksum %s, want %s: %w", ref.Key, hex.EncodeToString(sum[:]), ref.SHA256, storage.ErrChecksumMismatch)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", ref.Key, err)
	}
	return nil
}

// Partitions returns the partition index of a partitioned version, checked
// against the checksum its manifest recorded; nil for a version that is not
// partitioned.
func Partitions(ctx context.Context, st storage.Store, m refresh.Manifest) (*refresh.PartitionIndex, error) {
	if m.Partitions == nil {
		return nil, nil
	}
	if err := ownKey(m, m.Partitions.Index.Key); err != nil {
		return nil, err
	}
	var idx refresh.PartitionIndex
	if err := ReadObjectJSON(ctx, st, m.Partitions.Index, &idx); err != nil {
		return nil, fmt.Errorf("%s %s: read the partition index: %w", m.Product, m.Version, err)
	}
	return &idx, nil
}

// ownKey refuses (ErrUnverified) an object key that a manifest of a product
// names outside that product's published versions and partition objects,
// such as another product's data: a product's manifest may only lead to its own objects, or
// an open product could serve a restricted one's rows.
func ownKey(m refresh.Manifest, key string) error {
	version, _, inVersion := strings.Cut(strings.TrimPrefix(key, layout.VersionsPrefix(m.Product)), "/")
	inVersion = inVersion && strings.HasPrefix(key, layout.VersionsPrefix(m.Product)) && layout.ValidVersion(version)
	if !inVersion && !strings.HasPrefix(key, layout.PartitionsPrefix(m.Product)) {
		return fmt.Errorf("%s %s: %w: the manifest names %s, outside the product's versions", m.Product, m.Version, ErrUnverified, key)
	}
	return nil
}

// DataObjects returns the objects that hold a version's rows: its data object,
// or each partition's.
func DataObjects(ctx context.Context, st storage.Store, m refresh.Manifest) ([]refresh.ObjectRef, error) {
	idx, err := Partitions(ctx, st, m)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		if err := ownKey(m, m.Data.Key); err != nil {
			return nil, err
		}
		return []refresh.ObjectRef{m.Data}, nil
	}
	out := make([]refresh.ObjectRef, 0, len(idx.Partitions))
	for _, p := range idx.Partitions {
		if err := ownKey(m, p.Data.Key); err != nil {
			return nil, err
		}
		out = append(out, p.Data)
	}
	return out, nil
}

// ReadSQL returns a DuckDB query that reads exactly the version whose data
// objects are objs, in the store st: one Parquet file, or each partition's.
func ReadSQL(st storage.Store, objs []refresh.ObjectRef) string {
	quoted := make([]string, len(objs))
	for i, o := range objs {
		quoted[i] = "'" + strings.ReplaceAll(st.URI(o.Key), "'", "''") + "'"
	}
	if len(quoted) == 1 {
		return "SELECT * FROM read_parquet(" + quoted[0] + ");"
	}
	return "SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "]);"
}
