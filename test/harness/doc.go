// Package harness is the test harness that meshflow's end-to-end, reliability
// and security suites (test/e2e, test/reliability, test/security) share.
//
// Env is a real Temporal server in process (or one the test started itself,
// see Connect) with a store, a control client that signs requests as meshflow
// serve does, and mesh revisions, published to the store, that trust its key.
// StartWorkers runs the real workflows and activities on in-process workers,
// with the Publish activity optionally wrapped to inject a fault. Start, Result,
// Published and WaitStage start a refresh and wait for its result or stage,
// and Explain says where a run stands for a failure message. BuildMeshflow and
// StartProcess run the meshflow command in a child process. The fixtures are
// small products (TinyProduct, OrdersContract), a store in a temporary folder
// and the checked example mesh (CheckMesh).
//
// Other waits poll with package testwait, copies of a mesh folder come from
// package meshtest, and fixtures of the published store go through the real
// publisher with package publishtest.
//
// The package links the Temporal server, DuckDB and the workers: it is for the
// suites under test/ and for tests that link all of them anyway.
package harness
