#!/usr/bin/env bash
# Makes sure Debian's chromium and chromedriver are installed (the browser test drives them headless).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    apt_install chromium chromium-driver
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM missing after install"
[ -x "$CHROMEDRIVER" ] || die "$CHROMEDRIVER missing after install"
log "$("$CHROMEDRIVER" --version 2>/dev/null | head -n1 || echo chromedriver)"
