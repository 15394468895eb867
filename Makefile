# Groundwork: the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# `pip install --user uv` puts uv here; put it on PATH so a fresh machine finds it after setup.
USER_BIN := $(shell python3 -m site --user-base 2>/dev/null)/bin
export PATH := $(USER_BIN):$(PATH)

UV ?= uv
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-m integration -x"
PYTEST_ARGS ?=

.PHONY: help setup test lint typecheck check demo opensearch-start opensearch-stop opensearch-status

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  make %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: ## install uv if missing, then the locked environment (.venv)
	@if ! command -v $(UV) >/dev/null 2>&1; then \
		echo "uv not found: installing it with pip (python3 -m pip install --user uv)"; \
		python3 -m pip install --user --quiet uv 2>/dev/null \
			|| python3 -m pip install --user --quiet --break-system-packages uv \
			|| { echo "error: could not install uv with pip; install uv yourself" \
				"(pip install uv, or see https://docs.astral.sh/uv/) and run make setup again" >&2; \
				exit 1; }; \
	fi
	$(UV) sync --frozen

# A node started with `make opensearch-start` is used when GW_TEST_OPENSEARCH_URL is unset.
# pytest's exit 5 ("no tests ran") fails like any other non-zero status.
test: ## run the whole test suite (OpenSearch tests need GW_TEST_OPENSEARCH_URL or a started node)
	@url="$${GW_TEST_OPENSEARCH_URL:-$$(scripts/opensearch.sh url 2>/dev/null || true)}"; \
	status=0; GW_TEST_OPENSEARCH_URL="$$url" $(UV) run pytest $(PYTEST_ARGS) || status=$$?; \
	if [ "$$status" -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; \
	exit "$$status"

lint: ## ruff check + ruff format --check
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: ## mypy (strict on the packages)
	$(UV) run mypy

check: lint typecheck test ## lint, typecheck, test

demo: setup ## set up, ingest the demo corpus, start the API, ask as two users
	scripts/demo.sh

opensearch-start: ## fetch (once) and start a real OpenSearch node on 127.0.0.1
	@scripts/opensearch.sh start

opensearch-stop: ## stop the node started from this clone
	@scripts/opensearch.sh stop

opensearch-status: ## is the node running, and at which URL
	@scripts/opensearch.sh status
