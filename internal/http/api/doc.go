// Package api is the contract of meshflow's JSON API, shared by the server
// packages (serve, web) and the Go client (serve.Client): the request and
// response types, the one error body, the one JSON writer, the strict body
// decoder, the mapping of Temporal and control errors to HTTP statuses, and the
// one path every approval decision takes, whether it comes from the API or from
// the web inbox.
//
// # Errors
//
// Every error is answered as {"error": "<what went wrong, in words>", "code":
// "<stable code>"} (Error). Errors of Temporal calls map to statuses by one rule
// (ControlError, and Decisions for the finer refusals of a decision):
//
//	400 the request is malformed (bad_json, unknown_field, missing_field, bad_request, …)
//	403 refused: the workflow's rules do not let this principal act (not an approver,
//	    the submitter of the run); 403 is for authorization only
//	404 unknown_run, not_found: no such run or request
//	409 the run's state does not accept the action: not_waiting (the run no longer
//	    waits for approval), manifest_mismatch (it reviews another manifest),
//	    repeat_vote (the principal has decided already)
//	500 no_signer: the server holds no signing key
//	502 temporal: Temporal could not be reached or answered with another error
//
// # Decisions
//
// Decisions.Decide is the only way a decision reaches a run from HTTP. Its
// rules: workflowId, approve and manifestHash are required (400
// missing_field); the workflow ID names a refresh run (404 unknown_run); a
// comment is at most MaxComment bytes of text, surrounding space trimmed (400
// bad_comment); a rejection needs a comment, because the owners must learn what
// to fix and the rejection reason is what the run records (400
// comment_required); the run must exist and wait for approval before the
// decision is signed and sent (404, 409). The run's validator then has the last
// word. Each accepted decision is counted once in
// meshflow_approvals_decided_total{decision}, each refusal in
// meshflow_approvals_refused_total{reason}.
package api
