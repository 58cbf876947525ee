#!/usr/bin/env bash
# A real multi-process run of meshflow, then the faults that need separate
# processes, each followed by `meshflow catalog audit` (every committed version
# once, checksums match, latest only moves forward, no claim outside the chain):
#
#   PostgreSQL (Debian's postgresql, a throwaway cluster in a temporary folder),
#   meshflow-temporal (cmd/meshflow-temporal) on it as a process of its own, versitygw as S3,
#   two `meshflow worker` processes with separate scratch folders, and
#   `meshflow serve`. It refreshes the example mesh and approves the KPIs
#   through serve's API with a steward's token, then:
#   F1  kills (SIGKILL) the worker running a refresh's stages: the other worker
#       finishes it, and the data is byte-identical to the undisturbed refresh;
#   P   backfills the partitioned supply-chain/daily-deliveries (122 days)
#       over both workers and SIGKILLs one of them while both build batches:
#       the backfill completes, the audit is clean, and every partition's
#       objects are byte-identical to a build on one worker;
#   F5  restarts the Temporal server while a run waits for approval: the
#       approval given after the restart publishes;
#   F4  stops the S3 server while an approved run publishes, starts it again:
#       the run completes, latest.json did not move meanwhile;
#   F3  races a manual refresh with the scheduled runs of a backfill: each
#       version is published once, every loser stops with VersionTaken;
#   F8  deploys over a waiting run: a worker built from the commit before
#       ChangeManifestProvenance takes a run to approval and is replaced by the
#       current build; the old run still reviews the same manifest, and once
#       approved fails safe without publishing (its checks are not staged in
#       the store, which the current Publish believes); a new run publishes;
#   S   attacks as an outsider with raw Temporal access (test/security/attack):
#       forged inputs, unsigned requests, forged decide updates and signals and
#       a self-approved access request are refused; a grant file written
#       straight into the bucket is named by the audit.
# The mesh is applied as a mesh revision first; people act only through
# meshflow serve, which signs what it forwards.
# F2, F6 and F7 need hooks inside a process and are Go tests
# (test/reliability). Everything started is stopped on exit; timings are printed
# at the end.
#
#   scripts/multiprocess.sh          (from the repository root; root or a user
#                                     who can run initdb)
#
# Needs: Go, the git history back to the F8 commit, versitygw
# (scripts/install-test-tools.sh), and PostgreSQL's initdb/pg_ctl (installed with
# apt-get when missing and running as root). KEEP=1 keeps the temporary folder
# with every process's log.
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

