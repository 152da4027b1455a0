#!/usr/bin/env bash
# The inventory benchmark: the inventory page (page 1, page 150 reached by following the page's own cursor
# links, and the last page, `?before=end`), `GET /api/v1/services` (first and deep cursor page) and the hashed stylesheet the page links to, with
# 10,000 services in the database, under concurrent load from wrk (a second process, loopback only). Prints requests per second, p50 and p99
# latency, non-2xx counts and CPU per request (Shipyard's and its Postgres backends') per endpoint, and the
# server's peak memory (GNU time's maximum resident set size).
#
#   scripts/bench-inventory.sh      (also run by `make bench` after the provisioning benchmark; BENCH_INVENTORY=0 skips)
#   BENCH_DURATION=30s BENCH_CONNECTIONS=64 scripts/bench-inventory.sh
#
# Targets: the inventory's pages (1, 150 and the last) p99 <= 25 ms, page 150 at least 70% of page 1's req/s, the stylesheet
# >= 10,000 req/s (at the default 16 connections).
#
# Settings (environment): BENCH_SERVICES (10000), BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (16),
# BENCH_RUST_LOG (info: the access log is part of what a request costs), BENCH_KEEP_DB=1 (leave the database
# shipyard_bench_inv behind for EXPLAIN ANALYZE), BENCH_BUILD_TIMEOUT (seconds, 3600).
#
# What it does: makes sure Postgres runs, creates shipyard_bench_inv afresh, builds the release binaries, starts
# github-sim and Shipyard (under /usr/bin/time -v) on free loopback ports, seeds the services
# (scripts/bench-seed.sql) and a session for one of their creators, checks that every endpoint answers 200 with
# services in it (a broken sign-in would otherwise measure fast redirects), runs wrk against each, then stops
# what it started and drops the database. Shipyard's log is in .dev/bench-inventory/shipyard.log.
# shellcheck disable=SC2317 # functions called from traps and wait_until
set -euo pipefail
# Our own state directory even under `make bench` (whose bench.sh exports its own): what we start, we stop.
STATE_DIR="$(cd "$(dirname "$0")/.." && pwd)/.dev/bench-inventory"
export STATE_DIR
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
mkdir -p "$STATE_DIR"

DB=shipyard_bench_inv
SERVICES="${BENCH_SERVICES:-10000}"
DURATION="${BENCH_DURATION:-10s}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
BUILD_TIMEOUT="${BENCH_BUILD_TIMEOUT:-3600}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BEARER_TOKEN=ghp_sandbox_bob # a member of acme in github-sim's sandbox seed (not a real credential)
ADMIN_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres"
BENCH_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"

if ! [[ "$DURATION" =~ ^[0-9]+s$ ]] || ((${DURATION%s} < 6)); then
    die "BENCH_DURATION must be whole seconds, at least 6, such as 15s; got $DURATION"
fi
WRK_LIMIT=$((${DURATION%s} + 30)) # wrk gets its duration plus this much grace before `timeout` ends it

