#!/usr/bin/env bash
# `make sandbox-walk`: walks a running `make dev` sandbox the way a new user would, through the API and
# github-sim's own REST API, and stops at the first thing that is not as the README promises:
#
#   1. bob creates a service for team `payments`; it gets ready with a green first build, the service shows its
#      owner and guardrails, and GitHub says bob's permission on the repository is `maintain`;
#   2. the repository is renamed on GitHub after ready: the next build (dispatched on the default branch, which the
#      ruleset keeps from direct pushes) is still green;
#   3. a service of bob's fails; a second member (carol, once she accepts her invitation) presses Retry: 403.
#
# Needs `make dev` running (SHIPYARD and SIM below). Leaves its services behind, deleted again at the end.
set -euo pipefail
SHIPYARD="${SHIPYARD:-http://localhost:8080}"
SIM="${SIM:-http://127.0.0.1:3001}"
BOB="Authorization: Bearer ghp_sandbox_bob"
CAROL="Authorization: Bearer ghp_sandbox_carol"
BOT="Authorization: Bearer ghp_sandbox_shipyard_bot"
JSON='Content-Type: application/json'
suffix="$(date +%s)"

say() { printf '==> %s\n' "$*"; }
fail() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}
api() { curl -sS -H "$BOB" -H "$JSON" "$@"; }

# Waits until the service is no longer in progress; prints its JSON.
settle() {
    local name="$1" body status
    for _ in $(seq 1 120); do
        body="$(api "$SHIPYARD/api/v1/services/$name")"
        status="$(jq -r .status <<<"$body")"
        case "$status" in provisioning | deleting) sleep 1 ;; *)
            printf '%s' "$body"
            return
            ;;
        esac
    done
    fail "$name still in progress after 120 s"
}

# Waits for run $2 of repository $1 to complete; prints its conclusion.
run_conclusion() {
    local repo="$1" id="$2" run
    for _ in $(seq 1 60); do
        run="$(curl -sS -H "$BOT" "$SIM/repos/acme/$repo/actions/runs/$id")"
        if [ "$(jq -r .status <<<"$run")" = completed ]; then
            jq -r .conclusion <<<"$run"
            return
        fi
        sleep 1
    done
    fail "run $id of $repo did not complete in 60 s"
}

curl -fsS "$SHIPYARD/healthz" >/dev/null || fail "Shipyard is not answering at $SHIPYARD: run make dev first"

# --- 1. a service for team payments ------------------------------------------------------------------------
name="walk-$suffix"
say "bob creates $name for team payments"
code="$(api -o /dev/null -w '%{http_code}' -X POST "$SHIPYARD/api/v1/services" -d "{\"name\": \"$name\",
    \"environment\": \"dev\", \"template\": \"acme/service-template\", \"team\": \"payments\"}")"
[ "$code" = 202 ] || fail "create answered $code"
body="$(settle "$name")"
[ "$(jq -r .status <<<"$body")" = ready ] || fail "$name is not ready: $body"
[ "$(jq -r .team <<<"$body")" = payments ] || fail "owner is not payments: $(jq .team <<<"$body")"
build="$(jq -r '.outputs.first_build.conclusion' <<<"$body")"
[ "$build" = success ] || fail "first build: $build"
say "ready, owner $(jq -r .team <<<"$body"), first build $build; guardrails:"
jq -r '.steps[] | select(.name | test("team_access|ownership_files|security_baseline|branch_ruleset|ecr_settings"))
    | "    \(.name): \(.status)"' <<<"$body"
permission="$(curl -sS -H "$BOT" "$SIM/repos/acme/$name/collaborators/bob/permission" | jq -r .role_name)"
[ "$permission" = maintain ] || fail "bob's permission on acme/$name is $permission"
say "GitHub: bob's permission on acme/$name is $permission"

