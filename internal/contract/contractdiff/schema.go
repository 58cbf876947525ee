package contractdiff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
)

func (d *differ) objects(old, new []*contract.Object) {
	name := func(o *contract.Object) string { return cmp.Or(o.Name, o.ID) }
	for _, o := range old {
		path := "schema." + name(o)
		i := slices.IndexFunc(new, func(n *contract.Object) bool { return name(n) == name(o) })
		if i < 0 {
			d.add(Breaking, "object-removed", path, name(o), nil, "table %s removed", name(o))
			continue
		}
		d.object(o, new[i], path)
	}
	for _, n := range new {
		if !slices.ContainsFunc(old, func(o *contract.Object) bool { return name(o) == name(n) }) {
			d.add(NonBreaking, "object-added", "schema."+name(n), nil, name(n), "table %s added", name(n))
		}
	}
}

func (d *differ) object(o, n *contract.Object, path string) {
	d.physicalName(path, cmp.Or(o.PhysicalName, o.Name), cmp.Or(n.PhysicalName, n.Name))
	d.typ(path, "logical type", o.LogicalType, n.LogicalType)
	d.typ(path, "physical type", o.PhysicalType, n.PhysicalType)
	d.text("business-name-changed", path, "business name", o.BusinessName, n.BusinessName)
	d.text("description-changed", path, "description", o.Description, n.Description)
	d.text("description-changed", path, "granularity description", o.DataGranularityDescription, n.DataGranularityDescription)
	d.list("tags-changed", path, "tags", o.Tags, n.Tags)
	d.relationships(path, o.Relationships, n.Relationships)
	d.properties(o.Properties, n.Properties, path+".properties")
	d.qualities(o.Quality, n.Quality, path+".quality", cmp.Or(o.Name, o.ID), cmp.Or(n.Name, n.ID))
}

func (d *differ) properties(old, new []*contract.Property, base string) {
	name := func(p *contract.Property) string { return cmp.Or(p.Name, p.ID) }
	for _, o := range old {
		path := base + "." + name(o)
		i := slices.IndexFunc(new, func(n *contract.Property) bool { return name(n) == name(o) })
		if i < 0 {
			d.add(Breaking, "column-removed", path, name(o), nil, "column %s removed", name(o))
			continue
		}
		d.property(o, new[i], path)
	}
	for _, n := range new {
		if slices.ContainsFunc(old, func(o *contract.Property) bool { return name(o) == name(n) }) {
			continue
		}
		path := base + "." + name(n)
		if n.Required || n.PrimaryKey {
			d.add(Breaking, "required-column-added", path, nil, name(n),
				"required column %s added: data written under the old contract has no value for it", name(n))
		} else {
			d.add(NonBreaking, "column-added", path, nil, name(n), "optional column %s added", name(n))
		}
	}
}

func (d *differ) property(o, n *contract.Property, path string) {
	d.physicalName(path, cmp.Or(o.PhysicalName, o.Name), cmp.Or(n.PhysicalName, n.Name))
	d.typ(path, "logical type", o.LogicalType, n.LogicalType)
	d.typ(path, "physical type", o.PhysicalType, n.PhysicalType)
	d.flag(path, "required", o.Required, n.Required,
		"column is now required: rows with no value, valid before, are rejected", "column is no longer required: it may now be null")
	d.flag(path, "unique", o.Unique, n.Unique,
		"column is now unique: repeated values, valid before, are rejected", "column is no longer unique: values may now repeat")
	d.flag(path, "primary-key", o.PrimaryKey, n.PrimaryKey,
		"column is now part of the primary key: it must be present and unique", "column is no longer part of the primary key")
	if o.PrimaryKey && n.PrimaryKey && o.PrimaryKeyPosition != n.PrimaryKeyPosition {
		d.add(Info, "primary-key-position-changed", path, o.PrimaryKeyPosition, n.PrimaryKeyPosition,
			"position in the primary key changed from %d to %d", o.PrimaryKeyPosition, n.PrimaryKeyPosition)
	}
	if o.Partitioned != n.Partitioned || (n.Partitioned && o.PartitionKeyPosition != n.PartitionKeyPosition) {
		d.add(Info, "partitioning-changed", path, partitioning(o), partitioning(n),
			"partitioning changed from %s to %s", partitioning(o), partitioning(n))
	}
	d.classification(path, o.Classification, n.Classification)
	d.options(path+".logicalTypeOptions", o.LogicalTypeOptions, n.LogicalTypeOptions)
	d.text("business-name-changed", path, "business name", o.BusinessName, n.BusinessName)
	d.text("description-changed", path, "description", o.Description, n.Description)
	d.label("glossary-term-changed", path, "glossary term", o.GlossaryTerm, n.GlossaryTerm)
	d.list("tags-changed", path, "tags", o.Tags, n.Tags)
	if o.CriticalDataElement != n.CriticalDataElement {
		d.add(Info, "critical-data-element-changed", path, o.CriticalDataElement, n.CriticalDataElement,
			"critical data element changed from %t to %t", o.CriticalDataElement, n.CriticalDataElement)
	}
	if key(o.Examples) != key(n.Examples) {
		d.add(Info, "examples-changed", path, nil, nil, "examples changed")
	}
	d.text("encrypted-name-changed", path, "encrypted name", o.EncryptedName, n.EncryptedName)
	if o.TransformLogic != n.TransformLogic || o.TransformDescription != n.TransformDescription ||
		!slices.Equal(o.TransformSourceObjects, n.TransformSourceObjects) {
		d.add(Info, "transform-changed", path, nil, nil, "transformation (logic, description or source objects) changed")
	}
	d.relationships(path, o.Relationships, n.Relationships)
	d.properties(o.Properties, n.Properties, path+".properties")
	switch {
	case o.Items != nil && n.Items != nil:
		d.property(o.Items, n.Items, path+".items")
	case o.Items != nil:
		d.add(Breaking, "items-removed", path+".items", nil, nil, "array items are no longer described; review what the elements hold")
	case n.Items != nil:
		d.add(Info, "items-added", path+".items", nil, nil, "array items are now described")
	}
	d.qualities(o.Quality, n.Quality, path+".quality", cmp.Or(o.Name, o.ID), cmp.Or(n.Name, n.ID))
}