# free_port: a port nothing listens on and not handed out before. It runs in
# command substitutions, whose subshells may draw the same $RANDOM: the ports
# handed out are kept in a file, so two processes started one after the other
# never get the same one before either binds it.
free_port() {
	local p
	while :; do
		p=$((20000 + (RANDOM * 32768 + RANDOM + BASHPID) % 40000))
		grep -qx "$p" "$work/ports" 2>/dev/null && continue
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p" >>"$work/ports"; echo "$p"; return; }
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

# --- helpers for the processes that come and go ------------------------------
# forget PID: a process stopped on purpose is no longer watched by wait_for.
forget() {
	local keep=() p
	for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
}
# stop PID: SIGINT, then wait until it has exited.
stop() {
	forget "$1"
	kill -INT "$1" 2>/dev/null || true
	for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	echo "process $1 did not stop within 30s" >&2
	return 1
}
declare -A worker_pid=()
# start_worker NAME BINARY [MESH-DIR]: a worker with its own scratch folder and log.
start_worker() {
	mkdir -p "$work/scratch-$1"
	"$2" worker -v "${tflags[@]}" --mesh "${3:-$work/mesh}" "${store[@]}" --scratch "$work/scratch-$1" \
		--metrics-listen "127.0.0.1:$(free_port)" >>"$work/worker-$1.log" 2>&1 &
	pids+=($!)
	worker_pid[$1]=$!
}
start_temporal() {
	"$work/meshflow-temporal" --postgres-host 127.0.0.1 --postgres-port "$pgport" --postgres-user temporal \
		--postgres-password-env PGPASSWORD_TEMPORAL --postgres-db temporal \
		--frontend-port "$tport" --ui-port "$uiport" >>"$work/temporal.log" 2>&1 &
	temporal_pid=$!
	pids+=($!)
}
start_s3() {
	"$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --region "$AWS_REGION" \
		--port "127.0.0.1:$s3port" --quiet posix "$work/s3" >>"$work/versitygw.log" 2>&1 &
	s3_pid=$!
	pids+=($!)
	wait_for versitygw 30 bash -c "echo >/dev/tcp/127.0.0.1/$s3port"
}
# audit WHEN: meshflow catalog audit must find every guarantee kept.
audit() {
	if ! "$mf" catalog audit "${store[@]}" >"$work/audit.txt" 2>&1; then
		cat "$work/audit.txt" >&2
		echo "the audit after $1 found broken guarantees" >&2
		return 1
	fi
	if grep -q "were claimed by runs that did not commit them" "$work/audit.txt"; then
		cat "$work/audit.txt" >&2
		echo "the audit after $1 found claims outside the chain" >&2
		return 1
	fi
	grep -c '^ok ' "$work/audit.txt" | xargs echo "audit after $1: products ok:"
}
# stage_of ID: the stage of a run.
stage_of() { "$mf" status "${tflags[@]}" "$1" | awk '$1 == "stage" { print $2 }'; }
# hash_of ID: the manifest under review in a run.
hash_of() { "$mf" status "${tflags[@]}" "$1" | awk '$1 == "manifest" { print $2 }'; }
# as PRINCIPAL: the flags that act as PRINCIPAL through meshflow serve.
as() { echo --server "http://127.0.0.1:$apiport" --token "${tokens[$1]}"; }
# start_run PRODUCT AS: starts a refresh through meshflow serve, in AS's name,
# and prints its workflow ID.
start_run() { "$mf" run "${tflags[@]}" $(as "$2") "$1" | awk '$1 == "started" { print $2 }'; }
# approve ID: maria.rossi approves run ID through meshflow serve's API.
approve() {
	"$mf" approve --server "http://127.0.0.1:$apiport" --token "$token" --comment "multi-process run" --run "$1" finance/global-kpis
}
# version_dir PRODUCT VERSION: the version's folder in versitygw's posix backend.
version_dir() { echo "$work/s3/meshflow/mesh/$1/v$2"; }
latest_of() { sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$work/s3/meshflow/mesh/$1/latest.json"; }

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
go build -o "$work/meshflow-temporal" ./cmd/meshflow-temporal
go build -o "$work/attack" ./test/security/attack
mf="$work/meshflow"
mark "meshflow built"
# F8's old build: the last commit before ChangeManifestProvenance.
f8_commit=2736c82458e005c5164aa0d77da7fb6379e18b45
if ! git cat-file -e "$f8_commit^{commit}" 2>/dev/null; then
	echo "commit $f8_commit (F8's old build) is not in this clone; fetch the history (git fetch --unshallow)" >&2
	exit 1
fi
mkdir "$work/old-src"
git archive "$f8_commit" | tar -x -C "$work/old-src"
(cd "$work/old-src" && go build -tags nodev -o "$work/meshflow-old" ./cmd/meshflow)
mf_old="$work/meshflow-old"
mark "meshflow of commit ${f8_commit:0:7} built (for F8)"
tport=$(free_port)
uiport=$(free_port)
start_temporal
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
start_s3
store=(--store s3://meshflow/mesh --s3-endpoint "http://127.0.0.1:$s3port" --s3-path-style --s3-region "$AWS_REGION")
mark "versitygw :$s3port"

# --- the mesh, with API tokens, applied as a mesh revision -------------------
# People act only through meshflow serve: give a steward of each domain a token
# in a copy of the example mesh (a product's owner team and stewards may start
# its refreshes; maria.rossi approves the KPIs that omar.haddad starts).
cp -r examples/mesh "$work/mesh"
# The faults rerun products over the same inputs and need each rerun to
# publish: an identical output would otherwise end unchanged.
for spec in "$work"/mesh/*/*.yaml; do
	[[ "$spec" == *.odcs.yaml ]] && continue
	if grep -q '^output:' "$spec"; then
		sed -i 's/^output:$/output:\n  unchanged: publish/' "$spec"
	else
		printf 'output:\n  format: parquet\n  unchanged: publish\n' >>"$spec"
	fi
done
declare -A tokens=()
for who in maria.rossi omar.haddad anna.schmidt li.wei tom.baker; do
	tokenout="$("$mf" token new --mesh "$work/mesh" "$who")"
	tokens[$who]="$(awk '$1 ~ /^mf_/ { print $1 }' <<<"$tokenout")"
	hash="$(awk '$1 == "tokenHash:" { print $2 }' <<<"$tokenout")"
	sed -i "s|^\(  - {name: $who, .*\)}$|\1, tokenHash: \"$hash\"}|" "$work/mesh/mesh.yaml"
	grep -q "$hash" "$work/mesh/mesh.yaml"
done
token="${tokens[maria.rossi]}"
mesh=(--mesh "$work/mesh")
# serve signs what it forwards; the revision that workers trust holds its key.
pubkey="$("$mf" keys new --out "$work/serve.key" | awk '$1 ~ /^ed25519:/ { print $1 }')"
keyflags=(--signing-public-key "$pubkey")
"$mf" apply --no-schedules "${store[@]}" "${keyflags[@]}" "$work/mesh" | tee "$work/apply-revision.log"
grep -q "published mesh revision" "$work/apply-revision.log"
mark "mesh applied as a revision on S3 (serve's key $(cut -c1-20 <<<"$pubkey")…)"

# --- workers and serve ------------------------------------------------------
start_worker a "$mf"
start_worker b "$mf"
apiport=$(free_port)
"$mf" serve "${tflags[@]}" "${mesh[@]}" "${store[@]}" --listen "127.0.0.1:$apiport" --signing-key-file "$work/serve.key" \
	--temporal-ui "http://127.0.0.1:$uiport" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_for "meshflow serve" 60 curl -fsS -o /dev/null "http://127.0.0.1:$apiport/metrics"
mark "2 workers + meshflow serve :$apiport"

# --- first refresh of the mesh ----------------------------------------------
roots=(finance/fx-rates sales-china/regional-sales sales-emea/regional-sales supply-chain/delivery-performance)
declare -a run_pids=()
declare -A steward_of=([finance]=omar.haddad [sales-china]=li.wei [sales-emea]=anna.schmidt [supply-chain]=tom.baker)
for p in "${roots[@]}"; do
	"$mf" run "${tflags[@]}" $(as "${steward_of[${p%%/*}]}") --wait "$p" >"$work/run-${p//\//_}.log" 2>&1 &
	run_pids+=($!)
done
for pid in "${run_pids[@]}"; do wait "$pid"; done
mark "4 root products refreshed"
# The KPIs read the restricted EMEA sales: their run asks for finance-data's
# grant, which the EMEA steward gives through meshflow serve.
wait_for "finance's access request for $(echo sales-emea/regional-sales)" 180 \
	"$mf" access approve $(as anna.schmidt) --comment "multi-process run" sales-emea/regional-sales
mark "finance-data granted access to sales-emea/regional-sales (as anna.schmidt, through meshflow serve)"
# maria.rossi approves through meshflow serve's API, with her token.
wait_for "finance/global-kpis awaiting approval" 180 \
	"$mf" approve --server "http://127.0.0.1:$apiport" --token "$token" --comment "multi-process run" finance/global-kpis
mark "finance/global-kpis approved (as maria.rossi, through meshflow serve)"
wait_for "5 published products" 180 bash -c "[[ \$('$mf' catalog list ${store[*]} 2>/dev/null | grep -c -E '^[a-z-]+/[a-z-]+') -ge 5 ]]"
"$mf" catalog list "${store[@]}" | tee "$work/catalog.txt"
audit "the first refresh"
mark "5 products published on S3, audited"

# --- F1: a worker killed with SIGKILL mid-stage -------------------------------
# The worker that gets a new session folder in its scratch is the one running
# the refresh's stages: kill that one, with SIGKILL, while it works.
emea=sales-emea/regional-sales
first_emea="$(latest_of $emea)"
before=("$(ls "$work/scratch-a" | wc -l)" "$(ls "$work/scratch-b" | wc -l)")
"$mf" run "${tflags[@]}" $(as anna.schmidt) --wait $emea >"$work/run-second.log" 2>&1 &
second=$!
victim=""
for _ in $(seq 1 600); do
	for i in 0 1; do
		w=$([[ $i == 0 ]] && echo a || echo b)
		if (($(ls "$work/scratch-$w" | wc -l) > before[i])); then
			victim=$w
			forget "${worker_pid[$w]}"
			kill -KILL "${worker_pid[$w]}"
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
tail -n 3 "$work/run-second.log"
echo "the refresh ended $((SECONDS - kill_at))s after the kill"
second_emea="$(latest_of $emea)"
[[ "$second_emea" != "$first_emea" ]] || { echo "F1: $emea still at $first_emea" >&2; exit 1; }
a_sum="$(sha256sum <"$(version_dir $emea "$first_emea")/data.parquet")"
b_sum="$(sha256sum <"$(version_dir $emea "$second_emea")/data.parquet")"
if [[ "$a_sum" != "$b_sum" ]]; then
	echo "F1: $emea $second_emea (worker killed) differs from $first_emea (undisturbed): $b_sum vs $a_sum" >&2
	exit 1
fi
start_worker "$victim" "$mf"
audit "F1"
mark "F1: worker killed mid-refresh; $emea $second_emea byte-identical to $first_emea"

# --- P: a partitioned backfill over both workers, one killed ----------------
# A reference build on worker a alone, then the same backfill on both workers;
# when both are building batches, one is killed with SIGKILL. Its batches are
# built again by the other; every partition must come out byte-identical.
daily=supply-chain/daily-deliveries
daily_range=(--from 2026-06-01 --to 2026-09-30)
# Heavier days than the example's, so that batches take seconds: 50,000 more
# deliveries in every day's file, the same in both builds.
for f in "$work"/mesh/data/supply-chain/deliveries/day=*/deliveries.csv; do
	day="${f%/deliveries.csv}"
	day="${day##*=}"
	awk -v day="$day" 'BEGIN { for (i = 0; i < 50000; i++) printf "BULK-%s-%05d,Lane %d,Carrier %d,%s %02d:%02d:00,%d\n", day, i, i % 40, i % 6, day, 6 + i % 14, i % 60, i % 97 - 20 }' >>"$f"
done
# partition_sums VERSION: the checksums of every object of the version's partitions, in key order.
partition_sums() { grep -o '"sha256":"[0-9a-f]*"' "$(version_dir $daily "$1")/partitions.json" | sha256sum; }
stop "${worker_pid[b]}"
"$mf" backfill "${tflags[@]}" $(as tom.baker) "${daily_range[@]}" --wait $daily >"$work/backfill-one.log" 2>&1 ||
	{ cat "$work/backfill-one.log" >&2; echo "P: the backfill on one worker failed" >&2; exit 1; }
one="$(latest_of $daily)"
grep -q "122 built" "$work/backfill-one.log" || { cat "$work/backfill-one.log" >&2; echo "P: the backfill did not build 122 partitions" >&2; exit 1; }
polled="$(grep -c 'meshflow worker polling' "$work/worker-b.log" || true)"
start_worker b "$mf"
wait_for "worker b polling again" 60 bash -c "(( \$(grep -c 'meshflow worker polling' '$work/worker-b.log') > $polled ))"
"$mf" backfill "${tflags[@]}" $(as tom.baker) "${daily_range[@]}" --wait $daily >"$work/backfill-two.log" 2>&1 &
backfill=$!
victim=""
built_b="$(grep -c 'built a batch of partitions' "$work/worker-b.log" || true)"
# Kill worker b once it has built a batch of this backfill and works on another.
for _ in $(seq 1 2400); do
	if compgen -G "$work/scratch-a/*/batch-*" >/dev/null && compgen -G "$work/scratch-b/*/batch-*" >/dev/null &&
		(($(grep -c 'built a batch of partitions' "$work/worker-b.log") > built_b)); then
		victim=b
		forget "${worker_pid[b]}"
		kill -KILL "${worker_pid[b]}"
		break
	fi
	kill -0 "$backfill" 2>/dev/null || break
	sleep 0.05
done
[[ -n "$victim" ]] || { echo "P: worker b was never seen building a second batch while worker a built one" >&2; exit 1; }
echo "both workers were building batches, worker b its second or later; killed worker b with SIGKILL"
kill_at=$SECONDS
wait "$backfill" || { cat "$work/backfill-two.log" >&2; echo "P: the backfill failed after the kill" >&2; exit 1; }
echo "the backfill ended $((SECONDS - kill_at))s after the kill: $(grep -o 'published version.*' "$work/backfill-two.log" | tail -n 1)"
two="$(latest_of $daily)"
[[ "$two" != "$one" ]] || { echo "P: $daily still at $one" >&2; exit 1; }
echo "batches built by worker a: $(grep -c 'built a batch of partitions' "$work/worker-a.log"), by worker b before the kill: $(grep -c 'built a batch of partitions' "$work/worker-b.log")"
if [[ "$(partition_sums "$one")" != "$(partition_sums "$two")" ]]; then
	echo "P: $daily $two (two workers, one killed) differs from $one (one worker)" >&2
	exit 1
fi
start_worker b "$mf"
audit "P"
mark "P: backfill of 122 partitions over two workers, one killed; $daily $two byte-identical to $one"

# --- F5: Temporal restarts while a run waits for approval --------------------
# The new emea version started a refresh of finance/global-kpis, which waits
# for a steward.
kpis=finance/global-kpis
kpis_before="$(latest_of $kpis)"
wait_for "$kpis refresh after $emea $second_emea" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $kpis | awk '\$1 == \"stage\" { print \$2 }') == awaiting-approval ]]"
waiting="$("$mf" status "${tflags[@]}" $kpis | awk 'NR == 1')"
stop "$temporal_pid"
echo "Temporal stopped while $waiting waits for approval"
start_temporal
wait_for "Temporal server back" 120 bash -c "[[ \$(grep -c 'Ctrl-C stops it' '$work/temporal.log') -ge 2 ]]"
wait_for "the approval after the restart" 120 approve "$waiting"
wait_for "$kpis published after the restart" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $waiting | awk '\$1 == \"stage\" { print \$2 }') == published ]]"
[[ "$(latest_of $kpis)" != "$kpis_before" ]] || { echo "F5: $kpis still at $kpis_before" >&2; exit 1; }
audit "F5"
mark "F5: Temporal restarted during the wait; approval after it published $kpis $(latest_of $kpis)"

