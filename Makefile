# SaludTech de los Alpes — one entry point for humans and CI.
#   make dev    set up everything and run the product on the local stack (emulators + functions)
#   make test   set up everything and run every check: lint, types, contracts, all tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
# pytest exits 5 when a selection holds no test; that is not a failure here.
PYTEST = $(PY) -m pytest $(PYTEST_ARGS)
define run_pytest
	$(PYTEST) $(1); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests selected"; rc=0; fi; exit $$rc
endef

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: prereqs
prereqs: ## check Python 3.11+, the Google Cloud CLI with its emulators, Java 17+
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found %s). Install it: sudo apt-get install python3.11 python3.11-venv, or use pyenv; then run make with PYTHON=python3.11" % sys.version.split()[0])'
	@$(PYTHON) -m infra.local.prereqs

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# A venv made before wheels/opencv_python-*+headless holds opencv-python's own cv2 (libGL):
	@# remove it (and the headless build) first, or the swap would delete the files they share.
	@$(PY) -m pip show opencv-python 2>/dev/null | grep -q '^Version: .*+headless' || \
		$(PY) -m pip uninstall --quiet --disable-pip-version-check -y opencv-python \
		opencv-python-headless >/dev/null 2>&1 || true
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# the console scripts (saludtech-local, saludtech-deid); setuptools' notes go to a log
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . \
		> $(VENV)/editable-install.log 2>&1 || { cat $(VENV)/editable-install.log; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

.PHONY: venv
venv: prereqs $(STAMP) ## create the virtualenv with the pinned packages

.PHONY: dev
dev: venv ## start the local stack, show the demo flow, stream the logs (Ctrl-C stops all)
	$(PY) -m infra.local up --demo

.PHONY: up
up: venv ## start the local stack without the demo
	$(PY) -m infra.local up

.PHONY: lint
lint: $(STAMP) ## ruff (lint and format) and mypy (strict, tests included)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: schemas
schemas: $(STAMP) ## export the message schemas to shared/schemas/
	$(PY) -m tools.contracts export

.PHONY: contracts
contracts: $(STAMP) ## fail when a v1 message schema changed incompatibly or is stale
	$(PY) -m tools.contracts check

.PHONY: unit
unit: $(STAMP) ## fast tests: domain, handlers, entry points, adapter contracts in memory
	@$(call run_pytest,tests/unit tests/contract -m "not emulators")

.PHONY: integration
integration: venv ## contract and integration tests on the real emulators
	@$(call run_pytest,tests/contract tests/integration)

.PHONY: e2e
e2e: venv ## end to end through HTTP, Pub/Sub, the bridge, the functions and Firestore
	@$(call run_pytest,tests/e2e)

# checkov's pins clash with ours: it lives in its own virtualenv, created on first use.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_STAMP):
	@rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

.PHONY: deploy-check
deploy-check: $(CHECKOV_STAMP) ## Terraform offline: fmt -check and checkov (init/validate/plan need the registry: CI)
	@command -v terraform >/dev/null || { echo "terraform is not installed. Install Terraform 1.7+ from HashiCorp: their apt repository (sudo apt-get install terraform) or the zip of the binary from their releases page, put on PATH."; exit 3; }
	CHECKPOINT_DISABLE=1 terraform fmt -check -recursive -diff terraform
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform --skip-download --quiet --compact

.PHONY: test
test: venv lint contracts deploy-check ## everything CI runs
	@$(call run_pytest,tests)

.PHONY: bench
bench: venv ## the benchmarks: commands, ingestion, de-identification (numbers, not pass/fail)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(PY) benchmarks/commands.py
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/deid.py

.PHONY: clean
clean: ## stop a detached stack and remove local state
	-$(PY) -m infra.local down
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