func partitioning(p *contract.Property) string {
	switch {
	case !p.Partitioned:
		return "none"
	case p.PartitionKeyPosition > 0:
		return fmt.Sprintf("partition key %d", p.PartitionKeyPosition)
	}
	return "partitioned"
}

// physicalName reports a changed physical name, the name consumers query.
func (d *differ) physicalName(path, old, new string) {
	if old != new {
		d.add(Breaking, "physical-name-changed", path, old, new,
			"physical name changed from %s to %s: queries that name %s fail", old, new, old)
	}
}

// typ reports a changed logical or physical type. Declaring a type where there was
// none is informational, as in datacontract-cli; no longer declaring one is
// breaking, since consumers lose what they relied on.
func (d *differ) typ(path, what, old, new string) {
	switch {
	case strings.EqualFold(strings.TrimSpace(old), strings.TrimSpace(new)):
	case old == "":
		d.add(Info, "type-added", path, nil, new, "%s declared as %s", what, new)
	case new == "":
		d.add(Breaking, "type-removed", path, old, nil, "%s %s is no longer declared; review what the column holds", what, old)
	default:
		d.add(Breaking, "type-changed", path, old, new, "%s changed from %s to %s", what, old, new)
	}
}

// flag reports a boolean constraint set (breaking) or cleared (non-breaking).
func (d *differ) flag(path, kind string, old, new bool, setMsg, clearMsg string) {
	switch {
	case !old && new:
		d.add(Breaking, kind+"-added", path, old, new, "%s", setMsg)
	case old && !new:
		d.add(NonBreaking, kind+"-removed", path, old, new, "%s", clearMsg)
	}
}

func (d *differ) relationships(path string, old, new []contract.Relationship) {
	if key(old) != key(new) {
		d.add(Info, "relationships-changed", path, nil, nil, "relationships (foreign keys) changed")
	}
}

// classificationLevels orders the usual classification labels from the least to
// the most restrictive.
var classificationLevels = map[string]int{
	"public": 0, "internal": 1, "restricted": 2,
	"confidential": 3, "sensitive": 3, "pii": 3, "secret": 4,
}

// classification reports a changed classification: lowered or removed is
// breaking (the data becomes more widely readable and needs sign-off), raised or
// added is non-breaking, and a change between labels outside the known scale is
// breaking for review.
func (d *differ) classification(path, old, new string) {
	o, n := strings.ToLower(strings.TrimSpace(old)), strings.ToLower(strings.TrimSpace(new))
	lo, okO := classificationLevels[o]
	ln, okN := classificationLevels[n]
	switch {
	case o == n:
	case o == "":
		d.add(NonBreaking, "classification-added", path, nil, new, "classification %s added", new)
	case n == "":
		d.add(Breaking, "classification-removed", path, old, nil,
			"classification %s removed: the data is no longer protected as %s", old, old)
	case okO && okN && ln < lo:
		d.add(Breaking, "classification-lowered", path, old, new,
			"classification lowered from %s to %s: the data becomes more widely readable", old, new)
	case okO && okN && ln > lo:
		d.add(NonBreaking, "classification-raised", path, old, new,
			"classification raised from %s to %s: readers may need new access", old, new)
	default:
		d.add(Breaking, "classification-changed", path, old, new,
			"classification changed from %s to %s; review whether it is less restrictive", old, new)
	}
}