psql_on() {
    local url="$1"
    shift
    PGOPTIONS='-c client_min_messages=warning' timeout 300 psql -X -q -v ON_ERROR_STOP=1 -d "$url" "$@"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The shipyard process itself: the child of the /usr/bin/time that start_bg recorded.
shipyard_pid() {
    pid_alive shipyard release/shipyard || return 1
    ps -o pid= --ppid "$(cat "$STATE_DIR/shipyard.pid")" | tr -d ' ' | head -n1
}

# TERM goes to Shipyard alone, so /usr/bin/time outlives it and writes its report; KILL (both) after 20 s.
stop_shipyard() {
    pid_alive shipyard release/shipyard || return 0
    local time_pid child waited=0
    time_pid="$(cat "$STATE_DIR/shipyard.pid")"
    child="$(shipyard_pid || true)"
    log "stopping shipyard (pid ${child:-?})"
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi
    while kill -0 "$time_pid" 2>/dev/null && ((waited < 100)); do
        sleep 0.2
        waited=$((waited + 1))
    done
    if kill -0 "$time_pid" 2>/dev/null; then
        warn "shipyard did not stop on TERM; sending KILL"
        kill -KILL -- "-$time_pid" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/shipyard.pid"
}

drop_database() {
    psql_on "$ADMIN_URL" -c "drop database if exists $DB with (force)" 2>/dev/null ||
        warn "could not drop database $DB"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_shipyard
    stop_pid github-sim github-sim
    if [ "${BENCH_KEEP_DB:-0}" = 1 ]; then
        log "BENCH_KEEP_DB=1: leaving database $DB (psql -d $BENCH_URL)"
    else
        drop_database
    fi
    stop_started
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run that did not get to clean up.
stop_shipyard
stop_pid github-sim github-sim

# --- tools, database, binaries -------------------------------------------------------------------------------
command -v wrk >/dev/null 2>&1 || apt_install wrk
/usr/bin/time -v true 2>/dev/null || apt_install time
command -v curl >/dev/null 2>&1 || apt_install curl
bash scripts/ensure-postgres.sh

log "creating database $DB afresh"
psql_on "$ADMIN_URL" -c "drop database if exists $DB with (force)"
psql_on "$ADMIN_URL" -c "create database $DB"

log "cargo build --release (shipyard, github-sim)"
SQLX_OFFLINE=true timeout "$BUILD_TIMEOUT" cargo build --release -p shipyard -p github-sim \
    --bin shipyard --bin github-sim
SHIPYARD_BIN="$TARGET_DIR/release/shipyard"
SIM_BIN="$TARGET_DIR/release/github-sim"
if [ ! -x "$SHIPYARD_BIN" ] || [ ! -x "$SIM_BIN" ]; then die "release binaries missing under $TARGET_DIR/release"; fi

# --- github-sim and Shipyard ---------------------------------------------------------------------------------
SIM_PORT="$(free_port)"
log "starting github-sim on 127.0.0.1:$SIM_PORT (log: $STATE_DIR/github-sim.log)"
start_bg github-sim env AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
    "$SIM_BIN" --listen "127.0.0.1:$SIM_PORT" --seed github-sim/seed.sandbox.json \
    --aws-endpoint-url "http://$MOTO_HOST:$MOTO_PORT"
wait_until 30 "github-sim on 127.0.0.1:$SIM_PORT" port_open 127.0.0.1 "$SIM_PORT" || die "github-sim did not start"

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
log "starting shipyard (release) on $BASE under /usr/bin/time -v (log: $STATE_DIR/shipyard.log)"
rm -f "$STATE_DIR/shipyard.time"
start_bg shipyard /usr/bin/time -v -o "$STATE_DIR/shipyard.time" env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
    DATABASE_URL="$BENCH_URL" LISTEN_ADDR="127.0.0.1:$PORT" PUBLIC_URL="$BASE" \
    GITHUB_ORG=acme GITHUB_TOKEN=ghp_sandbox_shipyard_bot \
    GITHUB_OAUTH_CLIENT_ID=shipyard-sandbox GITHUB_OAUTH_CLIENT_SECRET=sandbox-client-secret \
    GITHUB_API_URL="http://127.0.0.1:$SIM_PORT" GITHUB_WEB_URL="http://127.0.0.1:$SIM_PORT" \
    SHIPYARD_TEMPLATES=acme/service-template,acme/worker-template SHIPYARD_ENVIRONMENTS=dev,staging,prod \
    SHIPYARD_ADMINS= SHIPYARD_PERMISSIONS_BOUNDARY=arn:aws:iam::123456789012:policy/shipyard-boundary SHIPYARD_IAM_PROPAGATION_DELAY_SECS=0 \
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_ENDPOINT_URL="http://$MOTO_HOST:$MOTO_PORT" AWS_EC2_METADATA_DISABLED=true \
    LOG_FORMAT=json RUST_LOG="${BENCH_RUST_LOG:-info}" \
    "$SHIPYARD_BIN"
shipyard_ready() {
    pid_alive shipyard release/shipyard || {
        tail -n 20 "$STATE_DIR/shipyard.log" >&2
        die "shipyard exited during start-up"
    }
    http_ok "$BASE/readyz"
}
wait_until 60 "shipyard on $BASE" shipyard_ready || die "shipyard did not become ready"

# --- data and a session --------------------------------------------------------------------------------------
log "seeding $SERVICES services (scripts/bench-seed.sql)"
psql_on "$BENCH_URL" -v services="$SERVICES" -f scripts/bench-seed.sql
# The cookie value stays in this shell (and wrk's arguments); the database gets its SHA-256 only.
cookie="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
cookie_hash="$(printf '%s' "$cookie" | sha256sum | cut -c1-64)"
psql_on "$BENCH_URL" -v hash="$cookie_hash" <<'SQL'
insert into session (session_id_hash, user_id, org_role, expires_at)
select decode(:'hash', 'hex'), user_id, 'member', now() + interval '2 hours'
from app_user where github_id = 900001;
SQL

# --- the endpoints -------------------------------------------------------------------------------------------
header_for() {
    case "$1" in
        cookie) printf 'Cookie: shipyard_session=%s' "$cookie" ;;
        bearer) printf 'Authorization: Bearer %s' "$BEARER_TOKEN" ;;
        none) printf 'Accept: */*' ;;
    esac
}

