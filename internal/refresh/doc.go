// Package refresh defines what travels between the ProductRefresh workflow, its
// activities and its clients: the product as the workflow sees it, the names of the
// activities, update, query and search attributes, the inputs and results of every
// stage, the quality summary, the manifest of a published version and the run's
// status. It imports nothing heavy (no DuckDB, no AWS, no CEL), so the workflow
// code and its tests build in seconds; the activities that do the work live in
// package activities and register under the names declared here.
//
// Datasets never travel in these types: only references to objects in the store
// (key, size, checksum).
package refresh
