// Package serve is the HTTP API of `meshflow serve`: the way approvals reach
// ProductRefresh runs in production. Every request under /api/v1 is
// authenticated (package auth); a decision is delivered to the run's `decide`
// Update with the authenticated principal, never a name from the request, and the
// run's Update validator decides whether that principal may decide. Every
// action serve forwards (a decision, a refresh, an access request, decision or
// revocation) is signed with serve's Ed25519 key (Config.Actions, a
// control.Client with a Signer): workflows refuse unsigned actions, so nobody
// with raw Temporal access can act in a person's name. A refused decision
// leaves no trace in the run; it is logged and counted.
//
// The wire types, the error format, the mapping of Temporal errors to statuses
// and the rules of a decision are package api's: serve reads requests and
// hands decisions to api.Decisions, the path the web inbox takes too, so a
// decision is judged and counted the same way from either. The Go client
// (Client) sends and reads the same api types.
//
// # API
//
// Every request under /api/v1 carries "Authorization: Bearer <token>": a token
// made by `meshflow token new` (its hash in mesh.yaml), or a JWT of the OIDC
// provider meshflow serve is configured with. Responses are JSON.
//
//	GET  /api/v1/approvals[?product=<domain>/<name>]
//	     Runs waiting for approval in which the caller is an approver:
//	     {"approvals": [{"workflowId", "runId", "status": <refresh.Status>}]}
//	GET  /api/v1/runs[?product=<domain>/<name>][&limit=<n>]
//	     Recent refresh runs, newest first (limit 1-100, default 20):
//	     {"runs": [{"workflowId", "runId", "product", "stage", "version", "status", "start", "close"}]}
//	GET  /api/v1/runs/<workflowId>
//	     One run's status; workflow IDs contain slashes (refresh/<domain>/<product>/<suffix>):
//	     {"workflowId", "status": <refresh.Status>}
//	POST /api/v1/decisions
//	     {"workflowId": "refresh/…", "approve": true, "comment": "…", "manifestHash": "…"}
//	     (api.DecisionRequest). workflowId, approve and manifestHash are required;
//	     a rejection needs a comment; a comment is at most 2000 bytes of text
//	     (api.MaxComment). Unknown fields are refused, so a body cannot name the
//	     principal. Answers api.Decided:
//	     {"workflowId", "principal", "decision": "approve"|"reject", "status": <refresh.Status>}.
//	POST /api/v1/refreshes
//	     {"product": "<domain>/<name>", "reason": "…"} starts a refresh submitted by
//	     the caller (who then may not approve it); answers 201
//	     {"workflowId", "runId", "principal"}.
//	POST /api/v1/access/requests
//	     {"product": "<domain>/<name>", "purpose": "…", "duration": "720h"} asks, as
//	     the caller, to read a product; answers 201 {"workflowId", "runId", "principal"}.
//	POST /api/v1/access/decisions
//	     {"target": "access/…" or "<domain>/<name>", "approve": true, "comment": "…"}
//	     decides as the caller; answers the request's <access.Status>.
//	POST /api/v1/access/revocations
//	     {"workflowId": "access/…", "reason": "…"} ends the grant as the caller;
//	     answers the request's <access.Status>.
//	POST /api/v1/query
//	     {"sql": "SELECT … FROM \"<domain>/<name>\"", "format": "json"|"csv"|"parquet",
//	     "limit": N} runs one SELECT (or WITH …) over the products it names as quoted
//	     identifiers, "<domain>/<name>" for the latest version or
//	     "<domain>/<name>@<version>" for a committed one. Each needs the caller's
//	     right to read it, decided as for a download (403 no_grant, 404
//	     unknown_version); its data is downloaded, checksum verified, into a folder
//	     of this query only, the one folder its sandboxed DuckDB may read (no other
//	     file, no network, configuration locked), under a time limit, a memory limit
//	     and a row limit. JSON answers {"columns": […], "rows": [[…]], "truncated":
//	     bool}; CSV (with a header) and Parquet answer the file, with
//	     X-Meshflow-Truncated: true|false. Errors: 400 bad_query (not one query, a
//	     bind error, a file outside the sandbox), 422 query_limit (out of memory or
//	     spill space), 504 query_timeout.
//	GET  /metrics
//	     Prometheus metrics of the registry the server was built with (not authenticated).
//
// Errors are {"error": "<what went wrong, in words>", "code": "<stable code>"}
// (api.Error); the Go client returns them as *api.Error:
//
//	400 bad_json, unknown_field, missing_field, bad_request, comment_required (a
//	    rejection without a comment), bad_comment (over 2000 bytes, or not text)
//	401 unauthenticated (missing header, malformed, unknown, forged or expired token, unknown principal)
//	403 refused (the workflow's rules do not let the caller act: not an approver, the
//	    submitter of the run, a member of a group that has its quorum; or not allowed
//	    to start a refresh); no_grant, bad_link (a download without a grant, a
//	    forged or expired download link)
//	404 unknown_run, not_found, unknown_product, unknown_version
//	405 method_not_allowed
//	409 not_waiting (the run is not waiting for approval, or was decided meanwhile),
//	    superseded (a newer run of the product superseded the run: the message names it),
//	    manifest_mismatch (the run reviews another manifest than the one decided on),
//	    repeat_vote (the caller has decided on the run already)
//	413 too_large (body over 64 KiB)
//	500 no_signer (serve holds no signing key)
//	502 temporal (Temporal could not be reached or answered with an error), store
//	503 auth_unavailable (the identity provider's keys could not be fetched)
//
// # Metrics
//
//	meshflow_approvals_decided_total{decision="approve"|"reject"}  accepted
//	    decisions, from the API and the web inbox, each counted once
//	meshflow_approvals_refused_total{reason}  decisions refused, by reason: the
//	    authentication reason (missing_header, malformed_token, unknown_token,
//	    bad_signature, expired, …), bad_json, unknown_field, missing_field,
//	    too_large, bad_request, comment_required, bad_comment, csrf (inbox),
//	    unknown_run, not_waiting, superseded, not_approver, submitter, repeat_vote,
//	    manifest_mismatch, refused
//	meshflow_api_auth_failures_total{reason}  failed authentications on any endpoint
package serve
