package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.temporal.io/sdk/temporal"
)

// MaxComment bounds a decision's comment, in bytes.
const MaxComment = 2000

// Bounds of the other fields of a decision, in bytes.
const (
	maxWorkflowID   = 300
	maxManifestHash = 200
)

// The error codes only decisions answer with.
const (
	CodeBadComment       = "bad_comment"
	CodeCommentRequired  = "comment_required"
	CodeManifestMismatch = "manifest_mismatch"
	CodeRepeatVote       = "repeat_vote"
	// CodeSuperseded answers a decision on a run that a newer run of the same
	// product superseded (409): the steward decides on the newer run.
	CodeSuperseded = "superseded"
)

// StatusReader reads a run's status; *control.Client has it.
type StatusReader interface {
	Status(ctx context.Context, workflowID, runID string) (refresh.Status, error)
}

// Decider is what decisions need from Temporal; *control.Client has it, and
// signs each decision with serve's key (control.Client.Signer).
type Decider interface {
	StatusReader
	Decide(ctx context.Context, ref, workflowID string, d refresh.Decision) (refresh.Status, error)
}

// Caller is who sends a decision, for the log.
type Caller struct {
	// Principal is who authenticated; a decision never names anyone else.
	Principal string
	// Remote is the client's address; Via names where the decision came from
	// ("api", "inbox").
	Remote, Via string
}

// Decisions is the one path of approval decisions: the API's POST
// /api/v1/decisions and the web inbox's form both deliver through it, so that
// one set of rules decides and each decision is counted once. Build one per
// process and share it.
type Decisions struct {
	runs    Decider
	log     *slog.Logger
	decided *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// NewDecisions returns the decision path delivering through runs, with its
// metrics registered on reg; a nil log means slog.Default().
func NewDecisions(runs Decider, reg prometheus.Registerer, log *slog.Logger) *Decisions {
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	return &Decisions{
		runs: runs,
		log:  log,
		decided: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_approvals_decided_total",
			Help: "Decisions delivered through the API or the web inbox and accepted by the run, by decision (approve, reject).",
		}, []string{"decision"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshflow_approvals_refused_total",
			Help: "Decisions refused before or by the run, by reason.",
		}, []string{"reason"}),
	}
}

// Refused counts a decision that was refused before it could be read, such
// as one whose caller could not be authenticated (already logged).
func (d *Decisions) Refused(reason string) {
	d.refused.WithLabelValues(reason).Inc()
}

// Refuse logs and counts a decision refused before it reached Decide (a body
// or form that could not be read) and returns e.
func (d *Decisions) Refuse(by Caller, reason string, e *Error) *Error {
	return d.refuse(by, "", reason, e)
}

func (d *Decisions) refuse(by Caller, workflowID, reason string, e *Error) *Error {
	d.refused.WithLabelValues(reason).Inc()
	d.log.Warn("decision refused", "principal", by.Principal, "workflow_id", workflowID, "reason", reason, "status", e.Status,
		"error", e.Message, "remote", by.Remote, "via", by.Via)
	return e
}

// failed logs an error of Temporal or of the server (not a refusal: it is not
// counted) and returns e.
func (d *Decisions) failed(by Caller, workflowID string, e *Error) *Error {
	d.log.Error("decision not delivered", "principal", by.Principal, "workflow_id", workflowID, "error", e.Message, "via", by.Via)
	return e
}

// Decide checks req by the rules of the package documentation and delivers it
// in by.Principal's name to the run, whose validator has the last word.
func (d *Decisions) Decide(ctx context.Context, by Caller, req DecisionRequest) (Decided, *Error) {
	req.Comment = strings.TrimSpace(req.Comment)
	if e := check(req); e != nil {
		return Decided{}, d.refuse(by, req.WorkflowID, e.Code, e)
	}
	dec := refresh.Decision{Principal: by.Principal, Approve: *req.Approve, Comment: req.Comment, ManifestHash: req.ManifestHash}
	id := req.WorkflowID

	st, e := ReadRun(ctx, d.runs, id)
	switch {
	case e != nil && e.Status >= http.StatusInternalServerError:
		return Decided{}, d.failed(by, id, e)
	case e != nil:
		return Decided{}, d.refuse(by, id, e.Code, e)
	case st.Stage == refresh.StageSuperseded || st.SupersededBy != "":
		return Decided{}, d.refuse(by, id, CodeSuperseded, supersededError(id, st))
	case st.Stage != refresh.StageAwaitingApproval:
		return Decided{}, d.refuse(by, id, CodeNotWaiting, Errorf(http.StatusConflict, CodeNotWaiting,
			"run %s of %s is not waiting for approval (stage %s)", id, st.Product, st.Stage))
	}

	after, err := d.runs.Decide(ctx, "", id, dec)
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		// The run's validator refused: the caller reads its words. The status
		// comes from the run now (a run decided meanwhile is a conflict, not a
		// refusal).
		if now, err := d.runs.Status(ctx, id, ""); err == nil {
			st = now
		}
		if st.Stage == refresh.StageSuperseded || st.SupersededBy != "" {
			return Decided{}, d.refuse(by, id, CodeSuperseded, supersededError(id, st))
		}
		if st.Stage != refresh.StageAwaitingApproval {
			return Decided{}, d.refuse(by, id, CodeNotWaiting, &Error{Status: http.StatusConflict, Code: CodeNotWaiting, Message: appErr.Message()})
		}
		reason := refusalReason(st, dec)
		e := &Error{Status: http.StatusForbidden, Code: CodeRefused, Message: appErr.Message()}
		if reason == CodeManifestMismatch || reason == CodeRepeatVote {
			e.Status, e.Code = http.StatusConflict, reason
		}
		return Decided{}, d.refuse(by, id, reason, e)
	}
	if IsNotFound(err) {
		// The run closed between the status query and the update.
		return Decided{}, d.refuse(by, id, CodeNotWaiting, Errorf(http.StatusConflict, CodeNotWaiting, "run %s is no longer running", id))
	}
	if err != nil {
		return Decided{}, d.failed(by, id, ControlError("deliver the decision to "+id, err))
	}
	verdict := refresh.VerdictOf(dec.Approve)
	d.decided.WithLabelValues(string(verdict)).Inc()
	d.log.Info("decision accepted", "principal", by.Principal, "workflow_id", id, "decision", verdict, "manifest_hash", dec.ManifestHash,
		"remote", by.Remote, "via", by.Via)
	return Decided{WorkflowID: id, Principal: by.Principal, Decision: verdict, Status: after}, nil
}

