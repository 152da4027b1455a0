# Shipyard developer entry points. `make help` lists them.
# Logic lives in scripts/ (plain bash); this file only names the steps.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CLIPPY := SQLX_OFFLINE=true cargo clippy --workspace --all-targets -- -D warnings

.PHONY: help dev dev-stop sandbox-walk test test-only contract lint fmt fmt-check clippy validate-deploy sqlx-prepare bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

dev: ## the sandbox: Postgres, moto, github-sim and Shipyard on http://localhost:8080 (Ctrl-C stops it)
	bash scripts/dev.sh

dev-stop: ## stop what `make dev` started
	bash scripts/dev-stop.sh

sandbox-walk: ## with `make dev` running: a service for team payments, a rename, another member's Retry
	bash scripts/sandbox-walk.sh

test: lint ## everything CI runs: fmt check, clippy, all tests against real Postgres, moto and chromium, then the API contract
	bash scripts/run-tests.sh
	bash scripts/api-contract.sh

test-only: ## just the tests (with their peers), no fmt/clippy; ARGS are passed to cargo test
	bash scripts/run-tests.sh $(ARGS)

contract: ## the API against its OpenAPI description: validity (3.1) and schemathesis on the sandbox (≤ ~3 min)
	bash scripts/api-contract.sh

lint: ## cargo fmt --check, clippy -D warnings, then the deployment files (offline schema check)
	cargo fmt --all --check
	$(CLIPPY)
	bash scripts/validate-deploy.sh

fmt: ## format the workspace
	cargo fmt --all

fmt-check:
	cargo fmt --all --check

clippy:
	$(CLIPPY)

validate-deploy: ## deploy/kubernetes/ against Kubernetes' schemas (strict) and deploy/aws/ IAM policy, offline
	bash scripts/validate-deploy.sh

sqlx-prepare: ## regenerate .sqlx/ (offline query data) from the migrations; commit the result
	bash scripts/sqlx-prepare.sh

bench: ## run scripts/bench.sh (when there is one)
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; \
	else echo "no benchmark yet: scripts/bench.sh does not exist"; fi