# follow_next PATH CREDENTIAL N: the path of the Nth page, reached by following the `next` links of pages 1 to
# N-1 (the inventory's rel="next" anchor, or the API's "next" field), so a deep page carries a real cursor.
follow_next() {
    local path="$1" credential="$2" n="$3" i body
    for ((i = 1; i < n; i++)); do
        body="$(curl -fsS --max-time 10 -H "$(header_for "$credential")" "$BASE$path")" || return 1
        if [ "$credential" = bearer ]; then
            path="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["next"] or "")' <<<"$body")"
            path="${path#"$BASE"}"
        else
            path="$(grep -oE 'href="[^"]*" rel="next"' <<<"$body" | head -n1 | sed -E 's/^href="([^"]*)".*/\1/; s/&#38;/\&/g; s/&amp;/\&/g')"
        fi
        [ -n "$path" ] || return 1
    done
    printf '%s\n' "$path"
}

page150="$(follow_next /services cookie 150)" || die "could not follow the inventory's next links to page 150"
api50="$(follow_next '/api/v1/services?per_page=100' bearer 50)" || die "could not follow the API's next links"
stylesheet="$(curl -fsS --max-time 10 -H "$(header_for cookie)" "$BASE/services" |
    grep -oE '<link rel="stylesheet" href="[^"]+"' | head -n1 | sed -E 's/.*href="([^"]+)"/\1/')"
[ -n "$stylesheet" ] || die "no stylesheet link on /services"
log "page 150: $page150"

# path | credential | what every service name in the answer must match (a filter that is ignored shows up;
# "static" checks a 200 only) | label in the results
ENDPOINTS=(
    "/services|cookie|-svc-[0-9]+|/services (page 1)"
    "$page150|cookie|-svc-[0-9]+|/services?after=… (page 150)"
    "/services?before=end|cookie|-svc-[0-9]+|/services?before=end (last page)"
    "/services?q=svc-12&environment=prod|cookie|-svc-12[0-9]*|/services?q=svc-12&environment=prod"
    "/api/v1/services|bearer|-svc-[0-9]+|/api/v1/services"
    "$api50|bearer|-svc-[0-9]+|/api/v1/services?after=…&per_page=100 (page 50)"
    "$stylesheet|none|static|$stylesheet"
)

# The sum of Shipyard's request counter over the lines (metric plus labels) that match the awk pattern.
served() {
    curl -fsS --max-time 10 "$BASE/metrics" |
        awk "/^shipyard_http_requests_total\\{/ && $1"' { n += $NF } END { printf "%d\n", n }'
}
# Answers other than 2xx, from the server's own counter: wrk's "Non-2xx or 3xx" line does not count redirects,
# and a signed-out page is a redirect.
server_non_2xx() { served '!/status="2[0-9][0-9]"/'; }
# 2xx answers to anything but the metrics scrape itself.
server_2xx() { served '/status="2[0-9][0-9]"/ && !/route="\/metrics"/'; }

# check PATH CREDENTIAL NAME_RE: one request must be a 200 whose service names all match NAME_RE.
check() {
    local path="$1" credential="$2" name_re="$3" body="$STATE_DIR/check.body" code names bad
    code="$(curl -sS -o "$body" -w '%{http_code}' --max-time 30 -H "$(header_for "$credential")" "$BASE$path")" ||
        code=000
    if [ "$code" != 200 ]; then
        echo "HTTP $code"
        return 1
    fi
    if [ "$name_re" = static ]; then
        echo "200, $(wc -c <"$body") bytes"
        return 0
    fi
    names="$(grep -oE '[a-z]+-svc-[0-9]+' "$body" | sort -u || true)"
    if [ -z "$names" ]; then
        echo "200 but no services in the answer"
        return 1
    fi
    bad="$(grep -vxE "[a-z]+$name_re" <<<"$names" | head -n3 | tr '\n' ' ' || true)"
    if [ -n "$bad" ]; then
        echo "200 but with services the filter excludes: $bad"
        return 1
    fi
    echo "200, $(wc -l <<<"$names") services, $(wc -c <"$body") bytes"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# CPU time (clock ticks, user + system) a process has used; nothing when it is gone.
proc_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || true
}

