#!/usr/bin/env bash
# `make dev`: the whole sandbox on this machine.
#
#   Postgres (database `shipyard`)   127.0.0.1:5432   started if down
#   moto (AWS emulator)              127.0.0.1:5000   started from .venv if down
#   github-sim (GitHub emulator)     127.0.0.1:3001   built and started with the sandbox seed
#   Shipyard                         localhost:8080   built and run here
#
# Background logs go to .dev/*.log. Ctrl-C (or `make dev-stop` from another terminal) stops Shipyard,
# github-sim and whatever of Postgres/moto this script started; services that were already running stay up.
# Settings: the process environment wins over .env, which wins over the sandbox defaults below.
# SANDBOX_CREDENTIAL=app provisions as the sandbox GitHub App (seeded in github-sim/seed.sandbox.json, key in
# github-sim/sandbox-app.private-key.pem) instead of the bot's classic token (SANDBOX_CREDENTIAL=token, default).
set -euo pipefail
export STATE_DIR="${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.dev}"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
mkdir -p "$STATE_DIR"

SIM_ADDR="${SIM_ADDR:-127.0.0.1:3001}"
SIM_GENERATE_DELAY_MS="${SIM_GENERATE_DELAY_MS:-1500}"
SIM_RUN_DURATION_MS="${SIM_RUN_DURATION_MS:-3000}"
# IAM is eventually consistent: the sim's runner sees a new role or trust only this long after it was made.
SIM_IAM_PROPAGATION_DELAY_MS="${SIM_IAM_PROPAGATION_DELAY_MS:-3000}"
SIM_SEED="${SIM_SEED:-github-sim/seed.sandbox.json}"

# --- configuration -------------------------------------------------------------------------------------------
if [ -f .env ]; then
    log "reading .env (values already in the environment win)"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in '' | '#'*) continue ;; esac
        key="${line%%=*}"
        key="${key#export }"
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
        if [ -z "${!key+set}" ]; then
            value="${line#*=}"
            # Strip one pair of surrounding quotes, as dotenv does.
            if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
            export "$key=$value"
        fi
    done <.env
fi

export DATABASE_URL="${DATABASE_URL:-postgres://$PG_USER@$PG_HOST:$PG_PORT/shipyard}"
export LISTEN_ADDR="${LISTEN_ADDR:-127.0.0.1:8080}"
export PUBLIC_URL="${PUBLIC_URL:-http://localhost:8080}"
export GITHUB_ORG="${GITHUB_ORG:-acme}"
SANDBOX_CREDENTIAL="${SANDBOX_CREDENTIAL:-token}"
case "$SANDBOX_CREDENTIAL" in
    token) export GITHUB_TOKEN="${GITHUB_TOKEN:-ghp_sandbox_shipyard_bot}" ;;
    app)
        # Exactly one credential: Shipyard refuses to start with both.
        unset GITHUB_TOKEN
        export GITHUB_APP_ID="${GITHUB_APP_ID:-424242}"
        GITHUB_APP_PRIVATE_KEY="${GITHUB_APP_PRIVATE_KEY:-$(cat github-sim/sandbox-app.private-key.pem)}"
        export GITHUB_APP_PRIVATE_KEY
        ;;
    *) die "SANDBOX_CREDENTIAL must be \`token\` or \`app\`, got \`$SANDBOX_CREDENTIAL\`" ;;
esac
export GITHUB_OAUTH_CLIENT_ID="${GITHUB_OAUTH_CLIENT_ID:-shipyard-sandbox}"
export GITHUB_OAUTH_CLIENT_SECRET="${GITHUB_OAUTH_CLIENT_SECRET:-sandbox-client-secret}"
export GITHUB_API_URL="${GITHUB_API_URL:-http://$SIM_ADDR}"
export GITHUB_WEB_URL="${GITHUB_WEB_URL:-http://$SIM_ADDR}"
export SHIPYARD_TEMPLATES="${SHIPYARD_TEMPLATES:-acme/service-template,acme/worker-template}"
export SHIPYARD_ENVIRONMENTS="${SHIPYARD_ENVIRONMENTS:-dev,staging,prod}"
export SHIPYARD_ADMINS="${SHIPYARD_ADMINS:-}"
export SHIPYARD_IAM_PROPAGATION_DELAY_SECS="${SHIPYARD_IAM_PROPAGATION_DELAY_SECS:-2}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export SHIPYARD_PERMISSIONS_BOUNDARY="${SHIPYARD_PERMISSIONS_BOUNDARY:-arn:aws:iam::123456789012:policy/shipyard-boundary}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://$MOTO_HOST:$MOTO_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_EC2_METADATA_DISABLED="${AWS_EC2_METADATA_DISABLED:-true}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export RUST_LOG="${RUST_LOG:-info,shipyard=debug,tower_http=debug}"
# Compile against the committed .sqlx/ query data (run `make sqlx-prepare` after changing queries/migrations).
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"

# --- clean up on exit ----------------------------------------------------------------------------------------
# shellcheck disable=SC2317 # called from the traps
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    echo >&2
    stop_pid shipyard shipyard
    stop_started
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run that did not get to clean up (e.g. a killed terminal).
stop_pid shipyard shipyard
if [ -e "$STATE_DIR/started/github-sim" ]; then stop_pid github-sim github-sim; fi

