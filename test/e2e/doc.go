// Package e2e holds meshflow's end-to-end tests: real Temporal server (in
// process), real DuckDB, real object stores (a local folder and versitygw for
// S3), real workers — the example mesh refreshed from ingest to publication,
// approvals delivered through the decide update, bad inputs failing clearly, and
// a worker killed in the middle of a refresh.
package e2e