# Lines "app TICKS" (Shipyard) and "PID TICKS" (each Postgres backend connected to the benchmark database).
cpu_sample() {
    local dir ticks
    echo "app $(proc_ticks "$(shipyard_pid)")"
    for dir in /proc/[0-9]*; do
        if { tr '\0' ' ' <"$dir/cmdline"; } 2>/dev/null | grep -q "^postgres: .* $DB "; then
            ticks="$(proc_ticks "${dir#/proc/}")"
            if [ -n "$ticks" ]; then echo "${dir#/proc/} $ticks"; fi
        fi
    done
}

# cpu_delta BEFORE AFTER: "APP DB" ticks between two samples; a backend that is new in AFTER counts from zero.
cpu_delta() {
    awk 'NR == FNR { before[$1] = $2; next }
         $1 == "app" { app = $2 - before["app"]; next }
         { db += $2 - ($1 in before ? before[$1] : 0) }
         END { printf "%d %d\n", app, db }' "$1" "$2"
}

CLK_TCK="$(getconf CLK_TCK)"
# per_request TICKS REQUESTS: milliseconds of CPU per request.
per_request() {
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.2f", n ? t / hz * 1000 / n : 0 }'
}

idle_rss_kb="$(awk '/^VmRSS:/ { print $2 }' "/proc/$(shipyard_pid)/status" 2>/dev/null || echo 0)"
log "checking each endpoint once"
failed=0
declare -A verdict
for endpoint in "${ENDPOINTS[@]}"; do
    IFS='|' read -r path credential name_re _ <<<"$endpoint"
    if verdict[$path]="$(check "$path" "$credential" "$name_re")"; then
        log "  $path: ${verdict[$path]}"
    else
        warn "$path: ${verdict[$path]}: not measured"
        failed=1
    fi
done

results="$STATE_DIR/results.tsv"
: >"$results"
for endpoint in "${ENDPOINTS[@]}"; do
    IFS='|' read -r path credential _ label <<<"$endpoint"
    case "${verdict[$path]}" in
        200,*) ;;
        *)
            printf '%s\t%s\n' "$label" "not measured: ${verdict[$path]}" >>"$results"
            continue
            ;;
    esac
    out="$STATE_DIR/wrk.out"
    before="$(server_non_2xx)"
    log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION $label (load average $(load1))"
    timeout "$WRK_LIMIT" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency \
        -H "$(header_for "$credential")" "$BASE$path" >"$out" &
    wrk_pid=$!
    # CPU per request is measured in the middle of the run: wrk's last second ends with requests cut off, and
    # the pool closes the database connections those leave mid-query (their backends' CPU would be lost).
    sleep 2
    cpu_sample >"$STATE_DIR/cpu.a"
    served_a="$(server_2xx)"
    sleep $((${DURATION%s} - 4))
    cpu_sample >"$STATE_DIR/cpu.b"
    served_b="$(server_2xx)"
    wait "$wrk_pid" || die "wrk failed on $path: $(cat "$out")"
    after="$(server_non_2xx)"
    read -r app_ticks db_ticks < <(cpu_delta "$STATE_DIR/cpu.a" "$STATE_DIR/cpu.b")
    read -r requests rps p50 p99 wrk_bad errors < <(awk '
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
        END { printf "%s %s %s %s %d %d\n", requests, rps, p50, p99, bad, errors }' "$out")
    non_2xx=$((after - before))
    window=$((served_b - served_a))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$requests" "$rps" "$p50" "$p99" "$non_2xx" "$errors" \
        "$(per_request "$app_ticks" "$window")" "$(per_request "$db_ticks" "$window")" >>"$results"
    if ((non_2xx > 0 || wrk_bad > 0 || errors > 0)); then
        warn "$path: $non_2xx non-2xx answers (wrk: $wrk_bad non-2xx/3xx, $errors socket errors)"
        failed=1
    fi
done

stop_shipyard
peak_kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$STATE_DIR/shipyard.time" 2>/dev/null || true)"

echo
echo "Inventory benchmark: $SERVICES services, wrk -t$THREADS -c$CONNECTIONS -d$DURATION per endpoint, loopback,"
echo "$(nproc) cores shared with wrk, Postgres and anything else running (load average now $(load1))."
echo "CPU ms/req: CPU time Shipyard (app) and its Postgres backends (db) spent per 2xx answer, from 2 s into"
echo "the run to 2 s before its end (other work on the machine hardly changes it; it stretches the latencies)."
echo
{
    printf 'endpoint\trequests\treq/s\tp50\tp99\tnon-2xx\tsocket errors\tapp CPU ms/req\tdb CPU ms/req\n'
    cat "$results"
} | column -t -s $'\t'
echo
if [ -n "$peak_kb" ]; then
    printf 'Shipyard peak RSS: %d MiB (%s kB; %d MiB idle with the data loaded, before the load)\n' \
        $((peak_kb / 1024)) "$peak_kb" $((idle_rss_kb / 1024))
else
    warn "no peak RSS: /usr/bin/time wrote no report (see $STATE_DIR/shipyard.time)"
    failed=1
fi
exit "$failed"
