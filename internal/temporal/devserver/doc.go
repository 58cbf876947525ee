// Package devserver runs a real Temporal server, and optionally the Temporal Web UI,
// inside the current process.
//
// It backs cmd/meshflow-temporal, the binary `meshflow dev` runs as a child
// process (see package devproc), and the end-to-end tests. The server keeps its state in a
// SQLite file below Config.DataDir, so namespaces and workflow histories survive a
// restart; with an empty DataDir it keeps everything in memory, which suits tests.
// Start registers the configured namespace and custom search attributes, so workers
// and clients can use them as soon as Start returns; MeshSearchAttributes are the
// ones meshflow's workflows need.
//
// The server is meant for one developer machine or one test process. Production
// deployments talk to a Temporal cluster or Temporal Cloud instead.
//
// Package devservertest wraps Start for tests in other packages.
package devserver
