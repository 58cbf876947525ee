package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// IDPrefix starts the ID of every schedule meshflow manages.
const IDPrefix = "schedule/"

// ID returns the schedule ID of a product ("<domain>/<name>").
func ID(ref string) string { return IDPrefix + ref }

// Memo keys and values.
const (
	// MemoManagedBy is the schedule memo key that marks meshflow's schedules; its
	// value is ManagedBy.
	MemoManagedBy = "managedBy"
	ManagedBy     = "meshflow"
	// MemoProduct is the schedule memo key holding the product's "<domain>/<name>".
	MemoProduct = "meshflowProduct"
	// MemoApplied is the workflow action's memo key holding an Applied record.
	MemoApplied = "meshflowSchedule"
)

// Reason is the reason of scheduled runs; their submitter is the principal
// that applied the mesh revision they run.
const Reason = "schedule"

// WorkflowIDPrefix returns the prefix of the IDs of a product's scheduled runs;
// Temporal appends the scheduled time.
func WorkflowIDPrefix(ref string) string { return refresh.WorkflowID(ref, "scheduled") }

// Applied records what a schedule was made from. It is stored in the memo of the
// schedule's workflow action.
type Applied struct {
	// Hash is the SHA-256 of the options below, the task queue and the run input.
	Hash          string        `json:"hash"`
	Cron          string        `json:"cron"`
	Timezone      string        `json:"timezone,omitempty"`
	Overlap       string        `json:"overlap"`
	CatchupWindow time.Duration `json:"catchupWindow"`
	Jitter        time.Duration `json:"jitter,omitempty"`
	Paused        bool          `json:"paused,omitempty"`
}

// hashVersion changes when the way a schedule is built from a spec changes, so
// that the next apply rebuilds every schedule.
const hashVersion = 2

// desired is the schedule a product of the mesh should have.
type desired struct {
	ref     string
	id      string
	domain  string
	name    string
	queue   string
	applied Applied
	input   refresh.RefreshInput
}

// want builds the desired schedule of a product that has a schedule.
func want(set *spec.Set, p *spec.Product) (desired, error) {
	sc := p.Schedule
	// The schedule carries no copy of the spec: each run resolves the product
	// from the mesh revision current when it starts.
	in := refresh.RefreshInput{Ref: p.Ref(), Revision: refresh.RevisionCurrent, Trigger: refresh.TriggerSchedule, Reason: Reason}
	dom := set.Domain(p.Metadata.Domain)
	if dom == nil {
		return desired{}, fmt.Errorf("%s: unknown domain %q", p.Ref(), p.Metadata.Domain)
	}
	d := desired{
		ref: p.Ref(), id: ID(p.Ref()), domain: p.Metadata.Domain, name: p.Metadata.Name,
		queue: dom.Queue(), input: in,
		applied: Applied{Cron: sc.Cron, Timezone: sc.Timezone, Overlap: sc.OverlapPolicy(),
			CatchupWindow: sc.Catchup(), Jitter: sc.Jitter, Paused: sc.Paused},
	}
	if _, ok := overlapPolicies[d.applied.Overlap]; !ok {
		return desired{}, fmt.Errorf("%s: unknown overlap policy %q", p.Ref(), d.applied.Overlap)
	}
	b, err := json.Marshal(struct {
		Version    int                  `json:"v"`
		Options    Applied              `json:"options"`
		Workflow   string               `json:"workflow"`
		TaskQueue  string               `json:"taskQueue"`
		WorkflowID string               `json:"workflowId"`
		Input      refresh.RefreshInput `json:"input"`
	}{hashVersion, d.applied, refresh.WorkflowProductRefresh, d.queue, WorkflowIDPrefix(d.ref), in})
	if err != nil {
		return desired{}, fmt.Errorf("hash the schedule of %s: %w", p.Ref(), err)
	}
	sum := sha256.Sum256(b)
	d.applied.Hash = hex.EncodeToString(sum[:])
	return d, nil
}

