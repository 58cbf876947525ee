package contractdiff

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
)

// qualities compares two lists of quality rules, matched by id or by the id the
// rules engine derives (<owner>_<n>).
func (d *differ) qualities(old, new []*contract.Quality, base, oldOwner, newOwner string) {
	ids := func(list []*contract.Quality, owner string) []string {
		out := make([]string, len(list))
		for i, q := range list {
			out[i] = cmp.Or(q.ID, fmt.Sprintf("%s_%d", owner, i+1))
		}
		return out
	}
	oldIDs, newIDs := ids(old, oldOwner), ids(new, newOwner)
	for i, o := range old {
		if slices.Index(oldIDs, oldIDs[i]) != i {
			continue // a duplicate id, which validation reports
		}
		path := base + "." + oldIDs[i]
		j := slices.Index(newIDs, oldIDs[i])
		if j < 0 {
			d.add(NonBreaking, "quality-removed", path, describe(o), nil, "quality rule %s (%s) removed", oldIDs[i], describe(o))
			continue
		}
		d.quality(o, new[j], path, oldIDs[i])
	}
	for j, n := range new {
		if slices.Index(newIDs, newIDs[j]) != j || slices.Contains(oldIDs, newIDs[j]) {
			continue
		}
		path := base + "." + newIDs[j]
		if blocks(n) {
			d.add(Breaking, "quality-added", path, nil, describe(n),
				"quality rule %s (%s) added with severity error: data that passed before may now block publication", newIDs[j], describe(n))
		} else {
			d.add(NonBreaking, "quality-added", path, nil, describe(n),
				"quality rule %s (%s) added with severity %s", newIDs[j], describe(n), n.Severity)
		}
	}
}

// blocks reports whether a failing rule blocks publication, as the rules engine
// decides: every severity but warning and info does.
func blocks(q *contract.Quality) bool {
	switch strings.ToLower(q.Severity) {
	case "warning", "warn", "info":
		return false
	}
	return true
}

// qualityType is the rule's type, library by default.
func qualityType(q *contract.Quality) string {
	return strings.ToLower(cmp.Or(q.Type, "library"))
}

// describe names what a rule checks, such as "nullValues" or "CEL rule".
func describe(q *contract.Quality) string {
	switch t := qualityType(q); t {
	case "library":
		return cmp.Or(q.Metric, "library rule")
	case "custom":
		if strings.EqualFold(q.Engine, "cel") {
			return "CEL rule"
		}
		return cmp.Or(q.Engine, "custom") + " rule"
	case "sql":
		return "SQL rule"
	default:
		return t + " rule"
	}
}

func (d *differ) quality(o, n *contract.Quality, path, id string) {
	switch ob, nb := blocks(o), blocks(n); {
	case !ob && nb:
		d.add(Breaking, "quality-tightened", path, cmp.Or(o.Severity, "error"), cmp.Or(n.Severity, "error"),
			"quality rule %s: severity raised from %s to %s: failures now block publication", id, o.Severity, cmp.Or(n.Severity, "error"))
	case ob && !nb:
		d.add(NonBreaking, "quality-loosened", path, cmp.Or(o.Severity, "error"), n.Severity,
			"quality rule %s: severity lowered from %s to %s: failures no longer block publication", id, cmp.Or(o.Severity, "error"), n.Severity)
	}
	d.label("quality-metadata-changed", path, "quality rule "+id+": name", o.Name, n.Name)
	d.text("quality-metadata-changed", path, "quality rule "+id+": description", o.Description, n.Description)
	d.label("quality-metadata-changed", path, "quality rule "+id+": dimension", o.Dimension, n.Dimension)
	d.text("quality-metadata-changed", path, "quality rule "+id+": business impact", o.BusinessImpact, n.BusinessImpact)
	d.list("quality-metadata-changed", path, "quality rule "+id+": tags", o.Tags, n.Tags)

	if describe(o) != describe(n) || qualityType(o) != qualityType(n) {
		d.add(Breaking, "quality-changed", path, describe(o), describe(n),
			"quality rule %s now checks %s instead of %s; review whether it is stricter", id, describe(n), describe(o))
		return
	}
	if strings.TrimSpace(o.Implementation) != strings.TrimSpace(n.Implementation) ||
		key(o.Raw["implementation"]) != key(n.Raw["implementation"]) {
		d.add(Breaking, "quality-changed", path, o.Implementation, n.Implementation,
			"quality rule %s: implementation changed from %s to %s; meshflow cannot tell whether it is stricter: review it",
			id, show(strings.TrimSpace(o.Implementation)), show(strings.TrimSpace(n.Implementation)))
	}
	if strings.TrimSpace(o.Query) != strings.TrimSpace(n.Query) {
		d.add(Breaking, "quality-changed", path, o.Query, n.Query,
			"quality rule %s: query changed; meshflow cannot tell whether it is stricter: review it", id)
	}
	d.arguments(path, id, o, n)
	if !strings.EqualFold(o.Unit, n.Unit) {
		d.add(Breaking, "quality-changed", path, o.Unit, n.Unit,
			"quality rule %s: unit changed from %s to %s; review the threshold", id, cmp.Or(o.Unit, "rows"), cmp.Or(n.Unit, "rows"))
		return
	}
	d.threshold(path, id, o, n)
}

