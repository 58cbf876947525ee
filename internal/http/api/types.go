package api

import (
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
)

// RunStatus is a run with its status: an entry of GET /api/v1/approvals and the
// answer of GET /api/v1/runs/<workflowId>.
type RunStatus struct {
	WorkflowID string         `json:"workflowId"`
	RunID      string         `json:"runId,omitempty"`
	Status     refresh.Status `json:"status"`
}

// Approvals is the answer of GET /api/v1/approvals.
type Approvals struct {
	Approvals []RunStatus `json:"approvals"`
}

// Run is a run in a list. It has the fields of control.Run, so one converts to
// the other.
type Run struct {
	WorkflowID string        `json:"workflowId"`
	RunID      string        `json:"runId"`
	Product    string        `json:"product"`
	Stage      refresh.Stage `json:"stage"`
	Version    string        `json:"version,omitempty"`
	Status     string        `json:"status"`
	Start      time.Time     `json:"start"`
	Close      time.Time     `json:"close,omitzero"`
}

// Runs is the answer of GET /api/v1/runs.
type Runs struct {
	Runs []Run `json:"runs"`
}

// DecisionRequest is the body of POST /api/v1/decisions, and what the web
// inbox's form is read into. It has no principal: the principal is who
// authenticated.
type DecisionRequest struct {
	WorkflowID string `json:"workflowId"`
	// Approve is required; a pointer, so that a missing field is not a rejection.
	Approve *bool  `json:"approve"`
	Comment string `json:"comment,omitempty"`
	// ManifestHash is the hash of the manifest the principal reviewed, from GET
	// /api/v1/runs/<workflowId>.
	ManifestHash string `json:"manifestHash"`
}

// Decided is the answer to an accepted decision.
type Decided struct {
	WorkflowID string          `json:"workflowId"`
	Principal  string          `json:"principal"`
	Decision   refresh.Verdict `json:"decision"`
	Status     refresh.Status  `json:"status"`
}

// RefreshRequest is the body of POST /api/v1/refreshes.
type RefreshRequest struct {
	Product string `json:"product"`
	// Reason says why; default "manual".
	Reason string `json:"reason,omitempty"`
	// Partitions, for a partitioned product, is a range of partitions to build
	// whatever their state: "2026-09-01..2026-09-07" or one key.
	Partitions string `json:"partitions,omitempty"`
}

// CodeNotPartitioned answers a refresh that names partitions of a product that
// has none.
const CodeNotPartitioned = "not_partitioned"

// Started is the answer to a started workflow.
type Started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Principal  string `json:"principal"`
}

// AccessRequestBody is the body of POST /api/v1/access/requests.
type AccessRequestBody struct {
	Product string `json:"product"`
	Purpose string `json:"purpose"`
	// Duration is how long the grant should last, e.g. "720h".
	Duration string `json:"duration"`
}

// AccessDecisionBody is the body of POST /api/v1/access/decisions. Target is
// the access request's workflow ID, or a product when one request of it is
// pending.
type AccessDecisionBody struct {
	Target  string `json:"target"`
	Approve *bool  `json:"approve"`
	Comment string `json:"comment,omitempty"`
}

// DeprecationBody is the body of POST
// /api/v1/products/{domain}/{name}/deprecations: the major version to
// deprecate, the date (YYYY-MM-DD) from which pinned consumers' runs fail,
// and a note that says why and what to move to.
type DeprecationBody struct {
	Major int    `json:"major"`
	On    string `json:"on"`
	Note  string `json:"note,omitempty"`
}

// CodeUnknownMajor answers a deprecation of a major that has no published
// version.
const CodeUnknownMajor = "unknown_major"

// RevocationBody is the body of POST /api/v1/access/revocations.
type RevocationBody struct {
	WorkflowID string `json:"workflowId"`
	Reason     string `json:"reason,omitempty"`
}

// The formats POST /api/v1/query answers in.
const (
	QueryJSON    = "json"
	QueryCSV     = "csv"
	QueryParquet = "parquet"
)

// QueryRequest is the body of POST /api/v1/query: SQL over the products the
// caller may read, named as quoted identifiers, "<domain>/<name>" for the
// latest version or "<domain>/<name>@<version>" for one version.
type QueryRequest struct {
	SQL string `json:"sql"`
	// Format is QueryJSON (the default), QueryCSV or QueryParquet.
	Format string `json:"format,omitempty"`
	// Limit bounds the rows answered (0: the server's default); a result cut
	// short says so (QueryResult.Truncated, header X-Meshflow-Truncated).
	Limit int `json:"limit,omitempty"`
}

// QueryResult is the JSON answer of POST /api/v1/query.
type QueryResult struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
}
