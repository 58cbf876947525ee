package partition

import (
	"fmt"
	"regexp"
	"strings"
)

// placeholders maps each grain's placeholder to its grain.
var placeholders = map[string]By{"{hour}": Hour, "{day}": Day, "{month}": Month}

// placeholderRE finds anything that looks like a placeholder, known or not.
var placeholderRE = regexp.MustCompile(`\{[a-zA-Z_]*\}`)

// Template is an input URI with a partition placeholder:
// "file://data/orders/day={day}/" or "s3://raw/orders/{day}.csv".
type Template struct {
	// By is the grain the placeholder names.
	By By
	// Prefix is the URI before the placeholder, Suffix the URI after it.
	Prefix, Suffix string
}

// ParseTemplate reads uri. ok is false when it has no placeholder; err says what
// is wrong with one that has a bad, unknown or second placeholder.
func ParseTemplate(uri string) (t Template, ok bool, err error) {
	locs := placeholderRE.FindAllStringIndex(uri, -1)
	if len(locs) == 0 {
		return t, false, nil
	}
	if len(locs) > 1 {
		return t, true, fmt.Errorf("input uri %q has %d placeholders: mark the partition key once", uri, len(locs))
	}
	ph := uri[locs[0][0]:locs[0][1]]
	by, known := placeholders[ph]
	if !known {
		return t, true, fmt.Errorf("input uri %q has the unknown placeholder %s: write {hour}, {day} or {month}", uri, ph)
	}
	t = Template{By: by, Prefix: uri[:locs[0][0]], Suffix: uri[locs[0][1]:]}
	if strings.Contains(t.Prefix, "?") || strings.Contains(t.Prefix, "*") {
		return t, true, fmt.Errorf("input uri %q has a wildcard before its placeholder: name a fixed folder", uri)
	}
	return t, true, nil
}

// ListPrefix is the longest folder before the placeholder: what to list to find
// every partition's objects. It ends with "/" unless it is the URI's root.
func (t Template) ListPrefix() string {
	i := strings.LastIndex(t.Prefix, "/")
	return t.Prefix[:i+1]
}

// Match reads the partition key of an object's URI. It matches when the URI is
// Prefix, a key of the grain, then Suffix; a Suffix that is empty or ends with
// "/" names a folder, and every object under it matches.
func (t Template) Match(uri string) (key string, ok bool) {
	rest, ok := strings.CutPrefix(uri, t.Prefix)
	if !ok {
		return "", false
	}
	n := len(t.By.Example())
	if t.Suffix == "" || strings.HasPrefix(t.Suffix, "/") {
		// The key is a whole path segment (day={day}/ or {day}/orders.csv).
		n = strings.IndexByte(rest, '/')
		if n < 0 {
			n = len(rest)
		}
	}
	if len(rest) < n {
		return "", false
	}
	key, after := rest[:n], rest[n:]
	if !t.By.Canonical(key) {
		return "", false
	}
	suffix := t.Suffix
	if suffix == "" {
		suffix = "/"
	}
	if strings.HasSuffix(suffix, "/") {
		return key, strings.HasPrefix(after, suffix) && len(after) > len(suffix)
	}
	return key, after == suffix
}

// URI returns the template with key in place of the placeholder.
func (t Template) URI(key string) string { return t.Prefix + key + t.Suffix }