// arguments compares the arguments of a library metric.
func (d *differ) arguments(path, id string, o, n *contract.Quality) {
	d.allowedValues(path+".arguments.validValues", o.ValidValues, n.ValidValues)
	om, _ := o.Arguments["missingValues"].([]any)
	nm, _ := n.Arguments["missingValues"].([]any)
	added, removed := valueDiff(om, nm)
	for _, v := range added {
		d.add(Breaking, "quality-tightened", path+".arguments.missingValues", nil, v,
			"quality rule %s: value %s now counts as missing", id, show(v))
	}
	for _, v := range removed {
		d.add(NonBreaking, "quality-loosened", path+".arguments.missingValues", v, nil,
			"quality rule %s: value %s no longer counts as missing", id, show(v))
	}
	keys := make([]string, 0, len(o.Arguments)+len(n.Arguments))
	for k := range o.Arguments {
		keys = append(keys, k)
	}
	for k := range n.Arguments {
		if _, ok := o.Arguments[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "validValues" || k == "missingValues" {
			continue
		}
		ov, inOld := o.Arguments[k]
		nv, inNew := n.Arguments[k]
		if inOld && inNew && key(ov) == key(nv) {
			continue
		}
		p := path + ".arguments." + k
		switch {
		case k == "pattern" && !inOld:
			d.add(Breaking, "quality-tightened", p, nil, nv, "quality rule %s: values must now match %s", id, show(nv))
		case k == "pattern" && !inNew:
			d.add(NonBreaking, "quality-loosened", p, ov, nil, "quality rule %s: values no longer need to match %s", id, show(ov))
		default:
			d.add(Breaking, "quality-changed", p, ov, nv,
				"quality rule %s: argument %s changed from %s to %s; review whether it is stricter", id, k, showOpt(ov, inOld), showOpt(nv, inNew))
		}
	}
}

func showOpt(v any, ok bool) string {
	if !ok {
		return "nothing"
	}
	return show(v)
}

// operators are the ODCS comparison operators of a quality rule.
var operators = []string{"mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo",
	"mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween"}

// opText renders a rule's operators as written, such as "mustBeLessThan 5".
func opText(q *contract.Quality) string {
	var parts []string
	for _, op := range operators {
		if v, ok := q.Raw[op]; ok {
			parts = append(parts, op+" "+fmt.Sprint(v))
		}
	}
	if len(parts) == 0 {
		return "no operator"
	}
	return strings.Join(parts, ", ")
}

// threshold compares the operators of two rules as sets of allowed values.
func (d *differ) threshold(path, id string, o, n *contract.Quality) {
	ot, nt := opText(o), opText(n)
	if ot == nt {
		return
	}
	a, okA := allowed(o)
	b, okB := allowed(n)
	// sub: every value the new rule allows, the old one allowed; sup: the reverse.
	// For mustNotBe… operators the allowed values lie outside the interval, so
	// inclusion runs the other way.
	var sub, sup bool
	switch {
	case !okA || !okB || a.negated != b.negated:
	case a.negated:
		sub, sup = a.within(b), b.within(a)
	default:
		sub, sup = b.within(a), a.within(b)
	}
	switch {
	case sub && sup: // the same set, written differently
	case sub:
		d.add(Breaking, "quality-tightened", path, ot, nt,
			"quality rule %s: threshold tightened from %s to %s: data that passed before may now fail", id, ot, nt)
	case sup:
		d.add(NonBreaking, "quality-loosened", path, ot, nt, "quality rule %s: threshold loosened from %s to %s", id, ot, nt)
	default:
		d.add(Breaking, "quality-changed", path, ot, nt,
			"quality rule %s: threshold changed from %s to %s; review whether it is stricter", id, ot, nt)
	}
}

// interval is a range of numbers, or with negated every number outside it.
type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
	negated        bool
}