# --- F4: the S3 server stops while an approved run publishes -----------------
kpis_before="$(latest_of $kpis)"
f4="$(start_run $kpis omar.haddad)"
wait_for "$f4 awaiting approval" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $f4 | awk '\$1 == \"stage\" { print \$2 }') == awaiting-approval ]]"
stop "$s3_pid"
approve "$f4"
wait_for "$f4 publishing" 60 bash -c "[[ \$('$mf' status ${tflags[*]} $f4 | awk '\$1 == \"stage\" { print \$2 }') == publishing ]]"
# S3 stays down while Publish fails and backs off; the run must not give up.
down_until=$((SECONDS + 8))
while ((SECONDS < down_until)); do
	# An empty answer is a status call that failed for the moment, not a stage.
	stage="$(stage_of "$f4" || true)"
	[[ -z "$stage" || "$stage" == publishing ]] || { echo "F4: $f4 left publishing while S3 was down: $stage" >&2; exit 1; }
	sleep 1
done
[[ "$(latest_of $kpis)" == "$kpis_before" ]] || { echo "F4: latest.json moved while S3 was down" >&2; exit 1; }
start_s3
wait_for "$f4 published after S3 came back" 180 bash -c "[[ \$('$mf' status ${tflags[*]} $f4 | awk '\$1 == \"stage\" { print \$2 }') == published ]]"
audit "F4"
mark "F4: S3 down 8s during publish; $kpis $(latest_of $kpis) published after it came back"

