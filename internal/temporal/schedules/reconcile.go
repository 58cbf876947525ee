package schedules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
	"go.temporal.io/sdk/client"
)

// Action is what Reconcile does, or would do, to one schedule.
type Action string

// The actions of a plan.
const (
	Create    Action = "create"
	Update    Action = "update"
	Delete    Action = "delete"
	Unchanged Action = "unchanged"
)

// Change is one line of a plan.
type Change struct {
	// Product is the product's "<domain>/<name>".
	Product    string
	ScheduleID string
	Action     Action
	// Detail says why, in words: what changed, or why a schedule goes.
	Detail string
}

// Plan lists, per product, what Reconcile did (or, with DryRun, would do).
type Plan struct {
	// Changes are sorted by product.
	Changes []Change
	DryRun  bool
}

// Count returns how many changes of the plan have the action.
func (p Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Find returns the change of a product, or false.
func (p Plan) Find(ref string) (Change, bool) {
	for _, c := range p.Changes {
		if c.Product == ref {
			return c, true
		}
	}
	return Change{}, false
}

// Options tune Reconcile.
type Options struct {
	// DryRun computes the plan without changing anything.
	DryRun bool
	// Settle bounds how long Reconcile waits until Temporal's descriptions of the
	// schedules it updated show the update (updates reach a schedule
	// asynchronously); zero means 30 seconds.
	Settle time.Duration
}

// Reconcile makes the Temporal Schedules of the namespace match the schedules of
// the mesh's products (see the package documentation for the rules) and returns
// the plan. The set must have passed validation. On an error, the plan holds the
// changes made before it.
func Reconcile(ctx context.Context, c client.Client, set *spec.Set, opts Options) (Plan, error) {
	plan := Plan{DryRun: opts.DryRun}
	var wants []desired
	inMesh := map[string]bool{}
	for _, p := range set.Products {
		inMesh[p.Ref()] = true
		if p.Schedule == nil {
			continue
		}
		d, err := want(set, p)
		if err != nil {
			return plan, err
		}
		wants = append(wants, d)
	}
	existing, err := listOwned(ctx, c)
	if err != nil {
		return plan, err
	}

	var updated []desired
	sc := c.ScheduleClient()
	for _, d := range wants {
		h := sc.GetHandle(ctx, d.id)
		desc, err := h.Describe(ctx)
		switch {
		case isNotFound(err):
			ch := Change{Product: d.ref, ScheduleID: d.id, Action: Create, Detail: describeOptions(d.applied)}
			if !opts.DryRun {
				if err := create(ctx, c, d); err != nil {
					return plan, err
				}
			}
			plan.Changes = append(plan.Changes, ch)
			continue
		case err != nil:
			return plan, fmt.Errorf("describe schedule %s: %w", d.id, err)
		}
		if _, ok := owned(d.id, desc.Memo); !ok {
			return plan, fmt.Errorf("schedule %s exists but was not created by meshflow apply: delete it, or remove the schedule of %s from its spec", d.id, d.ref)
		}
		prev, _ := appliedOf(desc)
		if prev.Hash == d.applied.Hash {
			plan.Changes = append(plan.Changes, Change{Product: d.ref, ScheduleID: d.id, Action: Unchanged})
			continue
		}
		if !opts.DryRun {
			if err := update(ctx, h, d); err != nil {
				return plan, err
			}
			updated = append(updated, d)
		}
		plan.Changes = append(plan.Changes, Change{Product: d.ref, ScheduleID: d.id, Action: Update, Detail: diff(prev, d.applied)})
	}

	for _, id := range sortedKeys(existing) {
		ref := existing[id]
		if slices.ContainsFunc(wants, func(d desired) bool { return d.id == id }) {
			continue
		}
		// The list is eventually consistent: a schedule deleted a moment ago may
		// still be listed. Describe is not.
		h := sc.GetHandle(ctx, id)
		if _, err := h.Describe(ctx); isNotFound(err) {
			continue
		} else if err != nil {
			return plan, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		detail := "the product is gone from the mesh"
		if inMesh[ref] {
			detail = "the product's spec has no schedule"
		}
		if !opts.DryRun {
			if err := h.Delete(ctx); err != nil && !isNotFound(err) {
				return plan, fmt.Errorf("delete schedule %s: %w", id, err)
			}
		}
		plan.Changes = append(plan.Changes, Change{Product: ref, ScheduleID: id, Action: Delete, Detail: detail})
	}
	slices.SortFunc(plan.Changes, func(a, b Change) int { return strings.Compare(a.Product, b.Product) })

	if len(updated) > 0 {
		if err := settle(ctx, c, updated, opts.Settle); err != nil {
			return plan, err
		}
	}
	return plan, nil
}

func create(ctx context.Context, c client.Client, d desired) error {
	note := ""
	if d.applied.Paused {
		note = "paused: true in the spec (meshflow apply)"
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                    d.id,
		Spec:                  d.spec(),
		Action:                d.action(),
		Overlap:               overlapPolicies[d.applied.Overlap],
		CatchupWindow:         d.applied.CatchupWindow,
		Paused:                d.applied.Paused,
		Note:                  note,
		Memo:                  map[string]any{MemoManagedBy: ManagedBy, MemoProduct: d.ref},
		TypedSearchAttributes: d.scheduleAttributes(),
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", d.id, err)
	}
	return nil
}

// update replaces the schedule's spec, action and policies. The pause state and
// note are kept unless the spec's paused value differs from the one last applied.
func update(ctx context.Context, h client.ScheduleHandle, d desired) error {
	err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		state := client.ScheduleState{}
		if cur := in.Description.Schedule.State; cur != nil {
			state = *cur
		}
		if prev, ok := appliedOf(&in.Description); !ok || prev.Paused != d.applied.Paused {
			state.Paused = d.applied.Paused
			state.Note = "resumed: paused: false in the spec (meshflow apply)"
			if d.applied.Paused {
				state.Note = "paused: true in the spec (meshflow apply)"
			}
		}
		sp, pol := d.spec(), d.policies()
		return &client.ScheduleUpdate{Schedule: &client.Schedule{Action: d.action(), Spec: &sp, Policy: &pol, State: &state}}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", d.id, err)
	}
	return nil
}

// settle waits until the descriptions of updated schedules show their new hash.
func settle(ctx context.Context, c client.Client, ds []desired, within time.Duration) error {
	if within <= 0 {
		within = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, d := range ds {
		for {
			desc, err := c.ScheduleClient().GetHandle(ctx, d.id).Describe(ctx)
			if err == nil {
				if a, _ := appliedOf(desc); a.Hash == d.applied.Hash {
					break
				}
			}
			select {
			case <-ctx.Done():
				if err == nil {
					err = errors.New("the update is not visible yet")
				}
				return fmt.Errorf("wait for the update of schedule %s: %w", d.id, err)
			case <-tick.C:
			}
		}
	}
	return nil
}

// listOwned returns the IDs of meshflow's schedules with their products. The
// list comes from Temporal's visibility store and may lag a moment behind.
func listOwned(ctx context.Context, c client.Client) (map[string]string, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	out := map[string]string{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if ref, ok := owned(e.ID, e.Memo); ok {
			out[e.ID] = ref
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describeOptions says in words what a schedule does.
func describeOptions(a Applied) string {
	tz := a.Timezone
	if tz == "" {
		tz = "UTC"
	}
	s := fmt.Sprintf("cron %q %s, overlap %s, catch-up %s", a.Cron, tz, a.Overlap, short(a.CatchupWindow))
	if a.Jitter > 0 {
		s += fmt.Sprintf(", jitter %s", short(a.Jitter))
	}
	if a.Paused {
		s += ", paused"
	}
	return s
}

// diff says what changed between two Applied records.
func diff(prev, next Applied) string {
	if prev.Hash == "" {
		return "no record of what the schedule was made from; rebuilt"
	}
	var parts []string
	add := func(name string, a, b any) {
		if a != b {
			parts = append(parts, fmt.Sprintf("%s %v → %v", name, a, b))
		}
	}
	add("cron", fmt.Sprintf("%q", prev.Cron), fmt.Sprintf("%q", next.Cron))
	add("timezone", prev.Timezone, next.Timezone)
	add("overlap", prev.Overlap, next.Overlap)
	add("catch-up", short(prev.CatchupWindow), short(next.CatchupWindow))
	add("jitter", short(prev.Jitter), short(next.Jitter))
	add("paused", prev.Paused, next.Paused)
	if len(parts) == 0 {
		return "the run input changed (the way meshflow builds schedules changed)"
	}
	return strings.Join(parts, ", ")
}

// short writes a duration without zero minutes and seconds: "1h", "1h30m".
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
