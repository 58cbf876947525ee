package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
)

// SeqLate is the seq of a version's product-late event, in the outbox of the
// run that published the version: each late version is told once.
const SeqLate = 80

// CheckLate leaves a product-late event for every product whose latest
// version is older than its contract's freshness SLA (catalog.FreshnessOf),
// once per version, and returns how many products are late. It reads the
// catalog only when a route (or the file) takes product-late events.
func (s *Sender) CheckLate(ctx context.Context) (int, error) {
	s.init()
	if s.File == nil {
		routes, err := s.Routes(ctx)
		if err != nil {
			return 0, fmt.Errorf("read the notification routes: %w", err)
		}
		wanted := false
		for _, n := range routes {
			for _, e := range n.Events {
				wanted = wanted || e == spec.EventProductLate
			}
		}
		if !wanted {
			return 0, nil
		}
	}
	entries, err := catalog.List(ctx, s.Store)
	if err != nil {
		return 0, fmt.Errorf("list the catalog: %w", err)
	}
	now := s.Now()
	late := 0
	for _, e := range entries {
		m := e.Latest
		if m.RunID == "" {
			continue
		}
		c, err := catalog.Contract(ctx, s.Store, m)
		if err != nil {
			s.Logger.Warn("notify: cannot read a published contract for its freshness", "product", e.Ref, "version", m.Version, "error", err)
			continue
		}
		check := catalog.LatestCheck(ctx, s.Store, e.Ref, m)
		f := catalog.FreshnessOf(c, catalog.FreshAt(m, check), now)
		if !f.Late {
			continue
		}
		late++
		wf := m.WorkflowID
		if wf == "" {
			wf = refresh.WorkflowID(e.Ref, m.RunID)
		}
		domain, _, _ := strings.Cut(e.Ref, "/")
		ev := Event{Kind: spec.EventProductLate, At: now.UTC(), Domain: domain, Product: e.Ref, Run: Run{WorkflowID: wf, RunID: m.RunID},
			Version: m.Version, Stage: string(refresh.StagePublished),
			Title: e.Ref + " is late",
			Text: fmt.Sprintf("The latest version of %s, %s, was %s %s ago; its contract promises a new version within %s (freshness SLA).",
				e.Ref, m.Version, lastSeen(check), f.Age.Round(time.Minute), f.Expected),
			Action: "Check its schedule and its last runs (meshflow status " + e.Ref + ")."}
		if err := (Outbox{Store: s.Store}).Write(ctx, SeqLate, ev); err != nil {
			return late, err
		}
	}
	return late, nil
}

// lastSeen says what the age of a late product counts from: its publication,
// or the last run that found it unchanged.
func lastSeen(check *layout.Check) string {
	if check != nil {
		return "last checked unchanged"
	}
	return "published"
}
