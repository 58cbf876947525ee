package refresh

import (
	"slices"
	"strconv"
	"strings"
)

// GroupStewards names the approval group of the product's own stewards.
const GroupStewards = "stewards"

// Route decides who must sign off a new version, as approval groups:
//
//   - a breaking change needs the product's stewards and a representative (a
//     steward) of every product that consumes it, one group per consumer;
//   - approval "always" needs the stewards;
//   - approval "on-breaking-change" needs the stewards when the run is not green
//     (a warning rule warned or a warning policy does not hold);
//   - otherwise the version is approved automatically ("never", and a green,
//     non-breaking run of "on-breaking-change").
func Route(p Product, downstream map[string]Product, hasPrevious, breaking, green bool) []ApprovalGroup {
	return RouteWith(p, downstream, RouteInput{HasPrevious: hasPrevious, Breaking: breaking, Green: green})
}

// RouteInput is what Route decides on.
type RouteInput struct {
	// HasPrevious is set when the product has a published version.
	HasPrevious bool
	// Breaking is set when the candidate contract breaks the published one.
	Breaking bool
	// Green is set when the run has nothing to look at (Green).
	Green bool
	// Major is the major version the candidate is published as (NextMajor);
	// consumers pinned to an older major are not asked to sign off a
	// breaking change, since they keep reading theirs. Zero asks every
	// consumer (runs from before pins).
	Major int
}

// RouteWith is Route knowing pins: with in.Major set, a breaking change
// needs no sign-off from a consumer pinned to an older major (PinnedBelow);
// its stewards are told instead.
func RouteWith(p Product, downstream map[string]Product, in RouteInput) []ApprovalGroup {
	hasPrevious, breaking, green := in.HasPrevious, in.Breaking, in.Green
	g := p.Governance
	stewards := ApprovalGroup{Name: GroupStewards, Members: slices.Clone(g.Stewards), Quorum: max(1, min(g.Quorum, len(g.Stewards)))}
	var groups []ApprovalGroup
	switch {
	case breaking && hasPrevious:
		groups = append(groups, stewards)
		for _, ref := range p.Consumers {
			c, ok := downstream[ref]
			if !ok || len(c.Governance.Stewards) == 0 || PinnedBelow(c, p.Ref(), in.Major) {
				continue
			}
			groups = append(groups, ApprovalGroup{Name: "consumer " + ref, Members: slices.Clone(c.Governance.Stewards), Quorum: 1})
		}
	case g.Approval == ApprovalAlways:
		groups = append(groups, stewards)
	case g.Approval == ApprovalOnBreakingChange && !green:
		groups = append(groups, stewards)
	}
	return groups
}

// Green reports whether a run has nothing to look at: no warning rule warned and
// every policy holds.
func Green(q Quality, policies []PolicyResult) bool {
	if q.Warnings > 0 {
		return false
	}
	for _, p := range policies {
		if !p.Holds {
			return false
		}
	}
	return true
}

// PinOf returns the major version of ref that consumer c reads: the major
// its inputs of ref pin, the highest when they pin several, and 0 when one
// of them follows the latest version (or none reads ref).
func PinOf(c Product, ref string) int {
	pin := 0
	for _, in := range c.Inputs {
		if in.Product != ref {
			continue
		}
		if in.Major == 0 {
			return 0
		}
		pin = max(pin, in.Major)
	}
	return pin
}

// PinnedBelow reports whether consumer c reads ref only at a major version
// older than major (major 0: never), so that a new version of major does
// not reach it.
func PinnedBelow(c Product, ref string, major int) bool {
	pin := PinOf(c, ref)
	return major > 0 && pin > 0 && pin < major
}

// PinnedConsumer is a consumer pinned to an older major than a candidate's.
type PinnedConsumer struct {
	Product string
	Major   int
}

// PinnedConsumers returns the consumers of p, in the order of p.Consumers,
// that read it at an older major than major.
func PinnedConsumers(p Product, downstream map[string]Product, major int) []PinnedConsumer {
	var out []PinnedConsumer
	for _, ref := range p.Consumers {
		c, ok := downstream[ref]
		if ok && PinnedBelow(c, p.Ref(), major) {
			out = append(out, PinnedConsumer{Product: ref, Major: PinOf(c, p.Ref())})
		}
	}
	return out
}

// NextMajor returns the major version a candidate is published as after
// the published version previous: one more for a breaking change.
func NextMajor(previous string, breaking bool) int {
	head, _, _ := strings.Cut(previous, ".")
	m, err := strconv.Atoi(head)
	if err != nil || m < 0 {
		return 0
	}
	if breaking {
		return m + 1
	}
	return m
}
