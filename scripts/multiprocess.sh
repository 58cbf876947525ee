#!/usr/bin/env bash
# A real multi-process run of meshflow: PostgreSQL (Debian's postgresql, a
# throwaway cluster in a temporary folder), `meshflow temporal-server` on it as a
# process of its own, versitygw as S3, two `meshflow worker` processes with
# separate scratch folders, and `meshflow serve`. It refreshes the example mesh,
# approves the KPIs, checks that the 5 products are published on S3, then kills
# one worker with SIGKILL during a second refresh and checks that the refresh
# still completes. Everything it starts is stopped on exit; timings are printed
# at the end.
#
#   scripts/multiprocess.sh          (from the repository root; root or a user
#                                     who can run initdb)
#
# Needs: Go, versitygw (scripts/install-test-tools.sh), and PostgreSQL's
# initdb/pg_ctl (installed with apt-get when missing and running as root).
# KEEP=1 keeps the temporary folder with every process's log.
set -euo pipefail

cd "$(dirname "$0")/.."
t0=$SECONDS
declare -a timings=()
mark() { timings+=("$(printf '%-72s %4ds' "$1" $((SECONDS - t0)))"); echo "== $1 ($((SECONDS - t0))s)"; }

work="$(mktemp -d /tmp/meshflow-mp.XXXXXX)"
chmod 755 "$work"
declare -a pids=()
pg_ctl_cmd=()
cleanup() {
	local rc=$?
	set +e
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -INT "${pids[i]}" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	if ((${#pg_ctl_cmd[@]})); then
		"${pg_ctl_cmd[@]}" stop -m fast >/dev/null 2>&1
	fi
	if ((rc != 0)); then
		echo "FAILED (exit $rc); logs in $work:" >&2
		for f in "$work"/*.log; do echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; done
	elif [[ -z "${KEEP:-}" ]]; then
		rm -rf "$work"
	fi
	exit $rc
}
trap cleanup EXIT

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND every half second.
wait_for() {
	local what="$1" secs="$2"
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null || { echo "a process exited while waiting for $what" >&2; return 1; }
		done
		if ((SECONDS >= end)); then
			echo "timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.5
	done
}

# --- PostgreSQL -------------------------------------------------------------
pgbin=""
find_pgbin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x "$d/initdb" ]] && { pgbin="$d"; return 0; }
	done
	command -v initdb >/dev/null && { pgbin="$(dirname "$(command -v initdb)")"; return 0; }
	return 1
}
if ! find_pgbin; then
	echo "installing Debian's postgresql"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	find_pgbin
fi
as_pg=()
if [[ $(id -u) == 0 ]]; then
	as_pg=(runuser -u postgres --)
	chown postgres "$work"
fi
pgdata="$work/pgdata"
pgport=$(free_port)
export PGPASSWORD_TEMPORAL="temporal-$RANDOM$RANDOM"
echo "$PGPASSWORD_TEMPORAL" >"$work/pwfile"
chmod 644 "$work/pwfile"
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdata" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$work/pwfile" >"$work/initdb.log" 2>&1
pg_ctl_cmd=("${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" -w)
"${pg_ctl_cmd[@]}" -l "$work/postgres.log" -o "-p $pgport -h 127.0.0.1 -k $work -c fsync=off" start >/dev/null
psql_pg() { "${as_pg[@]}" psql -h "$work" -p "$pgport" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql_pg -c "CREATE ROLE temporal LOGIN PASSWORD '$PGPASSWORD_TEMPORAL'" \
	-c "CREATE DATABASE temporal OWNER temporal" -c "CREATE DATABASE temporal_visibility OWNER temporal"
mark "PostgreSQL $(basename "$(dirname "$pgbin")") on :$pgport"

# --- meshflow and Temporal --------------------------------------------------
go build -o "$work/meshflow" ./cmd/meshflow
mf="$work/meshflow"
mark "meshflow built"
tport=$(free_port)
uiport=$(free_port)
"$mf" temporal-server --postgres-host 127.0.0.1 --postgres-port "$pgport" --postgres-user temporal \
	--postgres-password-env PGPASSWORD_TEMPORAL --postgres-db temporal \
	--frontend-port "$tport" --ui-port "$uiport" >"$work/temporal.log" 2>&1 &
pids+=($!)
wait_for "Temporal server" 180 grep -q "Ctrl-C stops it" "$work/temporal.log"
mark "Temporal on PostgreSQL (schema set up) :$tport"
export MESHFLOW_TEMPORAL_ADDRESS="127.0.0.1:$tport"
tflags=(--temporal-address "127.0.0.1:$tport")

# --- versitygw --------------------------------------------------------------
vgw="$(command -v versitygw || echo "$(go env GOPATH | cut -d: -f1)/bin/versitygw")"
[[ -x "$vgw" ]] || { echo "versitygw missing: run scripts/install-test-tools.sh" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=meshflow AWS_SECRET_ACCESS_KEY=meshflow-secret AWS_REGION=us-east-1
s3port=$(free_port)
mkdir -p "$work/s3/meshflow"
"$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --region "$AWS_REGION" \
	--port "127.0.0.1:$s3port" --quiet posix "$work/s3" >"$work/versitygw.log" 2>&1 &
pids+=($!)
wait_for versitygw 30 bash -c "echo >/dev/tcp/127.0.0.1/$s3port"
store=(--store s3://meshflow/mesh --s3-endpoint "http://127.0.0.1:$s3port" --s3-path-style --s3-region "$AWS_REGION")
mark "versitygw :$s3port"

# --- the mesh, with an API token for the approver ---------------------------
# meshflow serve only starts when a principal has a token: give maria.rossi one
# in a copy of the example mesh.
cp -r examples/mesh "$work/mesh"
tokenout="$("$mf" token new --mesh "$work/mesh" maria.rossi)"
token="$(awk '$1 ~ /^mf_/ { print $1 }' <<<"$tokenout")"
hash="$(awk '$1 == "tokenHash:" { print $2 }' <<<"$tokenout")"
sed -i "s|^\(  - {name: maria.rossi, .*\)}$|\1, tokenHash: \"$hash\"}|" "$work/mesh/mesh.yaml"
grep -q "$hash" "$work/mesh/mesh.yaml"
mesh=(--mesh "$work/mesh")

# --- workers and serve ------------------------------------------------------
declare -a worker_pids=()
for w in a b; do
	mkdir -p "$work/scratch-$w"
	"$mf" worker "${tflags[@]}" "${mesh[@]}" "${store[@]}" --scratch "$work/scratch-$w" \
		--metrics-listen "127.0.0.1:$(free_port)" >"$work/worker-$w.log" 2>&1 &
	pids+=($!)
	worker_pids+=($!)
done
apiport=$(free_port)
"$mf" serve "${tflags[@]}" "${mesh[@]}" "${store[@]}" --listen "127.0.0.1:$apiport" \
	--temporal-ui "http://127.0.0.1:$uiport" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_for "meshflow serve" 60 curl -fsS -o /dev/null "http://127.0.0.1:$apiport/metrics"
curl -fsS "http://127.0.0.1:$apiport/api/v1/products" >/dev/null || true
mark "2 workers + meshflow serve :$apiport"

# --- first refresh of the mesh ----------------------------------------------
roots=(finance/fx-rates sales-china/regional-sales sales-emea/regional-sales supply-chain/delivery-performance)
declare -a run_pids=()
for p in "${roots[@]}"; do
	"$mf" run "${tflags[@]}" "${mesh[@]}" --as meshflow --wait "$p" >"$work/run-${p//\//_}.log" 2>&1 &
	run_pids+=($!)
done
for pid in "${run_pids[@]}"; do wait "$pid"; done
mark "4 root products refreshed"
# maria.rossi approves through meshflow serve's API, with her token.
wait_for "finance/global-kpis awaiting approval" 180 \
	"$mf" approve --server "http://127.0.0.1:$apiport" --token "$token" --comment "multi-process run" finance/global-kpis
mark "finance/global-kpis approved (as maria.rossi, through meshflow serve)"
wait_for "5 published products" 180 bash -c "[[ \$('$mf' catalog list ${store[*]} 2>/dev/null | grep -c -E '^[a-z-]+/[a-z-]+') -ge 5 ]]"
"$mf" catalog list "${store[@]}" | tee "$work/catalog.txt"
mark "5 products published on S3"

# --- second refresh with a worker killed ------------------------------------
# The worker that gets a new session folder in its scratch is the one running
# the refresh's stages: kill that one, with SIGKILL, while it works.
before=("$(ls "$work/scratch-a" | wc -l)" "$(ls "$work/scratch-b" | wc -l)")
"$mf" run "${tflags[@]}" "${mesh[@]}" --as anna.schmidt --wait sales-emea/regional-sales >"$work/run-second.log" 2>&1 &
second=$!
victim=""
for _ in $(seq 1 600); do
	for i in 0 1; do
		w=$([[ $i == 0 ]] && echo a || echo b)
		if (($(ls "$work/scratch-$w" | wc -l) > before[i])); then
			victim=$w
			kill -KILL "${worker_pids[i]}"
			break 2
		fi
	done
	kill -0 "$second" 2>/dev/null || break
	sleep 0.05
done
if [[ -z "$victim" ]]; then
	echo "no worker was seen working on the second refresh before it ended" >&2
	exit 1
fi
echo "killed worker $victim with SIGKILL while it ran the refresh's stages"
kill_at=$SECONDS
wait "$second"
disown -a 2>/dev/null || true
tail -n 3 "$work/run-second.log"
echo "the refresh ended $((SECONDS - kill_at))s after the kill"
mark "second refresh completed with one worker killed"

echo
echo "timings (seconds since start):"
printf '  %s\n' "${timings[@]}"