// supersededError is the 409 of a decision on a superseded run: it names the
// newer run to decide on instead.
func supersededError(id string, st refresh.Status) *Error {
	return Errorf(http.StatusConflict, CodeSuperseded,
		"run %s of %s was superseded by %s, a newer run that waits for approval of newer data; review and decide on that run instead",
		id, st.Product, st.SupersededBy)
}

// check applies the rules a decision must meet before Temporal is asked; the
// comment is trimmed already.
func check(req DecisionRequest) *Error {
	var missing []string
	if req.WorkflowID == "" {
		missing = append(missing, "workflowId")
	}
	if req.Approve == nil {
		missing = append(missing, "approve")
	}
	if req.ManifestHash == "" {
		missing = append(missing, "manifestHash")
	}
	if len(missing) > 0 {
		return Errorf(http.StatusBadRequest, CodeMissingField,
			"read the decision: missing %s (approve is true or false; manifestHash is the hash of the manifest you reviewed, from GET /api/v1/runs/<workflowId>)",
			strings.Join(missing, ", "))
	}
	if e := checkRunID(req.WorkflowID); e != nil {
		return e
	}
	if len(req.ManifestHash) > maxManifestHash || !ValidText(req.ManifestHash) {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "the manifest hash must be text of at most %d bytes", maxManifestHash)
	}
	if len(req.Comment) > MaxComment || !ValidText(strings.NewReplacer("\n", " ", "\r", " ").Replace(req.Comment)) {
		return Errorf(http.StatusBadRequest, CodeBadComment, "the comment must be text of at most %d bytes", MaxComment)
	}
	if !*req.Approve && req.Comment == "" {
		return Errorf(http.StatusBadRequest, CodeCommentRequired, "a rejection needs a comment that tells the owners what to fix")
	}
	return nil
}

// checkRunID answers 404 unknown_run for an ID that cannot be a refresh run's.
func checkRunID(id string) *Error {
	if !strings.HasPrefix(id, "refresh/") || len(id) > maxWorkflowID || !ValidText(id) {
		return Errorf(http.StatusNotFound, CodeUnknownRun, "%q is not a refresh run; IDs look like refresh/<domain>/<product>/<suffix>", id)
	}
	return nil
}

// ReadRun reads the status of the refresh run id: 404 unknown_run for an ID
// that is not a refresh run's and for a run that does not exist, else what
// ControlError says.
func ReadRun(ctx context.Context, sr StatusReader, id string) (refresh.Status, *Error) {
	if e := checkRunID(id); e != nil {
		return refresh.Status{}, e
	}
	st, err := sr.Status(ctx, id, "")
	if IsNotFound(err) {
		return st, Errorf(http.StatusNotFound, CodeUnknownRun, "no run %s", id)
	}
	if err != nil {
		return st, ControlError("read status of "+id, err)
	}
	return st, nil
}

// refusalReason names, for metrics and the status code, why the validator
// refused d, from the status it was checked against. The validator's own
// message is what the caller reads.
func refusalReason(st refresh.Status, d refresh.Decision) string {
	switch {
	case d.Principal == st.Submitter:
		return "submitter"
	case d.ManifestHash != st.ManifestHash:
		return CodeManifestMismatch
	case control.DecidedBy(st, d.Principal):
		return CodeRepeatVote
	}
	for _, g := range st.Groups {
		if slices.Contains(g.Members, d.Principal) {
			return CodeRefused // a member of a group that has its quorum already
		}
	}
	return "not_approver"
}
