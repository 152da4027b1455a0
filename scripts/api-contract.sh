#!/usr/bin/env bash
# The API against its own description, in `make test` (after the cargo tests):
#   1. starts the sandbox (scripts/dev.sh: Postgres, moto, github-sim, Shipyard) on its own ports and database,
#   2. checks that /api/v1/openapi.json is valid OpenAPI 3.1 (openapi-spec-validator),
#   3. runs schemathesis against the running server with every check on, the stateful phase following the
#      description's links, seeded and bounded (CONTRACT_MAX_EXAMPLES, CONTRACT_MAX_TIME) so it adds at most
#      about three minutes,
#   4. prints where its JUnit report is (.dev/contract/schemathesis.xml).
# Authentication: bob's sandbox GitHub token, which github-sim accepts as a member of the organization.
# The per-address budget of unauthenticated work (web/limits.rs, tested in tests/it/rate_limits.rs) is raised:
# every request here comes from one address, hundreds a second, many with made-up credentials on purpose.
# Ports and database are its own, none of `make dev`'s (8080, 3001, moto 5000), and it removes what it
# started (Shipyard, github-sim, moto, the database) pass or fail. schemathesis.toml names the two checks
# that are configured for one operation each, and why.
set -euo pipefail
export STATE_DIR="${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.dev/contract}"
# Its own moto (ensure-moto.sh starts one there if none answers), so it neither needs nor pollutes the
# state of the moto `make dev` or the cargo tests use.
export MOTO_PORT="${CONTRACT_MOTO_PORT:-15000}"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
mkdir -p "$STATE_DIR"

SCHEMATHESIS_VERSION="4.32.5"
SPEC_VALIDATOR_VERSION="0.9.0"
CONTRACT_PORT="${CONTRACT_PORT:-18080}"
CONTRACT_SIM_PORT="${CONTRACT_SIM_PORT:-13001}"
CONTRACT_SEED="${CONTRACT_SEED:-18}"
CONTRACT_MAX_EXAMPLES="${CONTRACT_MAX_EXAMPLES:-25}"
# Seconds for the whole schemathesis run; it stops generating when this runs out.
CONTRACT_MAX_TIME="${CONTRACT_MAX_TIME:-120}"
TOKEN="ghp_sandbox_bob"
url="http://127.0.0.1:$CONTRACT_PORT"

db=shipyard_contract
dev_pid=
# shellcheck disable=SC2317 # called from the trap
stop_sandbox() {
    # dev.sh stops Shipyard, github-sim and whatever it started on TERM.
    if [ -n "$dev_pid" ]; then
        kill -TERM "$dev_pid" 2>/dev/null || true
        wait "$dev_pid" 2>/dev/null || true
    fi
    stop_started
    psql -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -c "drop database if exists $db with (force)" \
        >/dev/null 2>&1 || true
}
trap stop_sandbox EXIT

bash scripts/ensure-moto.sh
venv_pip "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"

# A fresh database each run, so what schemathesis made last time does not change what it finds.
psql -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -c "drop database if exists $db with (force)" \
    -c "create database $db" >/dev/null

log "starting the sandbox on $url (log: $STATE_DIR/dev.log)"
STATE_DIR="$STATE_DIR" LISTEN_ADDR="127.0.0.1:$CONTRACT_PORT" PUBLIC_URL="$url" \
    AWS_ENDPOINT_URL="http://$MOTO_HOST:$MOTO_PORT" SIM_ADDR="127.0.0.1:$CONTRACT_SIM_PORT" DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$db" \
    SIM_GENERATE_DELAY_MS=100 SIM_RUN_DURATION_MS=200 SIM_IAM_PROPAGATION_DELAY_MS=0 \
    SHIPYARD_IAM_PROPAGATION_DELAY_SECS=0 RUST_LOG=info LOG_FORMAT=text \
    SHIPYARD_UNAUTHENTICATED_BURST=100000 SHIPYARD_UNAUTHENTICATED_PER_MINUTE=100000 \
    setsid bash scripts/dev.sh >"$STATE_DIR/dev.log" 2>&1 </dev/null &
dev_pid=$!

# shellcheck disable=SC2317 # called through wait_until
ready() {
    kill -0 "$dev_pid" 2>/dev/null || die "the sandbox stopped; see $STATE_DIR/dev.log"
    http_ok "$url/healthz"
}
wait_until 600 "shipyard on $url" ready || { tail -n 30 "$STATE_DIR/dev.log" >&2; die "the sandbox did not start"; }

log "validating $url/api/v1/openapi.json as OpenAPI 3.1"
curl -fsS "$url/api/v1/openapi.json" -o "$STATE_DIR/openapi.json"
"$VENV/bin/python" - "$STATE_DIR/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

with open(sys.argv[1]) as f:
    spec = json.load(f)
assert spec["openapi"].startswith("3.1."), f"not OpenAPI 3.1: {spec['openapi']}"
validate(spec, cls=OpenAPIV31SpecValidator)
print(f"valid OpenAPI {spec['openapi']}: {len(spec['paths'])} paths")
PY

# --exclude-checks use_after_free: DELETE is asynchronous (202, status `deleting`, readable until the
# teardown finishes), as the description says; see schemathesis.toml for why it cannot be per operation.
report="$STATE_DIR/schemathesis.xml"
log "schemathesis $SCHEMATHESIS_VERSION against $url (seed $CONTRACT_SEED, ≤ $CONTRACT_MAX_EXAMPLES examples an operation, ≤ ${CONTRACT_MAX_TIME}s)"
status=0
timeout --signal=INT "$((CONTRACT_MAX_TIME + 60))" \
    "$VENV/bin/schemathesis" run "$url/api/v1/openapi.json" \
    --url "$url" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --exclude-checks use_after_free \
    --phases examples,coverage,fuzzing,stateful \
    --seed "$CONTRACT_SEED" \
    --max-examples "$CONTRACT_MAX_EXAMPLES" \
    --max-time "$CONTRACT_MAX_TIME" \
    --generation-database none \
    --request-timeout 30 \
    --workers 1 \
    --report junit --report-junit-path "$report" \
    --no-color || status=$?
log "schemathesis report: $report"
exit "$status"
