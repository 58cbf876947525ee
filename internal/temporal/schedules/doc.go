// Package schedules turns the `schedule` of each data product into a Temporal
// Schedule and keeps the two in step: `meshflow apply` calls Reconcile, and
// `meshflow schedule` and `meshflow backfill` call Pause, Resume, List and Backfill.
//
// # Names
//
// The schedule of product <domain>/<product> has the ID schedule/<domain>/<product>
// (IDPrefix). Each refresh it starts is a ProductRefresh workflow on the domain's
// task queue whose ID starts refresh/<domain>/<product>/scheduled (Temporal appends
// the scheduled time), with the search attributes MeshDomain, MeshProduct and
// MeshStage set as for a manual run, so runs from schedules and from `meshflow run`
// are listed together. The schedule itself carries MeshDomain and MeshProduct too.
//
// # Ownership
//
// A schedule belongs to meshflow when its ID starts with IDPrefix and its memo
// holds MemoManagedBy = ManagedBy (set when it is created; a schedule's memo cannot
// change later). Reconcile deletes only such schedules, and only when their
// product, or the product's schedule, is gone from the mesh. Schedules made by hand
// or by other tools are never touched; a schedule that has meshflow's ID but not its
// marker is an error that Reconcile reports instead of overwriting it.
//
// # Change detection
//
// The workflow action's memo (MemoApplied) records what the schedule was made from:
// the spec's schedule options and a SHA-256 of them together with the run's
// input. That input names only the product and the current mesh revision (trigger
// "schedule"): each scheduled run resolves its spec, contract, governance and
// policies from the revision current when it starts, and its submitter is the
// principal that applied that revision. So a change of the SQL or the contract
// needs no schedule update, only the apply that publishes the revision.
// Reconcile compares hashes instead of Temporal's normalised schedule structures,
// so applying an unchanged mesh changes nothing. The record lives in the action, not the schedule's memo, because only
// the action can be updated; it is therefore also in the memo of every scheduled
// run, naming the spec hash it ran with.
//
// # Pause state
//
// The spec's `paused` is applied when a schedule is created, and afterwards only
// when its value in the spec changes. A pause or resume with `meshflow schedule
// pause|resume` therefore survives later applies, including ones that change the
// cron or the SQL, until someone edits `paused` in the spec.
package schedules