# --- peers ---------------------------------------------------------------------------------------------------
bash scripts/ensure-postgres.sh shipyard
bash scripts/ensure-moto.sh
# The boundary every role gets, as the platform team creates it once per account (already there is fine).
log "ensuring the permissions boundary $SHIPYARD_PERMISSIONS_BOUNDARY in moto"
"$VENV/bin/python" - deploy/aws/shipyard-boundary.json <<'PY'
import os, sys
import boto3

arn = os.environ["SHIPYARD_PERMISSIONS_BOUNDARY"]
account, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
path = "/" + arn.split(":policy/", 1)[1].rsplit(name, 1)[0].lstrip("/")
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
with open(sys.argv[1]) as f:
    document = f.read().replace("ACCOUNT_ID", account)
try:
    iam.create_policy(PolicyName=name, Path=path, PolicyDocument=document,
                      Description="Permissions boundary of every role Shipyard creates")
except iam.exceptions.EntityAlreadyExistsException:
    pass
PY

log "building shipyard and github-sim"
cargo build -p shipyard -p github-sim --bin shipyard --bin github-sim

sim_host="${SIM_ADDR%:*}"
sim_port="${SIM_ADDR##*:}"
if port_open "$sim_host" "$sim_port"; then
    die "something already listens on $SIM_ADDR; stop it (make dev-stop, if it is an earlier sandbox) and retry"
fi
[ -f "$SIM_SEED" ] || die "seed file $SIM_SEED not found"
log "starting github-sim on http://$SIM_ADDR (log: $STATE_DIR/github-sim.log)"
start_bg github-sim "$ROOT/target/debug/github-sim" --listen "$SIM_ADDR" --seed "$SIM_SEED" \
    --generate-delay-ms "$SIM_GENERATE_DELAY_MS" --run-duration-ms "$SIM_RUN_DURATION_MS" \
    --aws-endpoint-url "$AWS_ENDPOINT_URL" --iam-propagation-delay-ms "$SIM_IAM_PROPAGATION_DELAY_MS"
mark_started github-sim
if ! wait_until 30 "github-sim on $SIM_ADDR" port_open "$sim_host" "$sim_port"; then
    tail -n 20 "$STATE_DIR/github-sim.log" >&2 || true
    die "github-sim did not start"
fi

# --- shipyard ------------------------------------------------------------------------------------------------
listen_host="${LISTEN_ADDR%:*}"
listen_port="${LISTEN_ADDR##*:}"
probe_host="$listen_host"
if [ "$probe_host" = 0.0.0.0 ]; then probe_host=127.0.0.1; fi
if port_open "$probe_host" "$listen_port"; then
    die "something already listens on $LISTEN_ADDR; stop it (make dev-stop) or set LISTEN_ADDR/PUBLIC_URL"
fi

log "starting shipyard on $LISTEN_ADDR (it applies migrations first; its log follows here)"
"$ROOT/target/debug/shipyard" &
shipyard_pid=$!
echo "$shipyard_pid" >"$STATE_DIR/shipyard.pid"

# shellcheck disable=SC2317 # called through wait_until
shipyard_ready() {
    kill -0 "$shipyard_pid" 2>/dev/null || return 0 # exited: stop waiting, `wait` below reports it
    http_ok "http://$probe_host:$listen_port/healthz"
}
wait_until 60 "shipyard on $LISTEN_ADDR" shipyard_ready || die "shipyard did not answer /healthz"
if kill -0 "$shipyard_pid" 2>/dev/null; then
    cat >&2 <<BANNER

  ----------------------------------------------------------------------------------------------
  Shipyard sandbox is up:  $PUBLIC_URL

  1. Open $PUBLIC_URL and click "Sign in with GitHub".
  2. On the (simulated) GitHub page pick a user:
       alice  - org admin of $GITHUB_ORG (may delete any service)
       bob    - member of $GITHUB_ORG
       (mallory is not a member and is turned away)
  3. Create a service; the page shows each step as it completes.

  Provisioning as  $(if [ "$SANDBOX_CREDENTIAL" = app ]; then echo "the GitHub App $GITHUB_APP_ID (installed on $GITHUB_ORG)"; else echo "the bot's classic token"; fi)
  GitHub emulator  $GITHUB_WEB_URL   (log: .dev/github-sim.log)
  AWS emulator     $AWS_ENDPOINT_URL   (moto; state is in memory)
  Database         $(printf '%s' "$DATABASE_URL" | sed -E 's#(://)[^/@]*@#\1#; s#\?.*##')

  Ctrl-C here, or \`make dev-stop\` elsewhere, stops the sandbox.
  ----------------------------------------------------------------------------------------------

BANNER
fi

set +e
wait "$shipyard_pid"
status=$?
set -e
rm -f "$STATE_DIR/shipyard.pid"
# Stopped on purpose (`make dev-stop` sends TERM): not an error.
if [ "$status" = 143 ] || [ "$status" = 130 ]; then status=0; fi
exit "$status"
