# shellcheck shell=bash
# Helpers shared by the sandbox and CI scripts. Source it; do not run it.
#
# Anything these scripts start in the background is recorded in "$STATE_DIR" (a pid file plus a marker in
# "$STATE_DIR/started/"), so the matching stop step ends exactly what was started and nothing else: on a shared
# machine Postgres or moto may already be running for someone else, and then they are left alone.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${STATE_DIR:-$ROOT/.dev}"

PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
MOTO_HOST="${MOTO_HOST:-127.0.0.1}"
MOTO_PORT="${MOTO_PORT:-5000}"
# shellcheck disable=SC2034 # used by the scripts that source this file
MOTO_VERSION="5.2.5"
VENV="${VENV:-$ROOT/.venv}"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# True when something accepts TCP connections on host:port (bash's /dev/tcp, so no extra tool is needed).
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# True when the URL answers with a 2xx status.
http_ok() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 3 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$1" 2>/dev/null
    fi
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails after SECONDS.
wait_until() {
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            warn "$what: not ready after ${seconds}s"
            return 1
        fi
        sleep 0.2
    done
}

# Runs a command as root (directly, or through sudo when we are not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# apt_install PACKAGE...: non-interactive install; `apt-get update` runs at most once per script run.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these by hand: $*"
    if [ -z "${_APT_UPDATED:-}" ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        export _APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# venv_pip PACKAGE==VERSION...: each pinned package in $VENV (the virtualenv is created when missing), installed
# only when that version is not already there.
venv_pip() {
    if [ ! -x "$VENV/bin/python" ] && ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    local package
    for package in "$@"; do
        if [ "$("$VENV/bin/pip" show "${package%%==*}" 2>/dev/null | sed -n 's/^Version: //p')" != "${package##*==}" ]; then
            log "installing $package into $VENV"
            "$VENV/bin/pip" install --quiet --disable-pip-version-check "$package" </dev/null
        fi
    done
}

# mark_started NAME [DETAIL]: remember that we started NAME, so stop_started ends it.
mark_started() {
    mkdir -p "$STATE_DIR/started"
    printf '%s\n' "${2:-}" >"$STATE_DIR/started/$1"
}

# start_bg NAME COMMAND...: runs COMMAND detached in its own session (so a Ctrl-C in the terminal does not hit
# it and it can be stopped as a group); output goes to $STATE_DIR/NAME.log, the pid to $STATE_DIR/NAME.pid.
start_bg() {
    local name="$1"
    shift
    mkdir -p "$STATE_DIR"
    : >"$STATE_DIR/$name.log"
    # The inner shell writes its own pid and then execs the command, so the pid file holds the real process
    # (whether or not setsid had to fork).
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE_DIR/$name.pid" "$@" \
        >>"$STATE_DIR/$name.log" 2>&1 </dev/null &
    local waited=0
    until [ -s "$STATE_DIR/$name.pid" ] || ((waited >= 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    [ -s "$STATE_DIR/$name.pid" ] || die "$name did not start (see $STATE_DIR/$name.log)"
}

# True when the pid recorded for NAME is alive and its command line contains PATTERN (guards against a
# recycled pid).
pid_alive() {
    local name="$1" pattern="$2" pid
    [ -s "$STATE_DIR/$name.pid" ] || return 1
    pid="$(cat "$STATE_DIR/$name.pid")"
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# stop_pid NAME PATTERN: TERM the process group recorded for NAME (KILL after 10 s), then forget it.
stop_pid() {
    local name="$1" pattern="$2" pid
    if pid_alive "$name" "$pattern"; then
        pid="$(cat "$STATE_DIR/$name.pid")"
        log "stopping $name (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < 50)); do
            sleep 0.2
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name did not stop on TERM; sending KILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$STATE_DIR/$name.pid"
}

# Stops everything this state dir says we started (moto, github-sim, Postgres), unless
# SHIPYARD_KEEP_SERVICES=1 asks to leave them running.
stop_started() {
    local marker name
    [ -d "$STATE_DIR/started" ] || return 0
    if [ "${SHIPYARD_KEEP_SERVICES:-0}" = 1 ]; then
        log "SHIPYARD_KEEP_SERVICES=1: leaving started services running"
        return 0
    fi
    for marker in "$STATE_DIR"/started/*; do
        [ -e "$marker" ] || continue
        name="$(basename "$marker")"
        case "$name" in
            moto) stop_pid moto moto_server ;;
            github-sim) stop_pid github-sim github-sim ;;
            postgres)
                log "stopping the PostgreSQL cluster $(cat "$marker") main (we started it)"
                as_root pg_ctlcluster --skip-systemctl-redirect "$(cat "$marker")" main stop || true
                ;;
            *) warn "unknown started marker: $name" ;;
        esac
        rm -f "$marker"
    done
}
