#!/usr/bin/env bash
# The test half of `make test` (after fmt and clippy): brings up the real peers the tests need (Postgres, moto,
# chromium + chromedriver), runs the whole workspace's tests, and stops whatever it started, pass or fail.
# Tests create their own databases (#[sqlx::test]) and start github-sim in-process, so only the server URLs are
# passed in. Extra arguments go to `cargo test` (e.g. `scripts/run-tests.sh --test it browser::`).
set -euo pipefail
export STATE_DIR="${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.dev/test}"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

trap stop_started EXIT

bash scripts/ensure-postgres.sh
bash scripts/ensure-moto.sh
bash scripts/ensure-chromium.sh

export SQLX_OFFLINE=true
export DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres"
export MOTO_URL="http://$MOTO_HOST:$MOTO_PORT"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# Belt and braces: whatever a test forgets to configure must never reach a real AWS account.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN GITHUB_TOKEN

log "cargo test --workspace $*"
cargo test --workspace "$@"
