// Package activities implements the side effects of a product refresh: snapshotting
// inputs into staging, running the transform in DuckDB, checking the output against
// its contract and rules, and publishing an immutable version behind a conditionally
// written latest pointer. The activities are methods on Activities, which holds
// their dependencies; the worker registers them under the names in package refresh.
//
// The activities are thin where another package owns the concept: package layout
// names every key they write (staging and versions), package catalog reads what
// is published, package publish is the claim and commit protocol behind Publish,
// and package policy evaluates the mesh's policies on the facts it builds.
package activities
