package activities

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/interop/notify"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/activity"
)

// notify leaves ev as its run's event seq in the notifications' outbox. It
// never fails the activity: an event that cannot be written is logged and
// lost, and the run goes on.
func (a *Activities) notify(ctx context.Context, seq int, ev notify.Event) {
	if !a.Notify {
		return
	}
	wf := activity.GetInfo(ctx).WorkflowExecution
	ev.Run = notify.Run{WorkflowID: wf.ID, RunID: wf.RunID}
	ev.At = time.Now().UTC()
	if ev.Domain == "" {
		ev.Domain, _, _ = strings.Cut(ev.Product, "/")
	}
	if err := (notify.Outbox{Store: a.Store}).Write(ctx, seq, ev); err != nil {
		a.logger().Warn("notify: cannot leave an event in the outbox; it is not sent", "event", ev.Kind, "product", ev.Product, "error", err)
	}
}

// NotifyEscalation leaves the notification that a run's approval was
// escalated; the workflow calls it when its escalation timer fires.
func (a *Activities) NotifyEscalation(ctx context.Context, in refresh.EscalationInput) error {
	// Only a run of a product this worker serves tells of its escalation.
	if _, err := a.resolveFor(ctx, "", in.Ref, in.RunID); err != nil {
		return err
	}
	deadline := in.Deadline.UTC()
	a.notify(ctx, notify.SeqEscalated, notify.Event{
		Kind: spec.EventApprovalEscalated, Product: in.Ref, Stage: string(refresh.StageAwaitingApproval),
		Title:     "Approval of " + in.Ref + " escalated to " + strings.Join(in.EscalateTo, ", "),
		Text:      fmt.Sprintf("Nobody signed off the new version of %s in time: %s may now decide for its stewards. %s", in.Ref, strings.Join(in.EscalateTo, ", "), in.Detail),
		Action:    fmt.Sprintf("Review it in the inbox and approve or reject it before %s (meshflow approve %s / meshflow reject %s --comment …).", deadline.Format(time.RFC3339), in.Ref, in.Ref),
		Approvers: in.Approvers, Deadline: &deadline,
	})
	return nil
}

