// Package partition holds the pure logic of time-partitioned products: partition
// keys and their ranges, the placeholders ({hour}, {day}, {month}) by which an
// input URI marks the partition key in a path, the plan of which partitions a
// refresh builds and which it carries over, and how the partitions to build are cut
// into batches. It reads no store and imports no Temporal package, so that
// workflows, activities, the CLI and validate share it.
//
// Keys are written as their UTC calendar unit: 2026-09-01T05 for an hour,
// 2026-09-01 for a day and 2026-09 for a month. They sort as strings in time order.
package partition

import (
	"fmt"
	"strings"
	"time"
)

// By is the grain of a product's partitions.
type By string

// The grains.
const (
	Hour  By = "hour"
	Day   By = "day"
	Month By = "month"
)

// Grains lists the grains, finest first.
var Grains = []By{Hour, Day, Month}

// Valid reports whether b is a known grain.
func (b By) Valid() bool { return b == Hour || b == Day || b == Month }

// layout is the Go time layout of a grain's keys.
func (b By) layout() string {
	switch b {
	case Hour:
		return "2006-01-02T15"
	case Month:
		return "2006-01"
	default:
		return "2006-01-02"
	}
}

// Example is a key of the grain, for messages.
func (b By) Example() string {
	return time.Date(2026, 9, 1, 5, 0, 0, 0, time.UTC).Format(b.layout())
}

// Parse reads a key of the grain. It also takes a day or a timestamp for a
// coarser grain's key when the value is exactly the start of that unit, so that a
// spec may write start: 2026-01-01 for a monthly product.
func (b By) Parse(s string) (time.Time, error) {
	if t, err := time.Parse(b.layout(), s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02", "2006-01-02T15", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(l, s); err == nil && b.Truncate(t).Equal(t) {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a %s partition key: write it like %s", s, b, b.Example())
}

// Key returns the key of the partition that holds t.
func (b By) Key(t time.Time) string { return b.Truncate(t).Format(b.layout()) }

// Truncate returns the start of the partition that holds t, in UTC.
func (b By) Truncate(t time.Time) time.Time {
	t = t.UTC()
	switch b {
	case Hour:
		return t.Truncate(time.Hour)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
}

// Next returns the start of the partition after the one that starts at t.
func (b By) Next(t time.Time) time.Time {
	switch b {
	case Hour:
		return t.Add(time.Hour)
	case Month:
		return t.AddDate(0, 1, 0)
	default:
		return t.AddDate(0, 0, 1)
	}
}

// Bounds returns the half-open interval [from, to) of the partition key.
func (b By) Bounds(key string) (from, to time.Time, err error) {
	from, err = b.Parse(key)
	if err != nil {
		return from, to, err
	}
	return from, b.Next(from), nil
}

// Range is an inclusive range of keys, as `--partitions 2026-09-01..2026-09-07`
// writes it.
type Range struct {
	From, To string
}

// ParseRange reads "FROM..TO" or a single key. Both ends are normalised to keys
// of the grain.
func (b By) ParseRange(s string) (Range, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "..")
	if !ok {
		to = from
	}
	f, err := b.Parse(strings.TrimSpace(from))
	if err != nil {
		return Range{}, err
	}
	t, err := b.Parse(strings.TrimSpace(to))
	if err != nil {
		return Range{}, err
	}
	if t.Before(f) {
		return Range{}, fmt.Errorf("partition range %q ends before it starts: write FROM..TO with FROM first", s)
	}
	return Range{From: b.Key(f), To: b.Key(t)}, nil
}

// Contains reports whether key lies in the range; keys of one grain compare as
// strings.
func (r Range) Contains(key string) bool { return key >= r.From && key <= r.To }

// String writes the range as ParseRange reads it.
func (r Range) String() string {
	if r.From == r.To {
		return r.From
	}
	return r.From + ".." + r.To
}

// Keys lists every key of the range, oldest first; at most limit of them (0: no
// limit), with an error past it.
func (b By) Keys(r Range, limit int) ([]string, error) {
	f, err := b.Parse(r.From)
	if err != nil {
		return nil, err
	}
	var out []string
	for t := f; b.Key(t) <= r.To; t = b.Next(t) {
		if limit > 0 && len(out) == limit {
			return nil, fmt.Errorf("partition range %s has more than %d partitions", r, limit)
		}
		out = append(out, b.Key(t))
	}
	return out, nil
}

// Folder is the path segment of a partition's objects: "day=2026-09-01", the
// Hive-style name every engine recognises.
func (b By) Folder(key string) string { return string(b) + "=" + key }

// Canonical reports whether s is a key of the grain exactly as Key writes it.
func (b By) Canonical(s string) bool {
	t, err := time.Parse(b.layout(), s)
	return err == nil && t.Format(b.layout()) == s
}
