#!/usr/bin/env bash
# Makes sure PostgreSQL answers on $PG_HOST:$PG_PORT for user postgres without a password (trust auth), and
# creates the databases named as arguments when they are missing.
#
#   scripts/ensure-postgres.sh [DATABASE...]
#
# Order: already running -> use it; a local cluster exists -> start it; nothing installed -> apt-get install
# postgresql, allow trust auth on loopback for that fresh cluster, start it. Idempotent.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
    else
        port_open "$PG_HOST" "$PG_PORT"
    fi
}

# The newest cluster version under /etc/postgresql that has a `main` cluster, if any.
local_cluster_version() {
    local v
    # shellcheck disable=SC2012 # version directory names are plain numbers
    for v in $(ls /etc/postgresql 2>/dev/null | sort -rV); do
        if [ -f "/etc/postgresql/$v/main/postgresql.conf" ]; then
            echo "$v"
            return 0
        fi
    done
    return 1
}

# A cluster we just installed uses scram/peer auth; the sandbox and the tests connect as postgres without a
# password over TCP, so allow that on loopback only.
allow_loopback_trust() {
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    if ! grep -q '^# shipyard sandbox: trust on loopback' "$hba"; then
        log "allowing trust auth on 127.0.0.1/::1 in $hba (fresh cluster)"
        as_root sed -i '1i # shipyard sandbox: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
}

if pg_ready; then
    log "PostgreSQL is up on $PG_HOST:$PG_PORT"
else
    fresh=0
    if ! version="$(local_cluster_version)"; then
        apt_install postgresql postgresql-client
        version="$(local_cluster_version)" || die "postgresql installed but no cluster found under /etc/postgresql"
        fresh=1
    fi
    if [ "$fresh" = 1 ]; then
        allow_loopback_trust "$version"
    fi
    log "starting PostgreSQL cluster $version/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        pg_ready || die "could not start PostgreSQL $version/main (see /var/log/postgresql/)"
    mark_started postgres "$version"
    wait_until 30 "PostgreSQL on $PG_HOST:$PG_PORT" pg_ready || die "PostgreSQL did not become ready"
    if [ "$fresh" = 1 ]; then
        # pg_hba.conf was edited before the start, but reload in case the server was already up.
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    fi
fi

command -v psql >/dev/null 2>&1 || apt_install postgresql-client
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }

psql_admin -tAc 'select 1' >/dev/null ||
    die "PostgreSQL is up but user $PG_USER cannot connect without a password over TCP; allow trust auth for 127.0.0.1 in pg_hba.conf"

for db in "$@"; do
    if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$db'")" = 1 ]; then
        continue
    fi
    log "creating database $db"
    # A concurrent run may create it between the check and here; that is fine.
    psql_admin -c "create database \"$db\"" 2>/dev/null ||
        [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$db'")" = 1 ] ||
        die "could not create database $db"
done
