package contractdiff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
)

// Severity says how a change affects the consumers of a data product.
type Severity string

// The severities of a change, from the most to the least serious.
const (
	// Breaking changes may break consumers or reject data that met the old
	// contract; they need sign-off before publication.
	Breaking Severity = "breaking"
	// NonBreaking changes alter what the contract promises without breaking
	// anyone, such as an added optional column or a loosened rule.
	NonBreaking Severity = "non-breaking"
	// Info changes touch documentation only, such as a description or a tag.
	Info Severity = "info"
)

// Severities lists the severities from the most to the least serious.
var Severities = []Severity{Breaking, NonBreaking, Info}

// Change is one difference between two contracts.
type Change struct {
	Severity Severity `json:"severity"`
	// Kind is a stable code for the change, such as "column-removed",
	// "type-changed" or "quality-tightened".
	Kind string `json:"kind"`
	// Path locates what changed, such as "schema.orders.properties.amount" or
	// "schema.orders.quality.row_count".
	Path string `json:"path"`
	// Message says what changed in a plain sentence.
	Message string `json:"message"`
	// Old and New are the values before and after, when there are such values.
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
}

// Counts is the number of changes of each severity.
type Counts struct {
	Breaking    int `json:"breaking"`
	NonBreaking int `json:"nonBreaking"`
	Info        int `json:"info"`
}

// Result is every change between two contracts.
type Result struct {
	Changes []Change `json:"changes"`
	// Breaking reports whether at least one change is breaking.
	Breaking bool   `json:"breaking"`
	Counts   Counts `json:"counts"`
}

// Count returns the number of changes of the given severity.
func (r Result) Count(s Severity) int {
	switch s {
	case Breaking:
		return r.Counts.Breaking
	case NonBreaking:
		return r.Counts.NonBreaking
	case Info:
		return r.Counts.Info
	}
	return 0
}

// Compare lists every change from old to new, sorted by path, then kind, then
// message. A nil contract counts as an empty one, so comparing nil with a contract
// lists its every table as added.
func Compare(old, new *contract.Contract) Result {
	if old == nil {
		old = &contract.Contract{}
	}
	if new == nil {
		new = &contract.Contract{}
	}
	d := &differ{}
	d.contract(old, new)
	slices.SortStableFunc(d.changes, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Message, b.Message))
	})
	r := Result{Changes: d.changes}
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	for _, c := range r.Changes {
		switch c.Severity {
		case Breaking:
			r.Counts.Breaking++
		case NonBreaking:
			r.Counts.NonBreaking++
		case Info:
			r.Counts.Info++
		}
	}
	r.Breaking = r.Counts.Breaking > 0
	return r
}

type differ struct{ changes []Change }

func (d *differ) add(sev Severity, kind, path string, old, new any, format string, args ...any) {
	d.changes = append(d.changes, Change{Severity: sev, Kind: kind, Path: path, Message: fmt.Sprintf(format, args...), Old: old, New: new})
}

// text reports a change of a documentation field: informational.
func (d *differ) text(kind, path, what, old, new string) {
	switch {
	case old == new:
	case old == "":
		d.add(Info, kind, path, nil, new, "%s added", what)
	case new == "":
		d.add(Info, kind, path, old, nil, "%s removed", what)
	default:
		d.add(Info, kind, path, old, new, "%s changed", what)
	}
}

// label reports a change of a short documentation value, such as a version, and
// names both values: informational.
func (d *differ) label(kind, path, what, old, new string) {
	if old != "" && new != "" && old != new {
		d.add(Info, kind, path, old, new, "%s changed from %s to %s", what, old, new)
		return
	}
	d.text(kind, path, what, old, new)
}

// list reports a change of a list of labels, such as tags: informational.
func (d *differ) list(kind, path, what string, old, new []string) {
	added, removed := setDiff(old, new)
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	d.add(Info, kind, path, old, new, "%s: %s", what, strings.Join(parts, "; "))
}

func (d *differ) contract(old, new *contract.Contract) {
	d.label("version-changed", "version", "contract version", old.Version, new.Version)
	d.label("status-changed", "status", "contract status", old.Status, new.Status)
	d.label("api-version-changed", "apiVersion", "ODCS version", old.APIVersion, new.APIVersion)
	d.label("name-changed", "name", "contract name", old.Name, new.Name)
	d.label("domain-changed", "domain", "domain", old.Domain, new.Domain)
	d.text("description-changed", "description.purpose", "purpose", old.Description.Purpose, new.Description.Purpose)
	d.text("description-changed", "description.usage", "usage", old.Description.Usage, new.Description.Usage)
	d.text("description-changed", "description.limitations", "limitations", old.Description.Limitations, new.Description.Limitations)
	d.list("tags-changed", "tags", "tags", old.Tags, new.Tags)
	d.sla(old.SLAProperties, new.SLAProperties)
	d.objects(old.Schema, new.Schema)
}

// sla reports changed service levels: informational. A service level is matched
// by its id when it has one, else by its property with its element and driver,
// since several entries may share a property (timeOfAvailability for two
// elements, or for two drivers).
func (d *differ) sla(old, new []contract.SLAProperty) {
	key := func(s contract.SLAProperty) string {
		if s.ID != "" {
			return s.ID
		}
		k := s.Property
		if s.Element != "" {
			k += "[" + s.Element + "]"
		}
		if s.Driver != "" {
			k += "(" + s.Driver + ")"
		}
		return k
	}
	render := func(s contract.SLAProperty) string {
		v := fmt.Sprint(s.Value)
		if s.Unit != "" {
			v += " " + s.Unit
		}
		if s.Element != "" {
			v += " (" + s.Element + ")"
		}
		return v
	}
	olds := map[string]contract.SLAProperty{}
	for _, s := range old {
		olds[key(s)] = s
	}
	news := map[string]contract.SLAProperty{}
	for _, s := range new {
		news[key(s)] = s
		path := "slaProperties." + key(s)
		o, ok := olds[key(s)]
		switch {
		case !ok:
			d.add(Info, "sla-added", path, nil, render(s), "service level %s added: %s", key(s), render(s))
		case render(o) != render(s):
			d.add(Info, "sla-changed", path, render(o), render(s), "service level %s changed from %s to %s", key(s), render(o), render(s))
		}
	}
	for _, s := range old {
		if _, ok := news[key(s)]; !ok {
			d.add(Info, "sla-removed", "slaProperties."+key(s), render(s), nil, "service level %s removed", key(s))
		}
	}
}

// setDiff returns the elements of new that are not in old, and those of old that
// are not in new, each in the order of its list.
func setDiff[T comparable](old, new []T) (added, removed []T) {
	for _, v := range new {
		if !slices.Contains(old, v) && !slices.Contains(added, v) {
			added = append(added, v)
		}
	}
	for _, v := range old {
		if !slices.Contains(new, v) && !slices.Contains(removed, v) {
			removed = append(removed, v)
		}
	}
	return added, removed
}