// notifyGovern leaves the notifications of the govern stage: a breaking
// change of the contract, and the approval request when the run's route
// needs sign-off and no policy blocks it.
func (a *Activities) notifyGovern(ctx context.Context, in refresh.GovernInput, res refresh.GovernResult) {
	ref := in.Product.Ref()
	var changes []notify.Change
	for _, c := range res.Changes {
		changes = append(changes, notify.Change{Severity: c.Severity, Path: c.Path, Message: c.Message})
	}
	downstream := map[string]refresh.Product{}
	for _, c := range in.Consumers {
		downstream[c.Ref()] = c
	}
	route := refresh.RouteInput{HasPrevious: in.Previous != nil, Breaking: res.Breaking, Green: refresh.Green(in.Quality, res.Policies)}
	if in.Pins && in.Previous != nil {
		route.Major = refresh.NextMajor(in.Previous.Version, res.Breaking)
	}
	pinned := refresh.PinnedConsumers(in.Product, downstream, route.Major)
	if res.Breaking && in.Previous != nil {
		var consumers []string
		for _, c := range in.Product.Consumers {
			if !slices.ContainsFunc(pinned, func(pc refresh.PinnedConsumer) bool { return pc.Product == c }) {
				consumers = append(consumers, c)
			}
		}
		text := fmt.Sprintf("The candidate contract %s of %s breaks the published %s: %s.", res.ContractVersion, ref, in.Previous.Version, changeText(res.Changes))
		action := "Its stewards must sign off the new major version."
		if len(consumers) > 0 {
			action = fmt.Sprintf("Its stewards and the stewards of its consumers (%s) must sign off the new major version; check that the consumers still work with it.", strings.Join(consumers, ", "))
		}
		if len(pinned) > 0 {
			var told []string
			for _, pc := range pinned {
				told = append(told, fmt.Sprintf("%s (pinned to @%d)", pc.Product, pc.Major))
			}
			text += fmt.Sprintf(" Consumers pinned to an older major keep reading it and are told, not asked: %s.", strings.Join(told, ", "))
			action += " Pinned consumers should plan their move to the new major before the old one is deprecated."
		}
		a.notify(ctx, notify.SeqBreakingChange, notify.Event{Kind: spec.EventBreakingChangeProposed, Product: ref, Stage: string(refresh.StageValidating),
			Title: "Breaking change proposed for " + ref, Text: text, Action: action, Breaking: true, Changes: changes, Impact: impactOf(res.Impact)})
		a.notifyPinned(ctx, ref, res, pinned)
	}
	for _, p := range res.Policies {
		if p.Blocks() {
			return // the run fails: nobody is asked
		}
	}
	groups := refresh.RouteWith(in.Product, downstream, route)
	if len(groups) == 0 {
		return
	}
	var approvers, waits []string
	for _, g := range groups {
		for _, m := range g.Members {
			if !slices.Contains(approvers, m) {
				approvers = append(approvers, m)
			}
		}
		waits = append(waits, fmt.Sprintf("%d of %s (%s)", g.Quorum, g.Name, strings.Join(g.Members, ", ")))
	}
	timeout := in.Product.Governance.Timeout
	if timeout <= 0 {
		timeout = refresh.DefaultApprovalTimeout
	}
	deadline := time.Now().Add(timeout).UTC()
	q := in.Quality
	text := fmt.Sprintf("A new version of %s waits for sign-off by %s. %d rows in, %d out, %d quarantined, %d warning(s).",
		ref, strings.Join(waits, " and "), q.RowsIn, q.RowsOut, q.Quarantined, q.Warnings)
	if len(res.Changes) > 0 {
		text += " Contract changes: " + changeText(res.Changes) + "."
	}
	impacts := impactOf(res.Impact)
	if len(impacts) > 0 {
		text += " Impact on its consumers: " + strings.Join(impacts, "; ") + "."
	}
	a.notify(ctx, notify.SeqApproval, notify.Event{Kind: spec.EventApprovalRequested, Product: ref, Stage: string(refresh.StageAwaitingApproval),
		Title: "Approval requested: " + ref, Text: text, Impact: impacts,
		Action:    fmt.Sprintf("Review it in the inbox and approve or reject it before %s (meshflow approve %s / meshflow reject %s --comment …).", deadline.Format(time.RFC3339), ref, ref),
		Approvers: approvers, Deadline: &deadline, Breaking: res.Breaking, Changes: changes})
}

// notifyPinned tells the domains of consumers pinned to an older major of a
// breaking change: one breaking-change-proposed event each, to the
// consumer's domain, that asks nothing of them (seq SeqBreakingChange plus
// the consumer's place, at most SeqApproval-1).
func (a *Activities) notifyPinned(ctx context.Context, ref string, res refresh.GovernResult, pinned []refresh.PinnedConsumer) {
	for i, pc := range pinned {
		seq := min(notify.SeqBreakingChange+1+i, notify.SeqApproval-1)
		domain, _, _ := strings.Cut(pc.Product, "/")
		a.notify(ctx, seq, notify.Event{Kind: spec.EventBreakingChangeProposed, Product: ref, Domain: domain, Stage: string(refresh.StageValidating),
			Title:    fmt.Sprintf("Breaking change proposed for %s; %s is pinned to @%d", ref, pc.Product, pc.Major),
			Text:     fmt.Sprintf("The candidate contract %s of %s breaks it: %s. %s pins @%d and keeps reading the newest %d.x: it is told, not asked to sign off.", res.ContractVersion, ref, changeText(res.Changes), pc.Product, pc.Major, pc.Major),
			Action:   fmt.Sprintf("Nothing to sign off. Plan the move of %s to the new major version before @%d is deprecated (meshflow catalog show %s).", pc.Product, pc.Major, ref),
			Breaking: true})
	}
}