# --- F8: a deploy while a run waits for approval -----------------------------
# Workers built from the commit before ChangeManifestProvenance take a run to
# its approval; the deploy replaces them with the current build.
stop "${worker_pid[a]}"
stop "${worker_pid[b]}"
# The old build knows no `access:` key: it reads the mesh without them.
cp -r "$work/mesh" "$work/mesh-old"
find "$work/mesh-old" -name '*.yaml' -exec sed -i '/^access: /d' {} +
find "$work/mesh-old" -name '*.yaml' -exec sed -i '/^  unchanged: /d' {} +
# Nor pinned majors, nor rules that read the product's history.
sed -i 's|product: \([a-z-]*/[a-z-]*\)@[0-9]*|product: \1|' "$work/mesh-old/finance/global-kpis.yaml"
sed -i '/- id: volume_holds/,/severity: error/d' "$work/mesh-old/sales-china/regional-sales.odcs.yaml"
# The old build knows no partitioned products and no notifications either.
rm "$work/mesh-old/supply-chain/daily-deliveries.yaml" "$work/mesh-old/supply-chain/daily-deliveries.odcs.yaml"
sed -i '/^notifications:/d' "$work/mesh-old/mesh.yaml"
start_worker old "$mf_old" "$work/mesh-old"
# The old build's client starts the run the old way, straight on Temporal.
old_run="$("$mf_old" run "${tflags[@]}" --mesh "$work/mesh-old" --as anna.schmidt $kpis | awk '$1 == "started" { print $2 }')"
wait_for "$old_run awaiting approval on the old build" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $old_run | awk '\$1 == \"stage\" { print \$2 }') == awaiting-approval ]]"
reviewed="$(hash_of "$old_run")"
kpis_before_f8="$(latest_of $kpis)"
stop "${worker_pid[old]}"
start_worker a "$mf"
start_worker b "$mf"
echo "deployed the current build over $old_run (reviewing manifest $reviewed)"
approve "$old_run" | tee "$work/approve-old.txt"
grep -q "recorded for manifest $reviewed\$" "$work/approve-old.txt" || {
	echo "F8: after the deploy the old run reviews another manifest than $reviewed" >&2
	exit 1
}
# The current build's Publish believes only what a run's own checks staged
# in the store, which the old build's checks did not: the old run fails
# safe, publishing nothing, and says to start a new refresh.
wait_for "$old_run failed" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $old_run | awk '\$1 == \"stage\" { print \$2 }') == failed ]]"
"$mf" status "${tflags[@]}" "$old_run" >"$work/status-old.txt"
grep -q "start a new refresh" "$work/status-old.txt" || { echo "F8: the old run failed without saying to start a new refresh:" >&2; cat "$work/status-old.txt" >&2; exit 1; }
[[ "$(latest_of $kpis)" == "$kpis_before_f8" ]] || { echo "F8: the old build's run published $kpis $(latest_of $kpis)" >&2; exit 1; }
new_run="$(start_run $kpis omar.haddad)"
wait_for "$new_run awaiting approval" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $new_run | awk '\$1 == \"stage\" { print \$2 }') == awaiting-approval ]]"
approve "$new_run" >/dev/null
wait_for "$new_run published" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $new_run | awk '\$1 == \"stage\" { print \$2 }') == published ]]"
new_manifest="$(version_dir $kpis "$(latest_of $kpis)")/manifest.json"
grep -q '"submitter": "omar.haddad"' "$new_manifest" || { echo "F8: the new run's $new_manifest names no submitter" >&2; exit 1; }
audit "F8"
mark "F8: old run kept its review across the deploy, failed safe unpublished; new run published"

