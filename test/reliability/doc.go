// Package reliability holds meshflow's fault-injection tests: real Temporal server
// (in process, or the meshflow binary in a subprocess), real DuckDB, real object
// stores (a local folder, versitygw for S3), real workers. Each test injects one
// fault into a product refresh — a worker that dies after publishing but before
// reporting, two runs racing for a version, the S3 server stopped in the middle of
// a publication, corrupt or cut S3 responses, a runaway CEL rule, the Temporal
// server restarted while a run waits for approval — and ends with a
// reconciliation of everything the product has in the store: published versions
// equal the runs that reported them, each exactly once, their checksums match,
// latest moved forward only and no staging object is left.
//
// TestLoadManyProducts refreshes many tiny products through one worker; it runs
// only when MESHFLOW_LOAD is set.
package reliability