// notifyPublished leaves the notifications of a publication: the decision
// that let it through, when the run waited for one, and the new version.
func (a *Activities) notifyPublished(ctx context.Context, in refresh.PublishInput, res refresh.PublishResult) {
	m := in.Manifest
	ref := m.Product
	if len(m.Approvals) > 0 {
		var ds []notify.Decision
		var who []string
		for _, ap := range m.Approvals {
			ds = append(ds, notify.Decision{Principal: ap.Principal, Decision: string(ap.Decision), Comment: ap.Comment})
			who = append(who, ap.Principal)
		}
		a.notify(ctx, notify.SeqDecided, notify.Event{Kind: spec.EventDecided, Product: ref, Stage: string(refresh.StagePublishing), Version: res.Version,
			Title: ref + " approved", Text: fmt.Sprintf("%s approved the new version of %s; it is published as %s.", strings.Join(who, ", "), ref, res.Version),
			Decision: string(refresh.Approve), Decisions: ds})
	}
	var changes []notify.Change
	for _, c := range m.Changes {
		changes = append(changes, notify.Change{Severity: c.Severity, Path: c.Path, Message: c.Message})
	}
	q := m.Quality
	text := fmt.Sprintf("Version %s of %s is published: %d rows, %d quarantined, %d warning(s).", res.Version, ref, q.RowsOut, q.Quarantined, q.Warnings)
	action := "Nothing to do: consumers of " + ref + " read the new version from their next refresh."
	if m.Breaking {
		text += " It is a new major version: " + changeText(m.Changes) + "."
		action = "Consumers of " + ref + " should check that they work with the new major version."
	}
	a.notify(ctx, notify.SeqPublished, notify.Event{Kind: spec.EventPublished, Product: ref, Stage: string(refresh.StagePublished), Version: res.Version,
		Title: ref + " " + res.Version + " published", Text: text, Action: action, Breaking: m.Breaking, Changes: changes})
}

// notifyEnd leaves the last notification of a run: failed, expired or
// rejected (decided), else a run-ended event that no channel gets.
func (a *Activities) notifyEnd(ctx context.Context, in refresh.CleanupInput) {
	ev := notify.Event{Kind: notify.KindRunEnded, Product: in.Ref, Stage: string(in.Stage), Reason: in.Reason,
		Title: in.Ref + ": " + string(in.Stage), Text: "The run of " + in.Ref + " ended " + string(in.Stage) + "."}
	switch in.Stage {
	case refresh.StageFailed:
		reason := in.Reason
		if reason == "" {
			reason = a.failedAt(ctx, in)
		}
		ev.Kind, ev.Reason = spec.EventFailed, reason
		ev.Title = "Refresh of " + in.Ref + " failed"
		ev.Text = "The refresh of " + in.Ref + " failed: " + reason
		ev.Action = fmt.Sprintf("Fix the cause (the run %s in Temporal has the full error), then start it again with meshflow run %s.", activity.GetInfo(ctx).WorkflowExecution.ID, in.Ref)
	case refresh.StageExpired:
		ev.Kind = spec.EventExpired
		ev.Title = "Refresh of " + in.Ref + " expired"
		ev.Text = "The refresh of " + in.Ref + " expired: " + in.Reason + ". Nothing was published."
		ev.Action = "Start a new refresh with meshflow run " + in.Ref + " when the approvers or grants are there."
	case refresh.StageRejected:
		if in.Approval != nil && in.Approval.Decision == refresh.WaitRejected {
			ev.Kind, ev.Decision = spec.EventDecided, string(refresh.Reject)
			ev.Title = in.Ref + " rejected"
			ev.Text = "The new version of " + in.Ref + " was " + in.Reason + ". Nothing was published."
			ev.Action = "Fix what the comment names and start a new refresh with meshflow run " + in.Ref + "."
		}
	}
	a.notify(ctx, notify.SeqEnd, ev)
}