# --- S: an outsider with raw Temporal access, and a forged grant file --------
# A forged refresh input, an unsigned request, a decide update and signal in
# maria.rossi's name with the right manifest hash, and an access request the
# attacker approves: each refused, the waiting run untouched. Then a grant file
# written straight into the bucket: the audit names it, and no run trusts it.
sec_run="$(start_run $kpis omar.haddad)"
wait_for "$sec_run awaiting approval" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $sec_run | awk '\$1 == \"stage\" { print \$2 }') == awaiting-approval ]]"
"$work/attack" --temporal-address "127.0.0.1:$tport" --waiting "$sec_run" --steward maria.rossi | tee "$work/attack.txt"
[[ "$(stage_of "$sec_run")" == awaiting-approval ]] || { echo "S: $sec_run left awaiting-approval after the attacks" >&2; exit 1; }
approve "$sec_run" >/dev/null
wait_for "$sec_run published" 120 bash -c "[[ \$('$mf' status ${tflags[*]} $sec_run | awk '\$1 == \"stage\" { print \$2 }') == published ]]"
forged_grant="$work/s3/meshflow/mesh/_grants/sales-emea/regional-sales/g-forged.json"
printf '{"id":"g-forged","product":"sales-emea/regional-sales","principal":"mallory","purpose":"x","grantedBy":"anna.schmidt","grantedAt":"2026-01-01T00:00:00Z","expiresAt":"2099-01-01T00:00:00Z","workflowId":"access/sales-emea/regional-sales/mallory/x"}' >"$forged_grant"
if "$mf" catalog audit "${store[@]}" >"$work/audit-forged.txt" 2>&1 || ! grep -q "g-forged" "$work/audit-forged.txt"; then
	cat "$work/audit-forged.txt" >&2
	echo "S: the audit did not name the forged grant" >&2
	exit 1
