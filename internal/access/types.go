package access

import (
	"slices"
	"time"

	"github.com/meshflow/meshflow/internal/signing"
)

// Request starts an AccessRequest workflow. The workflow resolves the owner,
// the approvers and the task queue from the mesh revision (Revision, default
// the current one); the requester is proven by Signed, serve's signature, or by
// the run being the child of a refresh that waits for access. Owner, Approvers
// and TaskQueue are ignored by requests started on current code and kept for
// requests started before mesh revisions.
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
	// Revision is the mesh revision to take the approvers from.
	Revision string `json:"revision,omitempty"`
	// Trigger is "request" (a person through meshflow serve, proven by Signed)
	// or "propagation" (a refresh whose owner team needs the grant).
	Trigger string          `json:"trigger,omitempty"`
	Signed  *signing.Signed `json:"signed,omitempty"`
}

// RequestStatement is what serve signs when requester asks to read product in
// the access request workflowID.
func RequestStatement(workflowID, product, requester, purpose string, duration time.Duration) signing.Statement {
	return signing.Statement{Action: signing.ActionAccessRequest, Principal: requester, Subject: workflowID, Product: product,
		Comment: purpose, Duration: duration}
}

// DecisionStatement is what serve signs when principal decides on the access
// request workflowID; an approval covers the duration it grants.
func DecisionStatement(workflowID, product, principal string, approve bool, comment string, duration time.Duration) signing.Statement {
	return signing.Statement{Action: signing.ActionAccessDecide, Principal: principal, Subject: workflowID, Product: product,
		Approve: approve, Comment: comment, Duration: duration}
}

// RevokeStatement is what serve signs when principal revokes the grant of the
// access request workflowID.
func RevokeStatement(workflowID, product, principal, reason string) signing.Statement {
	return signing.Statement{Action: signing.ActionAccessRevoke, Principal: principal, Subject: workflowID, Product: product, Comment: reason}
}

// ResolveInput asks for a product's access policy in a mesh revision.
type ResolveInput struct {
	Product  string `json:"product"`
	Revision string `json:"revision"`
	// Requester, Purpose and Duration are the request's, for the
	// notification of it (access-requested).
	Requester string        `json:"requester,omitempty"`
	Purpose   string        `json:"purpose,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
}

// ExpiringInput is the input of the NotifyAccessExpiring activity: the
// grant ends at its ExpiresAt unless it is asked for again.
type ExpiringInput struct {
	Grant Grant `json:"grant"`
}

// Resolved is a product's access policy as the mesh revision defines it.
type Resolved struct {
	Revision  string              `json:"revision"`
	Owner     string              `json:"owner"`
	Approvers []string            `json:"approvers"`
	TaskQueue string              `json:"taskQueue"`
	Keys      []signing.PublicKey `json:"keys"`
	// ConsumerOwners are the owner teams of the other domains' products that
	// read this one: the only requesters a refresh may file a request for.
	ConsumerOwners []string `json:"consumerOwners,omitempty"`
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
	// Proof is serve's signature of DecisionStatement.
	Proof *signing.Proof `json:"proof,omitempty"`
}

// Revocation is the argument of the revoke update and signal.
type Revocation struct {
	Principal string `json:"principal"`
	Reason    string `json:"reason,omitempty"`
	// Proof is serve's signature of RevokeStatement.
	Proof *signing.Proof `json:"proof,omitempty"`
}

// Grant is read access of one principal to one product, stored as JSON under
// Key(product, id). A grant is active while it is not revoked and not expired.
type Grant struct {
	ID        string `json:"id"`
	Product   string `json:"product"`
	Principal string `json:"principal"`
	Purpose   string `json:"purpose"`
	GrantedBy string `json:"grantedBy"`
	// ApprovalComment is the approver's comment, covered by Proof.
	ApprovalComment string    `json:"approvalComment,omitempty"`
	GrantedAt       time.Time `json:"grantedAt"`
	ExpiresAt       time.Time `json:"expiresAt"`
	RevokedAt       time.Time `json:"revokedAt,omitzero"`
	RevokedBy       string    `json:"revokedBy,omitempty"`
	// Reason says why the grant was revoked ("expired" when it ran out).
	Reason string `json:"reason,omitempty"`
	// WorkflowID is the AccessRequest that granted it and revokes it.
	WorkflowID string `json:"workflowId"`
	// Revision is the mesh revision whose keys verify Proof, and whose
	// approvers GrantedBy must be one of.
	Revision string `json:"revision,omitempty"`
	// Proof is the approver's signed decision (DecisionStatement with
	// Duration): a grant without a valid one was not written by the access
	// workflow. Grants recorded before signed decisions have none.
	Proof *signing.Proof `json:"proof,omitempty"`
}

// Statement returns what the grant's Proof signs.
func (g Grant) Statement() signing.Statement {
	return DecisionStatement(g.WorkflowID, g.Product, g.GrantedBy, true, g.ApprovalComment, g.ExpiresAt.Sub(g.GrantedAt))
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
