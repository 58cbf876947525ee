package refresh

import (
	"path"
	"strings"
	"time"
)

// Workflow names.
const (
	// WorkflowProductRefresh refreshes one data product from ingest to publication.
	WorkflowProductRefresh = "ProductRefresh"
)

// Activity names. The workflow calls activities by these names; the worker
// registers the implementations in package activities under them.
const (
	ActivityIngest          = "Ingest"
	ActivityTransform       = "Transform"
	ActivityValidate        = "Validate"
	ActivityLatest          = "LatestManifest"
	ActivityPublish         = "Publish"
	ActivityInputsPublished = "InputsPublished"
	ActivityCleanup         = "CleanupStaging"
	ActivityGovern          = "Govern"
	ActivityResolve         = "ResolveProduct"
	ActivityAccessGranted   = "AccessGranted"
	// ActivityNotifyEscalation leaves the notification of an escalated
	// approval (EscalationInput).
	ActivityNotifyEscalation = "NotifyEscalation"
	// The stages of a partitioned product: plan the partitions, build them in
	// batches, check the version as a whole.
	ActivityPlanPartitions    = "PlanPartitions"
	ActivityBuildPartitions   = "BuildPartitions"
	ActivityCombinePartitions = "CombinePartitions"
	// ActivityRecordCheck records that a run found its output identical to
	// the latest version (CheckInput): the product was checked, and is fresh.
	ActivityRecordCheck = "RecordCheck"
	// ActivitySupersedeOlder asks the older runs of the product that wait for
	// approval to end as superseded (SupersedeOlderInput).
	ActivitySupersedeOlder = "SupersedeOlder"
	// ActivityVerifySupersede checks a supersede claim against Temporal's
	// record of the claiming run (VerifySupersedeInput).
	ActivityVerifySupersede = "VerifySupersede"
)

// Update, query and signal names.
const (
	// UpdateDecide carries a steward's approval or rejection (Decision).
	UpdateDecide = "decide"
	// QueryStatus answers the run's Status.
	QueryStatus = "status"
	// SignalDecide carries the same Decision as the update, for operators who send
	// it from the Temporal UI or CLI. A signal cannot be refused before it is
	// recorded, so the workflow checks it in its handler and records a refused one
	// as refused, never acting on it.
	SignalDecide = "decide-signal"
	// SignalSupersede tells a run waiting for approval that a newer run of the
	// same product waits too (Supersede). Anyone with access to Temporal can
	// send it, so the run believes it only after ActivityVerifySupersede has
	// found the claiming run in Temporal's record.
	SignalSupersede = "supersede"
)

// Search attribute names, registered on the namespace by `meshflow dev` (and by the
// operator in production, see deploy/).
const (
	SearchDomain  = "MeshDomain"
	SearchProduct = "MeshProduct"
	SearchStage   = "MeshStage"
	SearchVersion = "MeshVersion"
)

// SearchAttributes lists the search attributes meshflow needs; all are Keyword.
var SearchAttributes = []string{SearchDomain, SearchProduct, SearchStage, SearchVersion}

// Stage is where a refresh is.
type Stage string

// The stages of a refresh, in order, and its end states.
const (
	StageIngesting        Stage = "ingesting"
	StageTransforming     Stage = "transforming"
	StageValidating       Stage = "validating"
	StageAwaitingAccess   Stage = "awaiting-access"
	StageAwaitingApproval Stage = "awaiting-approval"
	StagePublishing       Stage = "publishing"
	StagePublished        Stage = "published"
	// StageUnchanged ends a run whose output is identical to the latest
	// version's, under the same contract: it publishes nothing and records the
	// check.
	StageUnchanged Stage = "unchanged"
	StageRejected  Stage = "rejected"
	StageExpired   Stage = "expired"
	// StageSuperseded ends a run that waited for approval when a newer run of
	// the same product reached approval: nobody approves its stale data.
	StageSuperseded Stage = "superseded"
	StageFailed     Stage = "failed"
)

// Final reports whether the stage ends the run.
func (s Stage) Final() bool {
	switch s {
	case StagePublished, StageUnchanged, StageRejected, StageExpired, StageSuperseded, StageFailed:
		return true
	}
	return false
}

