#!/usr/bin/env bash
# Regenerates .sqlx/ (the offline query data CI compiles with, SQLX_OFFLINE=true).
#
# The binary cannot apply its own migrations here (it needs this very data to compile), so the migrations are
# applied with psql to a scratch database that is dropped and recreated each run, then the workspace is checked
# online with SQLX_OFFLINE_DIR set: sqlx's macros write one query-<hash>.json per query into it.
# Commit the result: `git add .sqlx`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

scratch="${SQLX_SCRATCH_DB:-shipyard_sqlx}"
admin_url="postgres://$PG_USER@$PG_HOST:$PG_PORT/postgres"
scratch_url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$scratch"

bash scripts/ensure-postgres.sh

log "recreating scratch database $scratch"
PGOPTIONS="--client-min-messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$admin_url" \
    -c "drop database if exists \"$scratch\" with (force)" \
    -c "create database \"$scratch\""

# sqlx orders migrations by their numeric version prefix; reversible ones come as NAME.up.sql/NAME.down.sql.
shopt -s nullglob
migrations=()
while IFS= read -r f; do migrations+=("$f"); done < <(
    for f in migrations/*.sql; do
        case "$f" in *.down.sql) continue ;; esac
        base="$(basename "$f")"
        printf '%s\t%s\n' "${base%%_*}" "$f"
    done | sort -t$'\t' -k1,1n | cut -f2
)
for f in "${migrations[@]}"; do
    log "applying $f"
    psql -X -q -v ON_ERROR_STOP=1 "$scratch_url" -f "$f" >/dev/null
done

rm -rf .sqlx
mkdir .sqlx
# The macros only run when their crate recompiles; changed environment variables alone do not trigger that.
find src tests benches examples -name '*.rs' -exec touch {} + 2>/dev/null || true

log "cargo check --workspace --all-targets against $scratch"
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$ROOT/.sqlx" DATABASE_URL="$scratch_url" \
    cargo check --workspace --all-targets

count="$(find .sqlx -name 'query-*.json' | wc -l)"
log "wrote $count query file(s) to .sqlx/; commit them with: git add .sqlx"
