package refresh

import "slices"

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
	g := p.Governance
	stewards := ApprovalGroup{Name: GroupStewards, Members: slices.Clone(g.Stewards), Quorum: max(1, min(g.Quorum, len(g.Stewards)))}
	var groups []ApprovalGroup
	switch {
	case breaking && hasPrevious:
		groups = append(groups, stewards)
		for _, ref := range p.Consumers {
			c, ok := downstream[ref]
			if !ok || len(c.Governance.Stewards) == 0 {
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