# --- 2. renamed after ready: the next build is still green --------------------------------------------------
renamed="$name-renamed"
say "renaming acme/$name to acme/$renamed on GitHub"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "$BOT" -H "$JSON" -X PATCH "$SIM/repos/acme/$name" \
    -d "{\"name\": \"$renamed\"}")"
[ "$code" = 200 ] || fail "rename answered $code"
workflow="$(curl -sS -H "$BOT" "$SIM/repos/acme/$renamed/actions/workflows" |
    jq -r '[.workflows[] | select(.path | startswith(".github/workflows/"))][0].path | split("/") | last')"
before="$(curl -sS -H "$BOT" "$SIM/repos/acme/$renamed/actions/runs" | jq '[.workflow_runs[].id] | max')"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "$BOT" -H "$JSON" -X POST \
    "$SIM/repos/acme/$renamed/actions/workflows/$workflow/dispatches" -d '{"ref": "main"}')"
[ "$code" = 204 ] || [ "$code" = 200 ] || fail "dispatch answered $code"
run_id=""
for _ in $(seq 1 20); do
    run_id="$(curl -sS -H "$BOT" "$SIM/repos/acme/$renamed/actions/runs" |
        jq --argjson b "$before" '[.workflow_runs[].id | select(. > $b)] | max // empty')"
    [ -n "$run_id" ] && break
    sleep 0.5
done
[ -n "$run_id" ] || fail "the dispatch started no run"
conclusion="$(run_conclusion "$renamed" "$run_id")"
[ "$conclusion" = success ] || fail "the build after the rename ended $conclusion: \
$(curl -sS "$SIM/_sim/repos/acme/$renamed/runs/$run_id/log" | tail -5)"
say "the build after the rename: $conclusion"

# --- 3. a second member's Retry of bob's failed service --------------------------------------------------------
failing="walk-fail-$suffix"
say "bob creates $failing while GitHub refuses Actions secrets (a fault in github-sim)"
curl -fsS -H "$JSON" -X POST "$SIM/_sim/faults" -d '{"method": "PUT",
    "path_pattern": "/repos/acme/'"$failing"'/actions/secrets/*", "status": 403,
    "body": {"message": "Resource not accessible by integration"}}' >/dev/null
api -o /dev/null -X POST "$SHIPYARD/api/v1/services" -d "{\"name\": \"$failing\", \"environment\": \"dev\",
    \"template\": \"acme/service-template\", \"team\": \"payments\"}"
body="$(settle "$failing")"
curl -fsS -X DELETE "$SIM/_sim/faults" >/dev/null
[ "$(jq -r .status <<<"$body")" = failed ] || fail "$failing is $(jq -r .status <<<"$body"), not failed"
say "$failing failed: $(jq -r '.error.message // .error // ([.steps[] | select(.error) | .error][0])' <<<"$body" | cut -c1-120)"
curl -fsS -H "$JSON" -X PUT "$SIM/_sim/orgs/acme/memberships/carol" -d '{"state": "active", "role": "member"}' \
    >/dev/null
code="$(curl -sS -o /tmp/walk-retry.json -w '%{http_code}' -H "$CAROL" -X POST \
    "$SHIPYARD/api/v1/services/$failing/retry")"
[ "$code" = 403 ] || fail "carol's Retry answered $code: $(cat /tmp/walk-retry.json)"
say "carol's Retry: $code ($(jq -r .detail /tmp/walk-retry.json))"
code="$(api -o /dev/null -w '%{http_code}' -X POST "$SHIPYARD/api/v1/services/$failing/retry")"
[ "$code" = 202 ] || fail "bob's own Retry answered $code"
[ "$(jq -r .status <<<"$(settle "$failing")")" = ready ] || fail "bob's Retry did not make $failing ready"
say "bob's own Retry: ready"

for s in "$name" "$failing"; do
    api -o /dev/null -X DELETE "$SHIPYARD/api/v1/services/$s"
done
say "all as the README says; both services are being deleted"
