// Package workflows holds meshflow's Temporal workflows: deterministic orchestration
// only, no I/O. ProductRefresh drives one data product through ingest, transform,
// validation, governance approval and publication, then refreshes the products that
// read it. The activities it calls are named in package refresh and implemented in
// package activities.
//
// # Changing workflow code
//
// Runs wait for approval for days, across deploys, and a new worker replays their
// history on its code. A change to what a workflow does (another activity, a
// different input, a different manifest under review) goes behind
// workflow.GetVersion with a change ID of its own (ChangeManifestProvenance is
// one): runs started before the deploy take the DefaultVersion path they took,
// new runs the new one. The histories under testdata/histories, recorded on
// earlier code, are replayed by the tests; scripts/multiprocess.sh deploys a
// worker built from an earlier commit, leaves a run waiting for approval on it,
// replaces it with the current build and checks which path each run took. A
// version branch can go once no run that started before it is open.
package workflows
