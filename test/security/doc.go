// Package security holds meshflow's security suite: a table of attacks on the
// trust boundary (forged workflow inputs, forged and replayed sign-offs,
// sandbox escapes in transform SQL, reads without a grant, forged grants, open
// redirects, unverified identities, revoked links), each tried against a real
// Temporal server with real workers, DuckDB and a store, and each expected to
// be refused without a trace. Run it with
//
//	go test -v -run TestAttacks ./test/security
//
// and it prints how many attacks it tried and how many were refused.
package security
