#!/usr/bin/env bash
# Makes sure moto_server (the AWS emulator: IAM, ECR, STS) answers on http://$MOTO_HOST:$MOTO_PORT.
# Uses the virtualenv in .venv (created with moto[server]==5.2.5 when missing). If we start moto here, it is
# recorded in $STATE_DIR so the matching stop step ends it; a moto that was already running is left alone.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

url="http://$MOTO_HOST:$MOTO_PORT"

if port_open "$MOTO_HOST" "$MOTO_PORT"; then
    http_ok "$url/moto-api/" || die "something that is not moto listens on $MOTO_HOST:$MOTO_PORT"
    log "moto is up on $url"
    exit 0
fi

if [ ! -x "$VENV/bin/moto_server" ]; then
    log "creating $VENV with moto[server]==$MOTO_VERSION"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" </dev/null
fi

log "starting moto_server on $url (log: $STATE_DIR/moto.log)"
start_bg moto "$VENV/bin/moto_server" -H "$MOTO_HOST" -p "$MOTO_PORT"
mark_started moto
if ! wait_until 60 "moto on $url" http_ok "$url/moto-api/"; then
    tail -n 20 "$STATE_DIR/moto.log" >&2 || true
    die "moto did not become ready"
fi
log "moto is up on $url"
