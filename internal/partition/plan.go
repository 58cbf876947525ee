package partition

import (
	"maps"
	"slices"
)

// Why a partition is built.
const (
	ReasonNew       = "new"       // no published version holds it
	ReasonChanged   = "changed"   // an input's objects or the recipe differ from those it was built from
	ReasonLookback  = "lookback"  // it is the newest or within the lookback before it
	ReasonRequested = "requested" // the run asked for it (--partitions, backfill)
)

// Built is what the latest published version recorded of one partition: the
// fingerprint of each input it was built from, and the recipe.
type Built struct {
	Inputs map[string]string
	Recipe string
}

// PlanInput is everything a plan is made from.
type PlanInput struct {
	By    By
	Start string
	// Lookback is how many partitions before the newest every run rebuilds.
	Lookback int
	// Recipe identifies how partitions are built (the SQL, the contract, the
	// partitioning): a partition built with another recipe is rebuilt.
	Recipe string
	// Available maps each key that has input data to the fingerprint of each
	// input for it (the unpartitioned inputs' fingerprints in every key).
	Available map[string]map[string]string
	// Previous are the partitions of the latest published version.
	Previous map[string]Built
	// Requested, when set, are partitions the run must build.
	Requested *Range
}

// Plan says which partitions a refresh builds, and which it carries over by
// reference from the latest version.
type Plan struct {
	// Build lists the keys to build, oldest first, and Reasons why.
	Build   []string
	Reasons map[string]string
	// Carry lists the published keys kept as they are, oldest first.
	Carry []string
	// Skipped lists keys before Start that have input data; they are never built.
	Skipped int
}

// Count returns how many partitions are built for each reason.
func (p Plan) Count(reason string) int {
	n := 0
	for _, r := range p.Reasons {
		if r == reason {
			n++
		}
	}
	return n
}

// Make plans a refresh. A published partition whose input data is gone is
// carried over, not dropped: removing published data is gc's job.
func Make(in PlanInput) Plan {
	p := Plan{Reasons: map[string]string{}}
	var keys []string
	for k := range in.Available {
		if in.Start != "" && k < in.Start {
			p.Skipped++
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lookback := map[string]bool{}
	if n := len(keys); n > 0 {
		for i := max(0, n-1-in.Lookback); i < n; i++ {
			lookback[keys[i]] = true
		}
	}
	for _, k := range keys {
		prev, published := in.Previous[k]
		reason := ""
		switch {
		case in.Requested != nil && in.Requested.Contains(k):
			reason = ReasonRequested
		case !published:
			reason = ReasonNew
		case prev.Recipe != in.Recipe || !maps.Equal(prev.Inputs, in.Available[k]):
			reason = ReasonChanged
		case lookback[k]:
			reason = ReasonLookback
		}
		if reason != "" {
			p.Build = append(p.Build, k)
			p.Reasons[k] = reason
		}
	}
	for k := range in.Previous {
		if _, building := p.Reasons[k]; !building {
			p.Carry = append(p.Carry, k)
		}
	}
	slices.Sort(p.Carry)
	return p
}

// MaxBatch bounds the partitions of one batch, so that a lost worker costs little
// and a batch's result stays small.
const MaxBatch = 64

// DefaultMaxParallel is how many batches run at once when the spec does not say.
const DefaultMaxParallel = 4

// BatchSize returns how many partitions go in one batch when n are built with at
// most maxParallel batches in flight: enough batches to keep every slot busy twice
// over, none larger than MaxBatch.
func BatchSize(n, maxParallel int) int {
	if maxParallel <= 0 {
		maxParallel = DefaultMaxParallel
	}
	size := (n + 2*maxParallel - 1) / (2 * maxParallel)
	return min(max(size, 1), MaxBatch)
}

// Batches returns how many batches of size hold n partitions.
func Batches(n, size int) int {
	if n == 0 {
		return 0
	}
	return (n + size - 1) / size
}