// within reports whether every number of i is in j (ignoring negation).
func (i interval) within(j interval) bool {
	loOK := j.lo < i.lo || (j.lo == i.lo && (!j.loOpen || i.loOpen))
	hiOK := j.hi > i.hi || (j.hi == i.hi && (!j.hiOpen || i.hiOpen))
	return loOK && hiOK
}

// countMetrics count rows, so their thresholds are whole numbers unless the unit
// is percent.
var countMetrics = []string{"rowCount", "nullValues", "missingValues", "invalidValues", "duplicateValues"}

// allowed returns the values a rule's metric may take. A per-row metric with no
// operator allows no bad rows, as the rules engine reads it.
func allowed(q *contract.Quality) (interval, bool) {
	inf := math.Inf(1)
	var r interval
	switch {
	case q.MustBe != nil:
		r = interval{lo: *q.MustBe, hi: *q.MustBe}
	case q.MustNotBe != nil:
		r = interval{lo: *q.MustNotBe, hi: *q.MustNotBe, negated: true}
	case q.MustBeGreaterThan != nil:
		r = interval{lo: *q.MustBeGreaterThan, hi: inf, loOpen: true}
	case q.MustBeGreaterOrEqualTo != nil:
		r = interval{lo: *q.MustBeGreaterOrEqualTo, hi: inf}
	case q.MustBeLessThan != nil:
		r = interval{lo: -inf, hi: *q.MustBeLessThan, hiOpen: true}
	case q.MustBeLessOrEqualTo != nil:
		r = interval{lo: -inf, hi: *q.MustBeLessOrEqualTo}
	case len(q.MustBeBetween) == 2:
		r = interval{lo: q.MustBeBetween[0], hi: q.MustBeBetween[1]}
	case len(q.MustNotBeBetween) == 2:
		r = interval{lo: q.MustNotBeBetween[0], hi: q.MustNotBeBetween[1], negated: true}
	case opText(q) != "no operator":
		return interval{}, false // an operator with a value that is not a number
	case q.Metric != "rowCount" && slices.Contains(countMetrics, q.Metric):
		r = interval{lo: 0, hi: 0}
	default:
		r = interval{lo: -inf, hi: inf}
	}
	if slices.Contains(countMetrics, q.Metric) && !strings.EqualFold(q.Unit, "percent") {
		// Whole numbers: "> 4" is ">= 5" and "< 5" is "<= 4".
		if r.loOpen {
			r.lo, r.loOpen = math.Floor(r.lo)+1, false
		} else {
			r.lo = math.Ceil(r.lo)
		}
		if r.hiOpen {
			r.hi, r.hiOpen = math.Ceil(r.hi)-1, false
		} else {
			r.hi = math.Floor(r.hi)
		}
	}
	return r, true
}
