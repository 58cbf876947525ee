package spec

import (
	"fmt"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/partition"
)

// MaxParallelLimit bounds partitions.maxParallel.
const MaxParallelLimit = 256

// PartitionedInput reports whether input i of p is split like p: a URI with a
// partition placeholder, or a product partitioned by the same grain. Only
// partitioned products have partitioned inputs.
func (s *Set) PartitionedInput(p *Product, in Input) bool {
	if p.Partitions == nil {
		return false
	}
	if in.Product != "" {
		up := s.Product(in.Product)
		return up != nil && up.Partitions != nil && up.Partitions.By == p.Partitions.By
	}
	_, ok, err := partition.ParseTemplate(in.URI)
	return ok && err == nil
}

// checkPartitions checks a product's partitions and the placeholders of its
// inputs.
func (s *Set) checkPartitions(p *Product, ds *diag.List) {
	doc := p.Doc
	pt := p.Partitions
	for i, in := range p.Inputs {
		t, ok, err := partition.ParseTemplate(in.URI)
		switch {
		case !ok:
		case err != nil:
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-placeholder", "mark the partition key of a path with one {hour}, {day} or {month}", "%v", err)
		case IsPostgres(in.URI):
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-placeholder", "read a PostgreSQL input whole (no placeholder), or export it into day={day} folders",
				"input %q: a PostgreSQL input cannot be split by partition key yet", in.Name)
		case pt == nil:
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-placeholder", fmt.Sprintf("add partitions: {by: %s, column: <output column>, start: %s} to the product, or remove the placeholder", t.By, t.By.Example()),
				"input %q marks a partition key, but the product is not partitioned", in.Name)
		case partition.By(pt.By).Valid() && t.By != partition.By(pt.By):
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-placeholder", fmt.Sprintf("write {%s}: the product is partitioned by %s", pt.By, pt.By),
				"input %q is split by %s, the product by %s", in.Name, t.By, pt.By)
		}
	}
	if pt == nil {
		return
	}
	by := partition.By(pt.By)
	if !by.Valid() {
		ds.Errorf(doc.PosAt("partitions", "by"), "bad-value", "write by: hour, day or month", "unknown partition grain %q", pt.By)
		return
	}
	if pt.Start != "" {
		if _, err := by.Parse(pt.Start); err != nil {
			ds.Errorf(doc.PosAt("partitions", "start"), "bad-value", "write the first partition's key, like "+by.Example(), "%v", err)
		}
	}
	if pt.Lookback < 0 {
		ds.Errorf(doc.PosAt("partitions", "lookback"), "bad-value", "write 0 or more partitions", "lookback %d is negative", pt.Lookback)
	}
	if pt.MaxParallel < 0 || pt.MaxParallel > MaxParallelLimit {
		ds.Errorf(doc.PosAt("partitions", "maxParallel"), "bad-value", fmt.Sprintf("write 1 to %d, or leave it out for %d", MaxParallelLimit, partition.DefaultMaxParallel),
			"maxParallel %d is out of range", pt.MaxParallel)
	}
	split := false
	for _, in := range p.Inputs {
		split = split || s.PartitionedInput(p, in)
	}
	if !split && len(p.Inputs) > 0 {
		ds.Errorf(doc.PosAt("partitions"), "no-partitioned-input",
			fmt.Sprintf(`mark the partition key in an input's uri ("file://data/orders/%s/") or read a product partitioned by %s`, by.Folder("{"+pt.By+"}"), pt.By),
			"the product is partitioned by %s, but none of its inputs is", pt.By)
	}
	if p.Contract == nil || len(p.Contract.Schema) == 0 || pt.Column == "" {
		return
	}
	for _, prop := range p.Contract.Schema[0].Properties {
		if prop.Name != pt.Column {
			continue
		}
		lt := strings.ToLower(prop.LogicalType)
		if lt != "date" && lt != "timestamp" {
			ds.Errorf(doc.PosAt("partitions", "column"), "bad-partition-column", "partition by a column of logicalType date or timestamp",
				"column %q has logicalType %q", pt.Column, prop.LogicalType)
		} else if lt == "date" && by == partition.Hour {
			ds.Errorf(doc.PosAt("partitions", "column"), "bad-partition-column", "partition hourly by a timestamp column, or write by: day",
				"column %q is a date and has no hour", pt.Column)
		}
		return
	}
	ds.Errorf(doc.PosAt("partitions", "column"), "bad-partition-column", "name a column of the output contract", "the contract has no column %q", pt.Column)
}