fi
rm -f "$forged_grant"
audit "S"
mark "S: $(grep -c '^refused' "$work/attack.txt") outsider attacks refused; forged grant named by the audit"

# --- F3: a manual run races scheduled runs of a backfill ---------------------
# meshflow apply creates the mesh's schedules, paused at once (their own runs
# would start refreshes that wait for approval; a backfill runs regardless). A
# backfill of supply-chain/delivery-performance's half-hourly schedule over a
# range holding two of its times runs while a manual refresh of it starts.
# Every run must publish a version of its own or stop with VersionTaken
# ("start a new refresh").
dp=supply-chain/delivery-performance
"$mf" apply "${tflags[@]}" "${store[@]}" "${keyflags[@]}" "$work/mesh" >"$work/apply.log"
for p in finance/fx-rates finance/global-kpis sales-china/regional-sales sales-emea/regional-sales $dp $daily; do
	"$mf" schedule pause "${tflags[@]}" "$p" --note "multi-process run" >/dev/null
done
half_hour=$(($(date +%s) / 1800 * 1800))
"$mf" backfill "${tflags[@]}" "$dp" --from "$(date -u -d "@$((half_hour - 4500))" +%Y-%m-%dT%H:%M:%SZ)" \
	--to "$(date -u -d "@$((half_hour - 300))" +%Y-%m-%dT%H:%M:%SZ)" >"$work/backfill.log" 2>&1 &
