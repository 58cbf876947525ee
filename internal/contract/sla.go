package contract

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FreshnessSLA returns how old a product may get under the contract's
// slaProperties: frequency (how often it is refreshed) plus latency (how long a
// refresh may take), whichever are given; 0 when neither is. Other properties
// (retention, availability…) do not bound freshness and are not read. A value
// that is not a non-negative number, or a unit that is not one of ODCS's (s, m,
// h, d, w, y and their long forms), is an error: an SLA meshflow cannot read is
// never taken as no SLA.
func (c *Contract) FreshnessSLA() (time.Duration, error) {
	var total time.Duration
	for _, p := range c.SLAProperties {
		switch strings.ToLower(p.Property) {
		case "frequency", "latency":
			d, err := SLADuration(p.Value, p.Unit)
			if err != nil {
				return 0, fmt.Errorf("slaProperties %s: %w", p.Property, err)
			}
			total += d
		}
	}
	return total, nil
}

// SLADuration converts an ODCS SLA value and unit ("d", "day", "days", "h", "m",
// "s", "w", "y" and their long forms) into a duration.
func SLADuration(v any, unit string) (time.Duration, error) {
	var n float64
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	case float64:
		n = x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("value %q is not a number", x)
		}
		n = f
	default:
		return 0, fmt.Errorf("value %v is not a number", v)
	}
	var u time.Duration
	switch strings.ToLower(unit) {
	case "s", "sec", "second", "seconds":
		u = time.Second
	case "m", "min", "minute", "minutes":
		u = time.Minute
	case "h", "hr", "hour", "hours":
		u = time.Hour
	case "d", "day", "days":
		u = 24 * time.Hour
	case "w", "week", "weeks":
		u = 7 * 24 * time.Hour
	case "y", "yr", "year", "years":
		u = 365 * 24 * time.Hour
	case "":
		return 0, fmt.Errorf("value %v has no unit: add unit: d (or s, m, h, w, y)", v)
	default:
		return 0, fmt.Errorf("unit %q is not one of s, m, h, d, w, y", unit)
	}
	if n < 0 {
		return 0, fmt.Errorf("value %v is negative", v)
	}
	return time.Duration(n * float64(u)), nil
}

// GlossaryTerms returns the glossary terms the contract's properties link to,
// at every depth (nested properties and array items), sorted and without
// repeats.
func (c *Contract) GlossaryTerms() []string {
	var terms []string
	c.WalkProperties(func(p *Property) {
		if p.GlossaryTerm != "" && !slices.Contains(terms, p.GlossaryTerm) {
			terms = append(terms, p.GlossaryTerm)
		}
	})
	slices.Sort(terms)
	return terms
}

// WalkProperties calls f for every property of every schema object, depth
// first: each property, then its nested properties, then its array items.
func (c *Contract) WalkProperties(f func(*Property)) {
	for _, o := range c.Schema {
		o.WalkProperties(f)
	}
}

// WalkProperties calls f for every property of the object, depth first: each
// property, then its nested properties, then its array items.
func (o *Object) WalkProperties(f func(*Property)) {
	var walk func(ps []*Property)
	walk = func(ps []*Property) {
		for _, p := range ps {
			f(p)
			walk(p.Properties)
			if p.Items != nil {
				walk([]*Property{p.Items})
			}
		}
	}
	walk(o.Properties)
}
