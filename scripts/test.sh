#!/usr/bin/env bash
# Runs meshflow's tests from a bare machine with Go: installs the test tools (a
# real S3 server), vets the code, runs every test (unit, end-to-end on an
# in-process Temporal server with DuckDB, S3 against versitygw), and runs each
# fuzz target briefly, the security suite (test/security, which prints how many
# attacks it tried), then the multi-process run with its faults
# (scripts/multiprocess.sh). This is the README's test command, and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-tools.sh
export PATH="$(go env GOPATH | cut -d: -f1)/bin:$PATH"

echo "== go vet"
go vet ./...

echo "== workflowcheck (workflow code must be deterministic)"
workflowcheck ./workflows/...

echo "== go test"
go test -count=1 -timeout 60m $(go list ./... | grep -v '/test/security$')

echo "== security suite (attacks on the trust boundary, each must be refused)"
security_log="$(mktemp)"
if ! go test -count=1 -v -timeout 20m ./test/security >"$security_log" 2>&1; then
	cat "$security_log"
	exit 1
fi
grep -E '^(    --- (PASS|FAIL)|security suite:|ok )' "$security_log"
rm -f "$security_log"

echo "== fuzz (briefly)"
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-15s}" -fuzzminimizetime 5s "$1"; }
fuzz ./internal/mesh/spec FuzzParseProduct
fuzz ./internal/contract FuzzLoad
fuzz ./rules FuzzCompile
fuzz ./internal/partition FuzzTemplate
echo "== multi-process run and its faults (Temporal on PostgreSQL, versitygw, two workers, serve)"
bash scripts/multiprocess.sh

echo "== all tests passed"
