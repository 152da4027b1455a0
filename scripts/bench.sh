#!/usr/bin/env bash
# `make bench`: the provisioning benchmark (benches/provision.rs, ending with an unchanged drift pass scaled to
# 10,000 services), the GitHub budget and burst of 100 (benches/provision_budget.rs) and the inventory
# (scripts/bench-inventory.sh), each printing its figures beside its target. Brings up the real peers it needs (Postgres,
# moto; github-sim runs inside the benchmark), runs it, and stops whatever it started.
#
#   scripts/bench.sh [--services N] [--latency-ms MS] [--aws-latency-ms MS] [--concurrency C] [--rounds R]
#   BENCH_ARGS="--services 20" make bench
#
# `cargo bench` compiles an optimized build the first time (slow on a small machine); BENCH_PROFILE=dev reuses
# the debug build instead (the numbers are I/O bound, but CPU-side costs such as sealing secrets grow).
# DATABASE_URL is only the admin connection: the benchmark creates shipyard_bench_<random> and drops it.
set -euo pipefail
export STATE_DIR="${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.dev/bench}"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

trap stop_started EXIT

bash scripts/ensure-postgres.sh
bash scripts/ensure-moto.sh

export SQLX_OFFLINE=true
export DATABASE_URL="${DATABASE_URL:-postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres}"
export MOTO_URL="http://$MOTO_HOST:$MOTO_PORT"
# Belt and braces: nothing here may reach a real AWS account.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN GITHUB_TOKEN

args=("$@")
if [ "${#args[@]}" -eq 0 ] && [ -n "${BENCH_ARGS:-}" ]; then
    read -r -a args <<<"$BENCH_ARGS"
fi
profile=()
if [ -n "${BENCH_PROFILE:-}" ]; then
    profile=(--profile "$BENCH_PROFILE")
fi

log "cargo bench ${profile[*]} --bench provision -- ${args[*]}"
cargo bench ${profile[@]+"${profile[@]}"} --bench provision -- ${args[@]+"${args[@]}"}
# The GitHub call budget: a 5-minute build's calls and 100 services under the secondary limits (several minutes);
# BENCH_BUDGET=0 skips it, BENCH_BUDGET_ARGS passes its flags (see benches/provision_budget.rs).
if [ "${BENCH_BUDGET:-1}" != 0 ]; then
    read -r -a budget_args <<<"${BENCH_BUDGET_ARGS:-}"
    log "cargo bench ${profile[*]} --bench provision_budget -- ${budget_args[*]}"
    cargo bench ${profile[@]+"${profile[@]}"} --bench provision_budget -- ${budget_args[@]+"${budget_args[@]}"}
fi
[ "${BENCH_INVENTORY:-1}" = 0 ] || bash scripts/bench-inventory.sh # the inventory benchmark; BENCH_INVENTORY=0 skips it