backfill=$!
"$mf" run "${tflags[@]}" $(as tom.baker) "$dp" >>"$work/backfill.log"
wait "$backfill"
# runs_of PRODUCT: the product's runs as `meshflow status` lists them.
runs_of() { "$mf" status "${tflags[@]}" -n 200 | awk -v p="$1" '$1 == p'; }
# The first refresh, the manual run and the backfill's two.
dp_ended() { [[ $(runs_of "$dp" | grep -cwE "Completed|Failed") -ge 4 ]] && ! runs_of "$dp" | grep -qw Running; }
wait_for "the 4 runs of $dp to end" 180 dp_ended
runs_of "$dp" >"$work/f3-runs.txt"
completed=$(grep -cw Completed "$work/f3-runs.txt" || true)
failed=0
while read -r id; do
	if ! "$mf" status "${tflags[@]}" "$id" | grep -q "^  error .*start a new refresh"; then
		"$mf" status "${tflags[@]}" "$id" >&2
		echo "F3: run $id failed, and not because another run took its version" >&2
		exit 1
	fi
	failed=$((failed + 1))
done < <(awk '/ Failed / { print $NF }' "$work/f3-runs.txt")
if grep -vqwE "Completed|Failed" "$work/f3-runs.txt" || [[ $(wc -l <"$work/f3-runs.txt") != 4 ]]; then
	cat "$work/f3-runs.txt" >&2
	echo "F3: want 4 runs of $dp, each published or stopped with VersionTaken" >&2
	exit 1
fi
audit "F3"
versions=$(awk -v p="$dp:" '$2 == p { print $3 }' "$work/audit.txt")
if [[ "$versions" != "$completed" ]]; then
	echo "F3: $completed runs of $dp completed, the store holds $versions committed versions" >&2
	exit 1
fi
mark "F3: $((completed + failed)) runs of $dp raced: $completed published, $failed stopped with VersionTaken"

# --- final audit: nothing waits, nothing staged ------------------------------
"$mf" catalog audit "${store[@]}" | tee "$work/audit.txt"
if grep -q "note:" "$work/audit.txt"; then
	echo "objects are left outside committed versions once every run ended" >&2
	exit 1
fi
"$mf" catalog show "${store[@]}" $kpis
mark "final audit: every version once, checksums match, nothing staged"

echo
echo "timings (seconds since start):"
printf '  %s\n' "${timings[@]}"
