// Package workflows holds meshflow's Temporal workflows: deterministic orchestration
// only, no I/O. ProductRefresh drives one data product through ingest, transform,
// validation, governance approval and publication, then refreshes the products that
// read it. The activities it calls are named in package refresh and implemented in
// package activities.
package workflows