// Error types of non-retryable application errors. Workflows and clients match on
// them with errors.As and temporal.ApplicationError.Type().
const (
	ErrBadInput     = "BadInput"       // an input is missing, malformed or of the wrong format
	ErrTransform    = "TransformError" // the transform SQL failed
	ErrContract     = "ContractViolation"
	ErrQuality      = "QualityFailed"   // an error-severity rule failed
	ErrBadSpec      = "BadSpec"         // the spec or contract in the input does not compile
	ErrNotPublished = "NotPublished"    // an input product has no published version (of the major it pins)
	ErrDeprecated   = "Deprecated"      // an input pins a major version past its deprecation date
	ErrVersionTaken = "VersionTaken"    // another run published this version first
	ErrPolicy       = "PolicyViolation" // an error-severity mesh policy does not hold
	ErrScratch      = "ScratchExceeded" // the run's files outgrew the worker's scratch budget for one run
	ErrUnauthorized = "Unauthorized"    // the run's request is not proven: unsigned, forged, expired, or on another product's task queue
	ErrNoRevision   = "NoMeshRevision"  // the mesh revision or the product in it does not exist
)

// The access modes of a product.
const (
	AccessOpen       = "open"
	AccessRestricted = "restricted"
)

// WorkflowID returns the ID of a refresh run of a product: refresh/<domain>/<product>/<suffix>.
func WorkflowID(ref, suffix string) string { return "refresh/" + ref + "/" + suffix }

// ApprovalMode says when a new version of a product needs its stewards' sign-off.
type ApprovalMode string

// The approval modes of a product.
const (
	ApprovalNever            ApprovalMode = "never"              // versions are approved automatically
	ApprovalAlways           ApprovalMode = "always"             // every version needs the stewards
	ApprovalOnBreakingChange ApprovalMode = "on-breaking-change" // breaking or failing versions need them
)

// DefaultApprovalTimeout is how long a run waits for sign-off when its
// governance names no timeout.
const DefaultApprovalTimeout = 48 * time.Hour

// Verdict is a steward's decision on a run or an access request.
type Verdict string

// The verdicts.
const (
	Approve Verdict = "approve"
	Reject  Verdict = "reject"
)

// VerdictOf returns Approve for true and Reject for false.
func VerdictOf(approve bool) Verdict {
	if approve {
		return Approve
	}
	return Reject
}

// WaitOutcome says how a run's wait for approval ended.
type WaitOutcome string

// The outcomes of a wait for approval.
const (
	WaitApproved WaitOutcome = "approved"
	WaitRejected WaitOutcome = "rejected"
	WaitExpired  WaitOutcome = "expired"
)

// Bump says which part of the semantic version a new version raises.
type Bump string

// The bumps: major for a breaking change, minor otherwise.
const (
	BumpMajor Bump = "major"
	BumpMinor Bump = "minor"
)

// BadRows says what reading an input does with a line that is not a row.
type BadRows string

// The bad-row modes of CSV and JSON lines inputs.
const (
	BadRowsFail       BadRows = "fail"       // the run fails, naming the line (the default)
	BadRowsQuarantine BadRows = "quarantine" // the line is kept in the version's rejects, with its file, line and error
)

// Format is the format of a product's input.
type Format string

// The input formats meshflow reads.
const (
	FormatCSV     Format = "csv"
	FormatJSON    Format = "jsonl" // newline-delimited JSON
	FormatParquet Format = "parquet"
)

// CompressionOfName returns the compression suffix of a file name, ".gz" (gzip)
// or ".zst" (zstd), as the name writes it; "" for an uncompressed name.
func CompressionOfName(name string) string {
	switch ext := path.Ext(name); strings.ToLower(ext) {
	case ".gz", ".zst":
		return ext
	}
	return ""
}

// FormatOfName returns the format that a file name's extension says, "" when it
// says none; a compression suffix (.gz, .zst) is looked through.
func FormatOfName(name string) Format {
	name = strings.TrimSuffix(name, CompressionOfName(name))
	switch strings.ToLower(path.Ext(name)) {
	case ".csv", ".tsv", ".txt":
		return FormatCSV
	case ".jsonl", ".ndjson", ".json":
		return FormatJSON
	case ".parquet":
		return FormatParquet
	}
	return ""
}
