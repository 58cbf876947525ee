#!/usr/bin/env bash
# Installs the tools that meshflow's tests need and that Go modules cannot
# provide as libraries. Idempotent: a tool already installed at the wanted
# version is left alone. Called by CI before the tests.
#
#   versitygw      a real S3 server, for the storage package's S3 tests
#                  (>= v1.8.0: older versions let several conditional writers win).
#   workflowcheck  the static check that workflow code is deterministic.
#   chromium       the headless browser of the web pages' tests (Debian).
#   postgresql     Temporal's database in scripts/multiprocess.sh (Debian).
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"

gobin="$(go env GOBIN)"
if [[ -z "$gobin" ]]; then
	gobin="$(go env GOPATH | cut -d: -f1)/bin"
fi

installed_version() {
	local bin="$1"
	# "versitygw --version" prints the version it was built with; a binary
	# built by "go install" reports its module version in its build info.
	go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/versity/versitygw" { print $3 }'
}

bin="$gobin/versitygw"
if [[ -x "$bin" && "$(installed_version "$bin")" == "$VERSITYGW_VERSION" ]]; then
	echo "versitygw $VERSITYGW_VERSION already installed at $bin"
else
	echo "installing versitygw $VERSITYGW_VERSION into $gobin (takes a few minutes on two cores)"
	go install "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"
fi

# workflowcheck: static check that workflow code is deterministic.
WORKFLOWCHECK_VERSION="${WORKFLOWCHECK_VERSION:-v0.6.0}"
wc_bin="$gobin/workflowcheck"
if [[ -x "$wc_bin" ]] && go version -m "$wc_bin" 2>/dev/null | grep -q "workflowcheck[[:space:]]*${WORKFLOWCHECK_VERSION}"; then
	echo "workflowcheck $WORKFLOWCHECK_VERSION already installed at $wc_bin"
else
	echo "installing workflowcheck $WORKFLOWCHECK_VERSION into $gobin"
	go install "go.temporal.io/sdk/contrib/tools/workflowcheck@${WORKFLOWCHECK_VERSION}"
fi

# chromium: the headless browser that internal/http/web/browser_test.go drives with chromedp.
# Debian's package, found at /usr/bin/chromium.
if command -v chromium >/dev/null 2>&1; then
	echo "chromium already installed at $(command -v chromium)"
else
	echo "installing chromium (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y chromium
fi

# postgresql: the database scripts/multiprocess.sh runs the Temporal server on
# (a throwaway cluster made with initdb; the Debian service is not used).
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
	echo "postgresql already installed ($(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | head -n 1))"
else
	echo "installing postgresql (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y postgresql
fi
