package access

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
)

// WorkflowAccessRequest is the workflow that asks for, grants and revokes read
// access to one product.
const WorkflowAccessRequest = "AccessRequest"

// Activity names: the workflow calls activities by these names; the worker
// registers the implementations in package activities under them.
const (
	ActivityRecordGrant = "RecordGrant"
	ActivityRevokeGrant = "RevokeGrant"
	// ActivityNotifyExpiring leaves the notification that a grant ends soon
	// (ExpiringInput).
	ActivityNotifyExpiring = "NotifyAccessExpiring"
	// ActivityResolveAccess reads a product's owner, approvers and task queue
	// from a mesh revision.
	ActivityResolveAccess = "ResolveAccess"
)

// Update, signal and query names.
const (
	// UpdateDecide carries an approver's Decision.
	UpdateDecide = "decide-access"
	// UpdateRevoke carries a Revocation that ends a grant before it expires.
	UpdateRevoke = "revoke"
	// SignalRevoke carries the same Revocation, for operators who send it from
	// the Temporal UI. A signal cannot be refused, so the workflow checks it in
	// its handler and records a refused one in the status.
	SignalRevoke = "revoke"
	// QueryStatus answers the request's Status.
	QueryStatus = "status"
)

// Search attributes: the same as a refresh's, so that the UI finds both by
// product, and stewards find pending requests by stage.
const (
	SearchDomain  = refresh.SearchDomain
	SearchProduct = refresh.SearchProduct
	SearchStage   = refresh.SearchStage
)

// Stage is where an access request is; the value of the MeshStage search
// attribute.
type Stage string

// The stages of an access request.
const (
	StagePending  Stage = "access-pending"  // waiting for an approver
	StageGranted  Stage = "access-granted"  // the grant is recorded and active
	StageRevoked  Stage = "access-revoked"  // revoked before it expired
	StageRejected Stage = "access-rejected" // an approver said no
	StageExpired  Stage = "access-expired"  // nobody decided in time, or the grant ran out
	StageFailed   Stage = "access-failed"   // the grant could not be recorded or revoked
)

// Final reports whether the stage ends the request.
func (s Stage) Final() bool {
	switch s {
	case StageRevoked, StageRejected, StageExpired, StageFailed:
		return true
	}
	return false
}

// DefaultDecisionTimeout is how long a request waits for a decision when the
// request does not say.
const DefaultDecisionTimeout = 7 * 24 * time.Hour

// DefaultGrantDuration is how long a grant lasts that a refresh asks for on its
// owner team's behalf.
const DefaultGrantDuration = 90 * 24 * time.Hour

// ExpiryWarning is how long before its end a grant of duration d is told to
// be expiring: a tenth of it, at most a week.
func ExpiryWarning(d time.Duration) time.Duration { return min(d/10, 7*24*time.Hour) }

// MaxGrantDuration bounds every grant: access is asked for again at least
// once a year.
const MaxGrantDuration = 366 * 24 * time.Hour

// ErrRefused is the type of the error a decision gets when it arrived before
// the request knew its approvers and was then refused.
const ErrRefused = "AccessRefused"

// ErrBadRequest is the type of the non-retryable error of a malformed request or
// grant.
const ErrBadRequest = "BadAccessRequest"

// GrantID names the grant of the access request run runID of workflowID, so
// that a retried RecordGrant writes the same object, and a grant proves which
// run recorded it.
func GrantID(workflowID, runID string) string {
	sum := sha256.Sum256([]byte(workflowID + "\x00" + runID))
	return "g-" + hex.EncodeToString(sum[:8])
}

// WorkflowID returns the ID of an access request:
// access/<domain>/<product>/<requester>/<suffix>.
func WorkflowID(ref, requester, suffix string) string {
	return "access/" + ref + "/" + requester + "/" + suffix
}

// SplitRef splits "<domain>/<product>"; ok is false when ref is not of that form.
func SplitRef(ref string) (domain, product string, ok bool) {
	domain, product, ok = strings.Cut(ref, "/")
	return domain, product, ok && domain != "" && product != "" && !strings.Contains(product, "/")
}
