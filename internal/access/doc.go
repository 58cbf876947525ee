// Package access defines what travels between the AccessRequest workflow, its
// activities and its clients: the names of the workflow, its updates, signal,
// query, activities and stages, the request, the decision and the grant, and the
// S3 bucket-policy statements that export grants to production buckets.
//
// Like package refresh it imports nothing heavy (no DuckDB, no AWS, no CEL), so
// that the workflow code builds in seconds. Reading and writing grant objects in
// the store lives in package access/grants, which links the store.
package access