// lowerBounds and upperBounds are the logicalTypeOptions that bound values from
// below and from above.
var (
	lowerBounds = []string{"minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"}
	upperBounds = []string{"maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"}
)

// options compares logicalTypeOptions key by key.
func (d *differ) options(base string, old, new map[string]any) {
	keys := make([]string, 0, len(old)+len(new))
	for k := range old {
		keys = append(keys, k)
	}
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ov, inOld := old[k]
		nv, inNew := new[k]
		if inOld && inNew && key(ov) == key(nv) {
			continue
		}
		path := base + "." + k
		lower, upper := slices.Contains(lowerBounds, k), slices.Contains(upperBounds, k)
		ol, oIsList := ov.([]any)
		nl, nIsList := nv.([]any)
		switch {
		case !inOld:
			d.add(Breaking, "constraint-added", path, nil, nv, "constraint %s: %s added: values valid before may be rejected", k, show(nv))
		case !inNew:
			d.add(NonBreaking, "constraint-removed", path, ov, nil, "constraint %s: %s removed", k, show(ov))
		case lower || upper:
			a, okA := ordered(ov)
			b, okB := ordered(nv)
			switch {
			case !okA || !okB:
				d.add(Breaking, "constraint-changed", path, ov, nv, "%s changed from %s to %s; review whether it is stricter", k, show(ov), show(nv))
			case (lower && b > a) || (upper && b < a):
				d.add(Breaking, "constraint-tightened", path, ov, nv, "%s %s from %s to %s: values valid before may be rejected", k, direction(a, b), show(ov), show(nv))
			default:
				d.add(NonBreaking, "constraint-loosened", path, ov, nv, "%s %s from %s to %s", k, direction(a, b), show(ov), show(nv))
			}
		case k == "uniqueItems":
			if nv == true {
				d.add(Breaking, "constraint-tightened", path, ov, nv, "array items must now be unique")
			} else {
				d.add(NonBreaking, "constraint-loosened", path, ov, nv, "array items no longer need to be unique")
			}
		case k == "required" && oIsList && nIsList:
			// The fields an object must have: one more is stricter.
			added, removed := valueDiff(ol, nl)
			for _, v := range added {
				d.add(Breaking, "constraint-tightened", path, nil, v, "field %s is now required", show(v))
			}
			for _, v := range removed {
				d.add(NonBreaking, "constraint-loosened", path, v, nil, "field %s is no longer required", show(v))
			}
		case oIsList && nIsList:
			d.allowedValues(path, ol, nl)
		default:
			d.add(Breaking, "constraint-changed", path, ov, nv, "%s changed from %s to %s; review whether it is stricter", k, show(ov), show(nv))
		}
	}
}

// allowedValues reports values removed from (breaking) or added to (non-breaking)
// a list of the values a column may hold.
func (d *differ) allowedValues(path string, old, new []any) {
	added, removed := valueDiff(old, new)
	for _, v := range removed {
		d.add(Breaking, "enum-value-removed", path, v, nil,
			"allowed value %s removed: rows that hold it met the old contract and fail the new one", show(v))
	}
	for _, v := range added {
		d.add(NonBreaking, "enum-value-added", path, nil, v,
			"allowed value %s added: consumers that handle every value should handle it", show(v))
	}
}

func direction(a, b float64) string {
	if b > a {
		return "raised"
	}
	return "lowered"
}

// ordered returns a bound as a number: a number, or a date or timestamp written in
// ISO 8601 as seconds since 1970.
func ordered(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	case time.Time:
		return float64(x.UnixNano()) / 1e9, true
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, strings.TrimSpace(x)); err == nil {
				return float64(t.UnixNano()) / 1e9, true
			}
		}
	}
	return 0, false
}

// valueDiff is setDiff for generic values, comparing numbers by value.
func valueDiff(old, new []any) (added, removed []any) {
	has := func(list []any, v any) bool {
		return slices.ContainsFunc(list, func(x any) bool { return key(x) == key(v) })
	}
	for _, v := range new {
		if !has(old, v) && !has(added, v) {
			added = append(added, v)
		}
	}
	for _, v := range old {
		if !has(new, v) && !has(removed, v) {
			removed = append(removed, v)
		}
	}
	return added, removed
}

// key renders a generic value so that equal values, numbers of any type
// included, render the same.
func key(v any) string { return fmt.Sprintf("%#v", norm(v)) }

func norm(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	}
	return v
}

// show renders a value for a message: strings quoted, numbers as written.
func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
