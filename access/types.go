package access

import (
	"slices"
	"time"
)

// Request starts an AccessRequest workflow. The client resolves everything from
// the mesh (the approvers, the task queue), so that the workflow never reads the
// mesh folder.
type Request struct {
	// Product is "<domain>/<product>".
	Product string `json:"product"`
	// Requester is the principal who will read the product; it may not approve.
	Requester string `json:"requester"`
	Purpose   string `json:"purpose"`
	// Duration is how long the grant lasts once approved.
	Duration time.Duration `json:"duration"`
	// Owner is the team that owns the product.
	Owner string `json:"owner"`
	// Approvers are the owner team's members and the product's stewards.
	Approvers []string `json:"approvers"`
	// DecisionTimeout is how long the request waits for a decision; zero means
	// DefaultDecisionTimeout.
	DecisionTimeout time.Duration `json:"decisionTimeout,omitempty"`
	// TaskQueue is the queue of the product's domain.
	TaskQueue string `json:"taskQueue"`
}

// CanApprove reports whether principal may decide on the request.
func (r Request) CanApprove(principal string) bool {
	return principal != "" && principal != r.Requester && slices.Contains(r.Approvers, principal)
}

// Decision is the argument of the decide-access update.
type Decision struct {
	Principal string `json:"principal"`
	Approve   bool   `json:"approve"`
	Comment   string `json:"comment,omitempty"`
}

// Revocation is the argument of the revoke update and signal.
type Revocation struct {
	Principal string `json:"principal"`
	Reason    string `json:"reason,omitempty"`
}

// Grant is read access of one principal to one product, stored as JSON under
// Key(product, id). A grant is active while it is not revoked and not expired.
type Grant struct {
	ID        string    `json:"id"`
	Product   string    `json:"product"`
	Principal string    `json:"principal"`
	Purpose   string    `json:"purpose"`
	GrantedBy string    `json:"grantedBy"`
	GrantedAt time.Time `json:"grantedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	RevokedBy string    `json:"revokedBy,omitempty"`
	// Reason says why the grant was revoked ("expired" when it ran out).
	Reason string `json:"reason,omitempty"`
	// WorkflowID is the AccessRequest that granted it and revokes it.
	WorkflowID string `json:"workflowId"`
}

// Active reports whether the grant lets its principal read the product at now:
// it is granted, not revoked, and now is in [GrantedAt, ExpiresAt).
func (g Grant) Active(now time.Time) bool {
	return !g.GrantedAt.IsZero() && g.RevokedAt.IsZero() && !now.Before(g.GrantedAt) && now.Before(g.ExpiresAt)
}

// Key returns the key of a grant object: _grants/<domain>/<product>/<id>.json.
func Key(product, id string) string { return Prefix(product) + id + ".json" }

// Prefix returns the prefix of a product's grants, or of every grant when
// product is empty.
func Prefix(product string) string {
	if product == "" {
		return "_grants/"
	}
	return "_grants/" + product + "/"
}

// RecordInput asks to write a new grant.
type RecordInput struct {
	Grant Grant `json:"grant"`
}

// RevokeInput asks to mark a grant revoked.
type RevokeInput struct {
	Product string    `json:"product"`
	ID      string    `json:"id"`
	By      string    `json:"by"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Refusal is a decision or revocation sent as a signal that the workflow did not
// accept, and why.
type Refusal struct {
	Principal string    `json:"principal"`
	What      string    `json:"what"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
}

// Status answers the status query.
type Status struct {
	Request  Request   `json:"request"`
	Stage    Stage     `json:"stage"`
	Detail   string    `json:"detail,omitempty"`
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline,omitzero"`
	// Decision is the accepted decision, once there is one.
	Decision  *Decision `json:"decision,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// Grant is the recorded grant, once approved.
	Grant   *Grant    `json:"grant,omitempty"`
	Refused []Refusal `json:"refused,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Result is what a finished AccessRequest returns.
type Result struct {
	Stage   Stage  `json:"stage"`
	GrantID string `json:"grantId,omitempty"`
	Reason  string `json:"reason,omitempty"`
}