var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	spec.OverlapSkip:           enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	spec.OverlapBufferOne:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	spec.OverlapBufferAll:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	spec.OverlapCancelOther:    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	spec.OverlapTerminateOther: enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	spec.OverlapAllowAll:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

// OverlapName returns the spec's name of a Temporal overlap policy ("skip"…), or
// Temporal's own name for one meshflow does not know.
func OverlapName(p enumspb.ScheduleOverlapPolicy) string {
	for name, v := range overlapPolicies {
		if v == p {
			return name
		}
	}
	return p.String()
}

func (d desired) spec() client.ScheduleSpec {
	return client.ScheduleSpec{CronExpressions: []string{d.applied.Cron}, TimeZoneName: d.applied.Timezone, Jitter: d.applied.Jitter}
}

func (d desired) policies() client.SchedulePolicies {
	return client.SchedulePolicies{Overlap: overlapPolicies[d.applied.Overlap], CatchupWindow: d.applied.CatchupWindow}
}

func (d desired) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:            WorkflowIDPrefix(d.ref),
		Workflow:      refresh.WorkflowProductRefresh,
		Args:          []any{d.input},
		TaskQueue:     d.queue,
		StaticSummary: fmt.Sprintf("Scheduled refresh of %s (%s)", d.ref, d.applied.Cron),
		Memo:          map[string]any{MemoApplied: d.applied},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchDomain).ValueSet(d.domain),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchProduct).ValueSet(d.name),
			temporal.NewSearchAttributeKeyKeyword(refresh.SearchStage).ValueSet(string(refresh.StageIngesting)),
		),
	}
}

// scheduleAttributes are the search attributes of the schedule itself.
func (d desired) scheduleAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword(refresh.SearchDomain).ValueSet(d.domain),
		temporal.NewSearchAttributeKeyKeyword(refresh.SearchProduct).ValueSet(d.name),
	)
}

// isNotFound reports whether err says that a schedule does not exist.
func isNotFound(err error) bool {
	_, ok := errors.AsType[*serviceerror.NotFound](err)
	return ok
}

// memoString decodes a string from a memo, "" when absent or not a string.
func memoString(m *commonpb.Memo, key string) string {
	p, ok := m.GetFields()[key]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// owned reports whether a schedule with this ID and memo belongs to meshflow, and
// for which product.
func owned(id string, memo *commonpb.Memo) (ref string, ok bool) {
	if !strings.HasPrefix(id, IDPrefix) || memoString(memo, MemoManagedBy) != ManagedBy {
		return "", false
	}
	if ref = memoString(memo, MemoProduct); ref == "" {
		ref = strings.TrimPrefix(id, IDPrefix)
	}
	return ref, true
}

// appliedOf reads the Applied record of a described schedule.
func appliedOf(desc *client.ScheduleDescription) (Applied, bool) {
	act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return Applied{}, false
	}
	p, ok := act.Memo[MemoApplied].(*commonpb.Payload)
	if !ok {
		return Applied{}, false
	}
	var a Applied
	if err := converter.GetDefaultDataConverter().FromPayload(p, &a); err != nil {
		return Applied{}, false
	}
	return a, true
}

// describeOwned describes the schedule of a product and checks that meshflow owns
// it. A missing schedule is an error that says how to create it.
func describeOwned(ctx context.Context, c client.Client, ref string) (client.ScheduleHandle, *client.ScheduleDescription, error) {
	h := c.ScheduleClient().GetHandle(ctx, ID(ref))
	desc, err := h.Describe(ctx)
	if isNotFound(err) {
		return nil, nil, fmt.Errorf("%s has no schedule %s: give the product a schedule in its spec and run meshflow apply", ref, ID(ref))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("describe schedule %s: %w", ID(ref), err)
	}
	if _, ok := owned(h.GetID(), desc.Memo); !ok {
		return nil, nil, fmt.Errorf("schedule %s was not created by meshflow apply", ID(ref))
	}
	return h, desc, nil
}