// notifyAccessRequested leaves the notification of a new access request.
func (a *Activities) notifyAccessRequested(ctx context.Context, in access.ResolveInput, res access.Resolved) {
	if in.Requester == "" {
		return
	}
	a.notify(ctx, notify.SeqAccessRequested, notify.Event{Kind: spec.EventAccessRequested, Product: in.Product, Stage: string(access.StagePending),
		Title:     in.Requester + " asks to read " + in.Product,
		Text:      fmt.Sprintf("%s asks to read %s for %s (%s).", in.Requester, in.Product, in.Duration, in.Purpose),
		Action:    fmt.Sprintf("Approve or reject it: meshflow access approve %s (or reject) as one of %s.", in.Product, strings.Join(res.Approvers, ", ")),
		Approvers: res.Approvers, Requester: in.Requester})
}

// notifyAccessGranted leaves the notification of a recorded grant.
func (a *Activities) notifyAccessGranted(ctx context.Context, g access.Grant) {
	a.notify(ctx, notify.SeqAccessGranted, notify.Event{Kind: spec.EventAccessGranted, Product: g.Product, Stage: string(access.StageGranted),
		Title:     g.Principal + " may read " + g.Product,
		Text:      fmt.Sprintf("%s granted %s access to %s until %s (grant %s).", g.GrantedBy, g.Principal, g.Product, g.ExpiresAt.UTC().Format(time.RFC3339), g.ID),
		Action:    "Nothing to do; the grant ends by itself, or earlier with meshflow access revoke.",
		Requester: g.Principal, GrantID: g.ID})
}

// NotifyAccessExpiring leaves the notification that a grant ends soon; the
// AccessRequest workflow calls it access.ExpiryWarning before the end.
func (a *Activities) NotifyAccessExpiring(ctx context.Context, in access.ExpiringInput) error {
	g := in.Grant
	a.notify(ctx, notify.SeqAccessExpiring, notify.Event{Kind: spec.EventAccessExpiring, Product: g.Product, Stage: string(access.StageGranted),
		Title:     "Access of " + g.Principal + " to " + g.Product + " ends soon",
		Text:      fmt.Sprintf("Grant %s lets %s read %s until %s.", g.ID, g.Principal, g.Product, g.ExpiresAt.UTC().Format(time.RFC3339)),
		Action:    "To keep reading, ask again before then: meshflow access request " + g.Product + " --purpose …",
		Requester: g.Principal, GrantID: g.ID})
	return nil
}

// notifyDeprecation leaves the deprecation-approaching notification of a
// run of p whose input pins a major that is deprecated on a date to come.
func (a *Activities) notifyDeprecation(ctx context.Context, p refresh.Product, input refresh.Input, d refresh.Deprecation) {
	seq := notify.SeqDeprecation
	for i, in := range p.Inputs {
		if in.Name == input.Name {
			seq = min(notify.SeqDeprecation+i, notify.SeqDeprecationLast)
		}
	}
	left := max(0, int(time.Until(d.Date()).Hours()/24))
	a.notify(ctx, seq, notify.Event{Kind: spec.EventDeprecationApproaching, Product: p.Ref(), Domain: p.Domain, Stage: string(refresh.StageIngesting),
		Title: fmt.Sprintf("%s reads %s, deprecated on %s", p.Ref(), d.Pin(), d.On),
		Text: fmt.Sprintf("Input %s of %s pins %s, which %s deprecated on %s (in %d day(s)): %s. From then on, its runs fail.",
			input.Name, p.Ref(), d.Pin(), d.By, d.On, left, cmp.Or(d.Note, "no note given")),
		Action: fmt.Sprintf("Move input %s to a newer major version of %s (product: %s@<major>, or no pin to follow the latest) and apply the mesh before %s.",
			input.Name, d.Product, d.Product, d.On)})
}

// impactOf says in a sentence each what the candidate does to its consumers
// (refresh.ConsumerImpact.Summary), for the approvers.
func impactOf(i *refresh.Impact) []string {
	if i == nil {
		return nil
	}
	var out []string
	for _, c := range i.Consumers {
		if c.Summary != "" {
			out = append(out, c.Summary)
		}
	}
	return out
}

func changeText(cs []refresh.ContractChange) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Message)
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return strings.Join(parts, "; ")
}
