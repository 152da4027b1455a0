#!/usr/bin/env bash
# `make dev-stop`: stops the sandbox `make dev` started (Shipyard, github-sim, and Postgres/moto only if that
# run started them). Safe to run when nothing is running.
set -euo pipefail
export STATE_DIR="${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.dev}"
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

stop_pid shipyard shipyard
stop_started
log "sandbox stopped"
